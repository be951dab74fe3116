"""Which weights pruning may touch (weight matrices and kernels, never biases or norms), and how many of them are zero."""

from __future__ import annotations

import fnmatch

import onnx
import torch

from studio.core.formats.load_onnx import all_graphs, tensor_array
from studio.core.formats.model import Model
from studio.core.inspect.layers import LAYER_OPS
from studio.core.inspect.stats import zero_count


def excluded(layer: str, layer_type: str, patterns: list[str]) -> bool:
    """A pattern matches a layer's name (globs allowed, a prefix matches its sublayers) or its type."""
    return any(fnmatch.fnmatch(layer, p) or layer.startswith(p + ".") or p == layer_type for p in patterns)


def prunable_torch(module: torch.nn.Module, exclude: list[str] = ()) -> dict[str, torch.nn.Parameter]:
    """Weight name → parameter, for every weight of dimension ≥ 2 not excluded."""
    types = {name: getattr(m, "original_name", type(m).__name__) for name, m in module.named_modules()}
    out = {}
    for name, p in module.named_parameters():
        layer = name.rsplit(".", 1)[0] if "." in name else ""
        if p.dim() >= 2 and not excluded(layer, types.get(layer, ""), list(exclude)):
            out[name] = p
    return out


RECURRENT_MATRICES = 3  # LSTM/GRU/RNN inputs: X, W, R, then B (biases, 2-D here: never pruned, as in PyTorch)
PRUNABLE_OPS = LAYER_OPS | {"LSTM", "GRU", "RNN"}  # recurrent layers: their input and recurrence matrices


def prunable_onnx(proto: onnx.ModelProto, exclude: list[str] = ()) -> dict[str, str]:
    """Initializer name → layer (node) name, for float weights of dimension ≥ 2 fed to a weight op, in
    the graph and its subgraphs (If branches, Loop bodies)."""
    graphs = list(all_graphs(proto.graph))
    inits = {t.name for g in graphs for t in g.initializer if t.data_type == onnx.TensorProto.FLOAT and len(t.dims) >= 2}
    out = {}
    for g in graphs:
        for i, node in enumerate(g.node):
            name = node.name or (node.output[0] if node.output else f"{node.op_type}_{i}")
            if node.op_type in PRUNABLE_OPS and not excluded(name, node.op_type, list(exclude)):
                weights = node.input[:RECURRENT_MATRICES] if node.op_type in ("LSTM", "GRU", "RNN") else node.input
                out.update({inp: name for inp in weights if inp in inits and inp not in out})
    return out


def weight_sparsity(model: Model, exclude: list[str] = ()) -> float:
    """Share of zeros among the prunable weights."""
    if model.onnx is not None:
        inits = {t.name: t for g in all_graphs(model.onnx.graph) for t in g.initializer}
        arrays = [tensor_array(inits[n], model.external) for n in prunable_onnx(model.onnx, exclude)]
    else:
        arrays = [p.detach().cpu().numpy() for p in prunable_torch(model.module, exclude).values()]
    total = sum(a.size for a in arrays)
    return zero_count(arrays) / total if total else 0.0
