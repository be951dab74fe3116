"""Why is it not faster? Plain sentences computed from a profile's measurements, each with what to do
instead: dynamic int8 convolutions and the conversions they add, Q/DQ pairs ONNX Runtime did not fuse,
layers left float in a quantized model, sparse weights run dense, operators on a fallback provider.
A cause is told only when the profile shows it taking time (SAY_FROM of it at least)."""

from __future__ import annotations

from collections import Counter

import numpy as np
import onnx

from studio.core.formats.load_onnx import all_graphs
from studio.core.formats.model import Model
from studio.core.inspect.graph_onnx import FOLDED_AFTER
from studio.core.inspect.layers import LAYER_OPS, layer_name, layers_of
from studio.core.inspect.precision import INTEGER_OPS, NBITS_OPS, QUANTIZING_OPS, quantized_ops

SAY_FROM = 0.05  # a cause is told when it takes at least this share of the nodes' time
SPARSE = 0.5  # a layer whose main weight is at least this share zeros is sparse
COPIES = {"MemcpyToHost", "MemcpyFromHost"}
RECURRENT = {"LSTM", "GRU", "RNN"}


def explain(profile, model: Model | None = None) -> list[str]:
    """The sentences for a profile (profile.Profile) of `model` (the ONNX model it ran, by default)."""
    model = model if model is not None and model.onnx is not None else profile.model
    total = sum(n.ms for n in profile.nodes)
    if total <= 0:
        return []
    nodes = [] if model is None else [n for g in all_graphs(model.onnx.graph) for n in g.node]
    said = [_dynamic_convolutions(profile, nodes, total), _unfused_qdq(profile, nodes, total),
            _float_layers(profile, model, nodes, total), _dense_sparsity(profile, model, nodes, total), _fallback(profile, total)]
    return [s for s in said if s]


def _dynamic_convolutions(profile, graph: list[onnx.NodeProto], total: float) -> str:
    conv = [n for n in profile.nodes if n.op == "ConvInteger"]
    if not conv:
        return ""
    made = {o: n for n in graph for o in n.output}
    integer = {n.name for n in graph if n.op_type == "ConvInteger"}
    # what dynamic quantization adds around each ConvInteger: the DynamicQuantizeLinear of its input, and
    # the Cast, Mul (by the scales) and Add (bias) back to float after it, as the graph view folds them
    added = {made[n.input[0]].name for n in graph if n.op_type == "ConvInteger" and n.input and n.input[0] in made
             and made[n.input[0]].op_type == "DynamicQuantizeLinear"}
    after = set(integer)
    for n in graph:  # nodes are in topological order
        if n.op_type in FOLDED_AFTER and any(made[i].name in after for i in n.input if i in made):
            after.add(n.name)
    added |= after - integer
    extra = [n for n in profile.nodes if n.op != "ConvInteger" and set(n.fused) & added]
    conv_ms, extra_ms = _ms(conv), _ms(extra)
    if (conv_ms + extra_ms) / total < SAY_FROM:
        return ""
    return (f"Dynamic int8 convolutions take {_pct(conv_ms + extra_ms, total)} of the time: {_n(len(conv), 'ConvInteger node')} "
            f"{_t(conv_ms)}, and {_n(len(extra), 'separate node')} {_t(extra_ms)} more, quantizing their inputs at run time "
            "(DynamicQuantizeLinear) and turning their int32 outputs back into float (Cast, Mul, Add). "
            "ONNX Runtime runs these as separate nodes, with no fused int8 convolution. Quantize the convolutions statically instead "
            "(quantize: {mode: static}, calibrated on the data: they become QLinearConv), or leave them float "
            "(quantize: {exclude: [Conv]}) and let dynamic int8 quantize only the MatMul/Gemm layers.")


def _unfused_qdq(profile, graph: list[onnx.NodeProto], total: float) -> str:
    qdq = [n for n in profile.nodes if n.op in ("QuantizeLinear", "DequantizeLinear")]
    ms = _ms(qdq)
    if not qdq or ms / total < SAY_FROM:
        return ""
    names = {f for n in qdq for f in n.fused}
    made = {o: n for n in graph for o in n.output}
    quantized = {n.input[0] for n in graph if n.name in names and n.op_type == "QuantizeLinear" and n.input}
    around: Counter = Counter()
    for n in graph:  # the float operators between the conversions: fed by a DequantizeLinear, or feeding a QuantizeLinear
        if n.op_type in QUANTIZING_OPS:
            continue
        fed = any(made[i].name in names and made[i].op_type == "DequantizeLinear" for i in n.input if i in made)
        if fed or set(n.output) & quantized:
            around[n.op_type] += 1
    ops = ", ".join(op for op, _ in around.most_common(5)) or "operators ONNX Runtime has no int8 kernel for"
    return (f"{len(qdq)} QuantizeLinear/DequantizeLinear nodes were not fused into int8 kernels and take {_pct(ms, total)} "
            f"of the time ({_t(ms)}): they convert between int8 and float around what runs in float here ({ops}). Where "
            "these conversions cost more than the int8 layers save, use dynamic int8 (it converts only at MatMul/Gemm "
            "layers) or keep the layers next to them float (quantize: {exclude: [...]}).")


def _float_layers(profile, model: Model | None, graph: list[onnx.NodeProto], total: float) -> str:
    if model is None or not any(n.op_type in INTEGER_OPS | NBITS_OPS | QUANTIZING_OPS for n in graph):
        return ""
    float_ops = {op.node: op.op_type for op in quantized_ops(model.onnx) if op.precision == "float"}
    kept = [n for n in profile.nodes if not n.added and n.name in float_ops]
    ms = _ms(kept)
    if not kept or ms / total < SAY_FROM:
        return ""
    names = list(dict.fromkeys(n.name for n in kept))
    shown = ", ".join(names[:3]) + (f" and {len(names) - 3} more" if len(names) > 3 else "")
    recurrent = sorted({float_ops[n] for n in names} & RECURRENT)
    hint = (f" ONNX Runtime's static int8 leaves {', '.join(recurrent)} float; dynamic int8 quantizes LSTM."
            if recurrent else "")
    one = len(names) == 1
    return (f"{_n(len(names), 'layer')} stayed float in this quantized model and take{'s' if one else ''} "
            f"{_pct(ms, total)} of the time ({_t(ms)}): {shown}. Quantize {'it' if one else 'them'} too where accuracy allows "
            f"(the version's notes say why {'it was' if one else 'they were'} kept float).{hint}")


def _dense_sparsity(profile, model: Model | None, graph: list[onnx.NodeProto], total: float) -> str:
    if model is None:
        return ""
    zeros = size = 0
    sparse: dict[str, float] = {}
    for layer in layers_of(model):
        if layer.type not in LAYER_OPS or not layer.weights:
            continue
        main = max(layer.weights.values(), key=lambda w: w.size)  # the kernel, not the bias
        z = main.size - int(np.count_nonzero(main))
        zeros, size = zeros + z, size + main.size
        if main.size and z / main.size >= SPARSE:
            sparse[layer.name] = z / main.size
    if not size or zeros / size < SPARSE:
        return ""
    as_layer = {n.name: layer_name(n, n.name)[0] for n in graph}  # a quantized layer "conv1_quant" is "conv1"
    hit = [n for n in profile.nodes if not n.added and _in_graph(n, as_layer.get(n.name, n.name)) in sparse]
    ms = _ms(hit)
    if not hit or ms / total < SAY_FROM:
        return ""
    layers = "layer still takes" if len(hit) == 1 else f"{len(hit)} layers still take"
    return (f"The weights of the Conv/Gemm/MatMul layers are {zeros / size:.0%} zeros, yet the sparse {layers} "
            f"{_pct(ms, total)} of the time ({_t(ms)}): ONNX Runtime runs "
            "unstructured sparsity dense, multiplying every zero, so it makes the zipped file smaller but not the model faster. "
            "For speed, remove whole channels (prune: {method: channels}, on a PyTorch version), quantize, or distill into a "
            "smaller student.")


def _fallback(profile, total: float) -> str:
    off = [n for n in profile.nodes if n.provider != profile.provider and n.op not in COPIES]
    copies = [n for n in profile.nodes if n.op in COPIES]
    if not off and not copies:
        return ""
    copied = f"copying tensors between devices (Memcpy) takes {_pct(_ms(copies), total)} of the time ({_t(_ms(copies))})"
    if not off:
        return (f"Every node ran on {profile.provider}, but {copied}: the inputs and outputs cross between the host and "
                "the device; for a model this small, time it on the CPU as well.")
    ops = ", ".join(op for op, _ in Counter(n.op for n in off).most_common(5))
    where = ", ".join(sorted({n.provider for n in off}))
    return (f"{_n(len(off), 'node')} ({ops}) ran on {where} instead of {profile.provider}: "
            f"{_pct(_ms(off), total)} of the time ({_t(_ms(off))}){', and ' + copied if copies else ''}. {profile.provider} "
            "has no kernel for these operators here: replace them in the model (another export or opset), or run it on the "
            "CPU when the copies cost more than the device saves.")


def _in_graph(node, name: str) -> str:
    """A layer's name as layers_of gives it: with the path of the subgraph it sits in."""
    return f"{node.graph}/{name}" if node.graph else name


def _n(count: int, noun: str) -> str:
    return f"{count} {noun}{'' if count == 1 else 's'}"


def _ms(nodes) -> float:
    return sum(n.ms for n in nodes)


def _pct(ms: float, total: float) -> str:
    return f"{ms / total:.0%}"


def _t(ms: float) -> str:
    return f"{ms:.3g} ms"
