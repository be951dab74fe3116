"""Layers: the named groups of weights of a model, whatever its format. Tied weights appear once."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import onnx
import torch
from onnx import numpy_helper

from studio.core.formats.load_onnx import tensor_array
from studio.core.formats.model import Format, Model

# ONNX dtypes that hold weights: floats, and the 8/4-bit integers of quantized models.
LAYER_OPS = {"Conv", "ConvTranspose", "Gemm", "MatMul"}  # the weight layers a user prunes, excludes, keeps float
ONNX_WEIGHT_TYPES = {
    onnx.TensorProto.FLOAT, onnx.TensorProto.DOUBLE, onnx.TensorProto.FLOAT16, onnx.TensorProto.BFLOAT16,
    onnx.TensorProto.INT8, onnx.TensorProto.UINT8, onnx.TensorProto.INT4, onnx.TensorProto.UINT4,
}  # fmt: skip


@dataclass
class Layer:
    name: str
    type: str
    weights: dict[str, np.ndarray] = field(default_factory=dict)  # full weight name → array

    @property
    def shape(self) -> tuple[int, ...]:
        """The shape of the layer's main (largest) weight."""
        return max((w.shape for w in self.weights.values()), key=lambda s: int(np.prod(s)), default=())


def layers_of(model: Model) -> list[Layer]:
    if model.onnx is not None:
        return _onnx_layers(model.onnx.graph, model.external)
    if model.state_dict is not None:
        return _group_by_prefix(model.state_dict.items(), {})
    if model.format is Format.EXPORTED_PROGRAM:  # the module's weights: pruning changes those, not the program's
        weights = model.program.state_dict if model.module is None else model.module.state_dict()
        return _group_by_prefix(weights.items(), _export_types(model.program))
    return _module_layers(model.module)


def to_numpy(t: torch.Tensor) -> np.ndarray:
    t = t.detach().cpu()
    if t.dtype in (torch.bfloat16,) or t.is_quantized:
        t = (t.dequantize() if t.is_quantized else t).float()
    return t.numpy()


def _module_layers(module: torch.nn.Module) -> list[Layer]:
    seen: set[tuple[int, tuple]] = set()
    layers = []
    for name, sub in module.named_modules():
        weights = {}
        for pname, p in sub.named_parameters(recurse=False):
            key = (p.data_ptr(), tuple(p.shape))
            if key in seen:
                continue
            seen.add(key)
            weights[f"{name}.{pname}" if name else pname] = to_numpy(p)
        if weights:
            layers.append(Layer(name or "(model)", getattr(sub, "original_name", type(sub).__name__), weights))
    return layers


def _group_by_prefix(items, types: dict[str, str]) -> list[Layer]:
    groups: dict[str, Layer] = {}
    seen: set[tuple[int, tuple]] = set()
    for key, tensor in items:
        if not torch.is_tensor(tensor) or not (tensor.is_floating_point() or tensor.is_quantized):
            continue
        ident = (tensor.data_ptr(), tuple(tensor.shape))
        if ident in seen:
            continue
        seen.add(ident)
        prefix = key.rsplit(".", 1)[0] if "." in key else "(model)"
        layer = groups.setdefault(prefix, Layer(prefix, types.get(prefix, "weights")))
        layer.weights[key] = to_numpy(tensor)
    return list(groups.values())


def _export_types(program) -> dict[str, str]:
    """Module types of a torch.export program, from the module stack recorded on its nodes."""
    types = {}
    for node in program.graph.nodes:
        for path, kind in (node.meta.get("nn_module_stack") or {}).values():
            cls = kind.__name__ if isinstance(kind, type) else str(kind).rsplit(".", 1)[-1].strip("'>")
            types[path.replace("L['self'].", "").replace("L__self___", "")] = cls
    return types


def _onnx_layers(graph: onnx.GraphProto, external: dict, prefix: str = "") -> list[Layer]:
    stored = {t.name: t for t in graph.initializer if t.data_type in ONNX_WEIGHT_TYPES}
    for sparse in graph.sparse_initializer:
        stored[sparse.values.name] = sparse
    constants = {}
    for node in graph.node:
        if node.op_type == "Constant" and node.output:
            t = _constant_tensor(node)
            if t is not None:
                constants[node.output[0]] = t
    layers, used = [], set()
    for i, node in enumerate(graph.node):
        name = prefix + (node.name or (node.output[0] if node.output else f"{node.op_type}_{i}"))
        if node.op_type != "Constant":
            weights = {}
            for inp in node.input:
                source = stored.get(inp) if inp in stored else constants.get(inp)
                if source is not None and inp not in used:
                    used.add(inp)
                    weights[inp] = _onnx_array(source, external)
            if weights:
                layers.append(Layer(name, node.op_type, weights))
        for attr in node.attribute:
            for sub in [attr.g] if attr.type == onnx.AttributeProto.GRAPH else list(attr.graphs):
                layers.extend(_onnx_layers(sub, external, f"{name}/{attr.name}/"))
    for key, source in {**stored, **constants}.items():
        if key not in used:  # stored but feeding no node of this graph (or only an outer one)
            layers.append(Layer(prefix + key, "Initializer" if key in stored else "Constant", {key: _onnx_array(source, external)}))
    return layers


def _constant_tensor(node: onnx.NodeProto):
    for attr in node.attribute:
        if attr.name == "value" and attr.t.data_type in ONNX_WEIGHT_TYPES:
            return attr.t
        if attr.name == "value_float":
            return np.array(attr.f, dtype=np.float32)
        if attr.name == "value_floats":
            return np.array(list(attr.floats), dtype=np.float32)
    return None


def _onnx_array(source, external: dict) -> np.ndarray:
    if isinstance(source, np.ndarray):
        return source
    if isinstance(source, onnx.SparseTensorProto):
        dense = np.zeros(int(np.prod(source.dims)), dtype=numpy_helper.to_array(source.values).dtype)
        idx = numpy_helper.to_array(source.indices)
        flat = idx if idx.ndim == 1 else np.ravel_multi_index(idx.T, tuple(source.dims))
        dense[flat] = numpy_helper.to_array(source.values)
        return dense.reshape(tuple(source.dims))
    return tensor_array(source, external)

