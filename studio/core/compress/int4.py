"""4-bit weights after quantization-aware training (qat.py, bits: 4), written by ONNX Runtime's own static
QDQ quantizer: each trained layer's weight becomes an INT4 initializer read by DequantizeLinear (standard
ONNX from opset 21, which ONNX Runtime's CPU provider runs), with the very per-channel scales it was
trained on given to `quantize_static` as TensorQuantOverrides — so rounding the trained weights to int4
loses nothing more. Activations are uint8 per tensor, calibrated as static int8 calibrates them. A weight
that is not on a 4-bit grid (a layer QAT did not train) stays int8, per channel, and the notes say so.

ORT's own int4 scale (max |w| / 7.5 over −8…7) would not keep the trained grid (max |w| / 7 over −7…7):
the largest weight of a channel would land on 7.5 and be clipped, hence the explicit scales."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import onnx
import onnx.version_converter
from onnx import numpy_helper

from studio.core.compress.quantize_ort import Settings, prepared, quantize_prepared
from studio.core.errors import StudioError, first_line
from studio.core.evaluate.data import DataSet
from studio.core.formats.model import Model
from studio.core.process.jobs import NO_CANCEL, CancelToken, Job, Progress

OPSET = 21  # INT4 in the standard DequantizeLinear: opset 21 (earlier, only Microsoft's contrib ops have it)
IR_VERSION = 10  # the first ONNX IR that has INT4 tensors
TOP = 7  # symmetric int4 steps −7…7, as WeightFakeQuant(4) rounds
OFF_GRID = 1e-3  # a weight further than this (in steps) from a whole step is not on a 4-bit grid
# the per-output-channel axis of each layer's weight, as ORT's QDQ quantizer takes it
AXES = {"Conv": lambda node: 0, "Gemm": lambda node: 0 if _attr(node, "transB", 0) else 1, "MatMul": lambda node: -1}


def int4_opset(proto: onnx.ModelProto, source: str = "") -> onnx.ModelProto:
    """`proto` at opset 21 (converted by ONNX's version converter when older), IR version 10 at least; a
    one-line StudioError when it cannot get there."""
    current = next((o.version for o in proto.opset_import if o.domain in ("", "ai.onnx")), OPSET)
    if current < OPSET:
        try:
            proto = onnx.version_converter.convert_version(proto, OPSET)
        except Exception as e:  # the converter lacks adapters for some ops
            raise StudioError(f"quantize.bits: 4-bit weights need ONNX opset {OPSET} (INT4 DequantizeLinear), and ONNX's "
                              f"converter cannot bring this model from opset {current} to {OPSET}: {first_line(e, 100)}",
                              source) from None
    else:
        proto = _copy(proto)
    proto.ir_version = max(proto.ir_version, IR_VERSION)
    return proto


def weight_overrides(proto: onnx.ModelProto) -> tuple[dict, dict[str, str]]:
    """(TensorQuantOverrides storing each layer weight that is on a symmetric 4-bit grid per output channel
    as INT4 with that grid's scales, {layer: why it stays int8} for the others)."""
    from onnxruntime.quantization import QuantType

    inits = {t.name: t for t in proto.graph.initializer}
    overrides, int8 = {}, {}
    for node in proto.graph.node:
        if node.op_type not in AXES or len(node.input) < 2 or node.input[1] not in inits:
            continue
        name = node.input[1]
        layer = name.rsplit(".", 1)[0] if name.endswith(".weight") else node.name
        w = numpy_helper.to_array(inits[name])
        if w.dtype != np.float32 or w.ndim < 2:
            int8[layer] = f"its weight is {w.dtype}, {w.ndim}-D" if w.ndim < 2 else f"its weight is {w.dtype}"
            continue
        axis = AXES[node.op_type](node) % w.ndim
        scales = _grid_scales(w, axis)
        if scales is None:
            int8[layer] = "its weights are not on a 4-bit grid (quantization-aware training did not train it)"
            continue
        overrides[name] = [{"axis": axis, "quant_type": QuantType.QInt4, "scale": float(s), "zero_point": 0} for s in scales]
    return overrides, int8


def quantize_int4(model: Model, data: DataSet, *, samples: int = 256, calibration: str = "minmax",
                  activations: dict | None = None, weightless: bool = True, cancel: CancelToken = NO_CANCEL) -> Job[Model]:
    """A QDQ ONNX version of `model` (its layers' weights trained on the 4-bit grid) with INT4 weights,
    uint8 activations, at opset 21, written by ONNX Runtime's quantize_static. activations: the grids
    some activations trained with (TensorQuantOverrides, qat_graph); the others are calibrated by `calibration`.
    weightless: False rounds only the activations of layers with weights."""
    allowed = model.capabilities()["quantize"]
    if not allowed.allowed:
        raise StudioError(allowed.reason, model.source)
    yield Progress(0, 2, "exporting to ONNX")
    with prepared(model, "static", data.example_for(model.inputs)) as prep:
        cancel.check()
        proto = int4_opset(prep.proto, model.source)
        path = prep.folder / "float-opset21.onnx"
        onnx.save(proto, path)
        prep = replace(prep, proto=proto, path=path, raw=None)
        overrides, int8 = weight_overrides(proto)
        if not overrides:
            raise StudioError("quantize.bits: no layer's weights are on a 4-bit grid: nothing to store in 4 bits", model.source)
        # biases of int4 layers stay float: ORT computes those layers in float anyway, and an int32 bias
        # costs its own per-channel scales besides (more bytes once zipped); int8 layers need int32 ones
        options = {"TensorQuantOverrides": {**(activations or {}), **overrides}, "QuantizeBias": bool(int8)}
        settings = Settings("static", calibration, samples, per_channel=True, weightless=weightless, extra_options=options)
        yield Progress(1, 2, "quantizing: int4 weights, uint8 activations (QDQ, opset 21)")
        result = quantize_prepared(prep, settings, [], data, cancel)
    notes = list(prep.model.notes) + prep.notes + precision_notes(result, int8, trained_grids=bool(activations))
    quantized = replace(prep.model, onnx=result, size_bytes=result.ByteSize(), notes=notes)
    yield Progress(2, 2, "quantized: int4 weights", {"size_bytes": quantized.size_bytes})
    return quantized


def precision_notes(proto: onnx.ModelProto, int8: dict[str, str], trained_grids: bool = False) -> list[str]:
    """What the file stores in int4, int8 and float, and what ONNX Runtime's CPU provider computes in."""
    inits = {t.name: t for t in proto.graph.initializer}
    read = {n.output[0]: n.input[0] for n in proto.graph.node if n.op_type == "DequantizeLinear" and n.input[0] in inits}
    stored = {out: inits[name].data_type for out, name in read.items()}  # dequantized output → type of the stored weight
    layers = {"int4": [], "int8": [], "float": []}
    biases = set()
    for n in proto.graph.node:
        if n.op_type in AXES and len(n.input) > 2 and (n.input[2] in inits or n.input[2] in read):
            biases.add("float" if n.input[2] in inits else "int32")
        if n.op_type in AXES and len(n.input) > 1:
            weight = n.input[1]
            kind = {onnx.TensorProto.INT4: "int4", onnx.TensorProto.INT8: "int8"}.get(stored.get(weight))
            if kind is None and weight in inits:
                kind = "float"
            if kind:
                layers[kind].append(_layer(n, read.get(weight, weight)))
    notes = ["int4 weights (INT4 DequantizeLinear, opset 21, symmetric per output channel, the trained scales): "
             + (", ".join(layers["int4"]) or "none")
             + "; ONNX Runtime's CPU provider has no int4 Conv/Gemm kernel: it dequantizes these weights and multiplies "
               "in float, so the file is smaller, not faster"]
    if layers["int8"]:
        why = sorted(set(int8.values()))
        notes.append("int8 weights (run in int8): " + ", ".join(layers["int8"]) + (f" — {'; '.join(why)}" if why else ""))
    notes.append("activations uint8 per tensor (QuantizeLinear/DequantizeLinear, "
                 + ("the grids quantization-aware training rounded to" if trained_grids else "MinMax ranges") + ")"
                 + (f"; biases {' and '.join(sorted(biases))}" if biases else ""))
    if layers["float"]:
        notes.append("float weights: " + ", ".join(layers["float"]))
    return notes


def _grid_scales(w: np.ndarray, axis: int) -> np.ndarray | None:
    """Per-channel scales (max |w| / 7) when every weight is a whole number of them; None otherwise."""
    moved = np.moveaxis(w, axis, 0).reshape(w.shape[axis], -1)
    scales = (np.abs(moved).max(axis=1) / np.float32(TOP)).astype(np.float32)
    scales[scales == 0] = 1.0  # a channel pruned whole: any scale stores its zeros
    steps = moved / scales[:, None]
    return scales if float(np.abs(steps - np.round(steps)).max(initial=0.0)) <= OFF_GRID else None


def _layer(node: onnx.NodeProto, weight: str) -> str:
    """`fc1` for the weight fc1.weight (stored as fc1.weight_quantized), else the node's name."""
    base = weight.removesuffix("_quantized")
    return base.rsplit(".", 1)[0] if base.endswith(".weight") else node.name


def _attr(node: onnx.NodeProto, name: str, default: int) -> int:
    return next((a.i for a in node.attribute if a.name == name), default)


def _copy(proto: onnx.ModelProto) -> onnx.ModelProto:
    copied = onnx.ModelProto()
    copied.CopyFrom(proto)
    return copied
