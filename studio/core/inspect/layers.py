"""Layers: the named groups of weights of a model, whatever its format. Tied weights appear once."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import numpy as np
import onnx
import torch
from onnx import numpy_helper

from studio.core.formats.load_onnx import tensor_array
from studio.core.formats.model import Format, Model

LAYER_OPS = {"Conv", "ConvTranspose", "Gemm", "MatMul"}  # the weight layers a user prunes, excludes, keeps float
STORED_BITS = {"int4": 4, "uint4": 4, "int8": 8, "uint8": 8, "int16": 16, "uint16": 16, "int32": 32}


@dataclass
class Quantized:
    """How a weight of a quantized model is stored: value = scale × (q − zero_point), with one scale
    and zero point per channel along `axis` when they are vectors (None: one for the whole tensor)."""

    scale: np.ndarray
    zero_point: np.ndarray
    axis: int | None
    bits: int
    dtype: str  # as stored: "int8", "uint8", "int4", "int32" (biases)

    def dequantize(self, q: np.ndarray) -> np.ndarray:
        scale, zero = self.scale.astype(np.float32), self.zero_point.astype(np.float32)
        if self.axis is not None:
            scale, zero = (_along(a, self.axis, q.ndim) for a in (scale, zero))
        return ((q.astype(np.float32) - zero) * scale).astype(np.float32)


def _along(a: np.ndarray, axis: int, ndim: int) -> np.ndarray:
    """Per-channel values shaped to broadcast over a tensor of `ndim` dimensions; an LSTM's [directions,
    4·hidden] scales over its [directions, input, 4·hidden] weights."""
    if a.size <= 1:
        return a.reshape(())
    if a.ndim == 1:
        return a.reshape([-1 if d == axis else 1 for d in range(ndim)])
    return np.expand_dims(a, tuple(range(a.ndim - 1, ndim - 1)))


@dataclass
class Layer:
    name: str
    type: str
    weights: dict[str, np.ndarray] = field(default_factory=dict)  # full weight name → values (dequantized)
    quantized: dict[str, Quantized] = field(default_factory=dict)  # weight name → how it is stored, if quantized

    @property
    def shape(self) -> tuple[int, ...]:
        """The shape of the layer's main (largest) weight."""
        return max((w.shape for w in self.weights.values()), key=lambda s: int(np.prod(s)), default=())

    def stored_bytes(self, name: str) -> int:
        """Bytes of a weight as the file holds it: a quantized one at its integer width."""
        q = self.quantized.get(name)
        w = self.weights[name]
        return w.nbytes if q is None else -(-w.size * q.bits // 8)


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


# ONNX: which stored tensors are weights, and which layer each belongs to (README "Counting").
# Inputs that hold a layer's weights, by op; quantized ops keep the float op's name as their type.
WEIGHT_SLOTS = {
    "Conv": {1, 2}, "ConvTranspose": {1, 2}, "Gemm": {0, 1, 2}, "MatMul": {0, 1}, "Einsum": set(range(8)),
    "LSTM": {1, 2, 3}, "GRU": {1, 2, 3}, "RNN": {1, 2, 3}, "Gather": {0}, "PRelu": {1},
    "BatchNormalization": {1, 2}, "InstanceNormalization": {1, 2}, "LayerNormalization": {1, 2},
    "GroupNormalization": {1, 2}, "SkipLayerNormalization": {2, 3, 4}, "SimplifiedLayerNormalization": {1},
    "FusedConv": {1, 2}, "FusedGemm": {0, 1, 2}, "FusedMatMul": {0, 1}, "Attention": {1, 2},
    "ConvInteger": {1}, "MatMulInteger": {0, 1}, "DynamicQuantizeLSTM": {1, 2, 3}, "QLinearConv": {3, 8},
    "QLinearMatMul": {0, 3}, "QGemm": {3, 6}, "MatMulIntegerToFloat": {1, 6}, "DynamicQuantizeMatMul": {1, 4},
    "QAttention": {1, 2},
}
FLOAT_OP = {
    "ConvInteger": "Conv", "QLinearConv": "Conv", "MatMulInteger": "MatMul", "QLinearMatMul": "MatMul",
    "MatMulIntegerToFloat": "MatMul", "DynamicQuantizeMatMul": "MatMul", "QGemm": "Gemm",
    "DynamicQuantizeLSTM": "LSTM", "QAttention": "Attention",
}
# Scale and zero-point inputs: the storage of a quantized tensor, not parameters.
QUANT_SLOTS = {
    "DequantizeLinear": {1, 2}, "QuantizeLinear": {1, 2}, "ConvInteger": {2, 3}, "MatMulInteger": {2, 3},
    "DynamicQuantizeLSTM": {8, 9, 10, 11}, "QLinearConv": {1, 2, 4, 5, 6, 7}, "QLinearMatMul": {1, 2, 4, 5, 6, 7},
    "QGemm": {1, 2, 4, 5, 7, 8}, "MatMulIntegerToFloat": {2, 3, 4, 5}, "DynamicQuantizeMatMul": {2, 3},
    "QLinearAdd": {1, 2, 4, 5, 6, 7}, "QLinearMul": {1, 2, 4, 5, 6, 7}, "QLinearSigmoid": {1, 2, 3, 4},
    "QLinearLeakyRelu": {1, 2, 3, 4}, "QLinearGlobalAveragePool": {1, 2, 3, 4}, "QLinearConcat": set(range(64)),
}
# Shapes, sizes, ranges, bounds, indices and running statistics: arguments of an op, not learned values.
OPTION_SLOTS = {
    "BatchNormalization": {3, 4},  # running mean and variance: statistics (PyTorch's buffers), not learned
    "Resize": {1, 2, 3}, "Upsample": {1}, "Range": {0, 1, 2}, "Clip": {1, 2}, "Pad": {1, 2, 3}, "Slice": {1, 2, 3, 4},
    "Expand": {1}, "Reshape": {1}, "Tile": {1}, "ConstantOfShape": {0}, "Squeeze": {1}, "Unsqueeze": {1}, "Split": {1},
    "TopK": {1}, "OneHot": {0, 1, 2}, "Where": {0}, "CumSum": {1}, "Gather": {1}, "GatherElements": {1},
    "GatherND": {1}, "ScatterND": {1}, "ScatterElements": {1}, "Trilu": {1}, "Dropout": {1, 2},
    "NonMaxSuppression": {2, 3, 4}, "ReduceSum": {1}, "ReduceMean": {1}, "ReduceMax": {1}, "ReduceMin": {1},
    "ReduceProd": {1}, "ReduceL2": {1}, "ReduceLogSumExp": {1}, "ReduceSumSquare": {1},
}
QUANT_OPS = {"DequantizeLinear", "QuantizeLinear", "DynamicQuantizeLinear"} | set(FLOAT_OP)
# Ops a weight passes through on its way to its layer: storage and layout; in a quantized model also
# the arithmetic that quantizes a float bias at run time (Div by a scale, Floor, Cast).
PLUMBING = {"DequantizeLinear", "QuantizeLinear", "Cast", "Reshape", "Transpose", "Squeeze", "Unsqueeze", "Identity", "Flatten"}
QUANT_PLUMBING = PLUMBING | {"Div", "Mul", "Floor", "Round", "Clip"}
INTEGER_TYPES = {onnx.TensorProto.INT8, onnx.TensorProto.UINT8, onnx.TensorProto.INT4, onnx.TensorProto.UINT4,
                 onnx.TensorProto.INT16, onnx.TensorProto.UINT16, onnx.TensorProto.INT32}
FLOAT_TYPES = {onnx.TensorProto.FLOAT, onnx.TensorProto.DOUBLE, onnx.TensorProto.FLOAT16, onnx.TensorProto.BFLOAT16}
LAYER_PRODUCERS = LAYER_OPS | {"FusedConv", "FusedGemm", "FusedMatMul", "Einsum"} | set(FLOAT_OP)
# (op, weight slot) → (scale slots, multiplied together; zero-point slot) of a quantized weight.
QUANT_OF = {
    ("DequantizeLinear", 0): ((1,), 2), ("ConvInteger", 1): ((), 3), ("MatMulInteger", 1): ((), 3),
    ("MatMulInteger", 0): ((), 2), ("DynamicQuantizeLSTM", 1): ((8,), 9), ("DynamicQuantizeLSTM", 2): ((10,), 11),
    ("QLinearConv", 3): ((4,), 5), ("QLinearConv", 8): ((1, 4), None), ("QLinearMatMul", 3): ((4,), 5),
    ("QLinearMatMul", 0): ((1,), 2), ("QGemm", 3): ((4,), 5), ("QGemm", 6): ((1, 4), None),
    ("MatMulIntegerToFloat", 1): ((3,), 5), ("DynamicQuantizeMatMul", 1): ((2,), 3),
}


@dataclass
class _Op:
    name: str  # with the path of the subgraph it sits in
    node: onnx.NodeProto
    inputs: list[int | None]  # value ids
    outputs: list[int] = field(default_factory=list)


class _Flow:
    """The values of a model and the ops between them, subgraphs included; a name inside a subgraph
    resolves to the innermost scope that defines it, as ONNX says."""

    def __init__(self, graph: onnx.GraphProto):
        self.stored: dict[int, tuple[str, str, object]] = {}  # value → (name, subgraph path, tensor)
        self.constants: set[int] = set()
        self.by_name: dict[str, int] = {}
        self.ops: list[_Op] = []
        self.uses: dict[int, list[tuple[int, int]]] = {}
        self.producer: dict[int, int] = {}
        self._count = 0
        self._walk(graph, "", {})
        self.quantized = any(op.node.op_type in QUANT_OPS for op in self.ops)

    def _value(self) -> int:
        self._count += 1
        return self._count

    def _store(self, name: str, prefix: str, tensor) -> int:
        v = self._value()
        self.stored[v] = (name, prefix, tensor)
        self.by_name.setdefault(name, v)
        return v

    def _walk(self, graph: onnx.GraphProto, prefix: str, outer: dict[str, int]) -> None:
        scope = dict(outer)
        for v in graph.input:
            scope[v.name] = self._value()
        for t in graph.initializer:
            scope[t.name] = self._store(t.name, prefix, t)
        for s in graph.sparse_initializer:
            scope[s.values.name] = self._store(s.values.name, prefix, s)
        for i, node in enumerate(graph.node):
            name = prefix + (node.name or (node.output[0] if node.output else f"{node.op_type}_{i}"))
            if node.op_type == "Constant" and node.output:
                tensor = _constant_tensor(node)
                if tensor is not None:
                    scope[node.output[0]] = v = self._store(node.output[0], prefix, tensor)
                    self.constants.add(v)
                    continue
            index = len(self.ops)
            op = _Op(name, node, [scope.get(x) if x else None for x in node.input])
            self.ops.append(op)
            for slot, v in enumerate(op.inputs):
                if v is not None:
                    self.uses.setdefault(v, []).append((index, slot))
            for attr in node.attribute:
                for sub in [attr.g] if attr.type == onnx.AttributeProto.GRAPH else list(attr.graphs):
                    self._walk(sub, f"{name}/{attr.name}/", scope)
            for out in node.output:
                if out:
                    scope[out] = v = self._value()
                    self.producer[v] = index
                    op.outputs.append(v)

    def owner(self, v: int, depth: int = 8) -> tuple[int, tuple[int, int] | None] | None:
        """The op whose weight `v` is, reached through plumbing, and the (op, slot) that dequantizes it."""
        plumbing = QUANT_PLUMBING if self.quantized else PLUMBING
        for i, slot in self.uses.get(v, ()):
            op_type = self.ops[i].node.op_type
            storage = (i, slot) if (op_type, slot) in QUANT_OF else None
            if slot in WEIGHT_SLOTS.get(op_type, ()):
                return i, storage
            if op_type in ("Add", "Sum"):
                layer = self._layer_before(i, slot)
                if layer is not None:  # a bias: a quantized layer takes it in, a float one keeps its Add
                    return (layer if self.ops[layer].node.op_type in FLOAT_OP else i), None
            if op_type in plumbing and slot == 0 and depth and self.ops[i].outputs:
                found = self.owner(self.ops[i].outputs[0], depth - 1)
                if found is not None:
                    return found[0], storage or found[1]
        return None

    def _layer_before(self, add: int, slot: int) -> int | None:
        plumbing = QUANT_PLUMBING if self.quantized else set()
        for other, v in enumerate(self.ops[add].inputs):
            for _ in range(4):
                if other == slot or v not in self.producer:
                    break
                op = self.ops[self.producer[v]]
                if op.node.op_type in LAYER_PRODUCERS:
                    return self.producer[v]
                if op.node.op_type not in plumbing or not op.inputs:
                    break
                v = op.inputs[0]
        return None

    def only_arguments(self, v: int) -> bool:
        """Used, and only as a scale, zero point, shape, bound or index."""
        uses = self.uses.get(v, [])
        return bool(uses) and all(
            slot in QUANT_SLOTS.get(t, ()) or slot in OPTION_SLOTS.get(t, ())
            for t, slot in ((self.ops[i].node.op_type, s) for i, s in uses)
        )

    def array(self, v: int | None, external: dict) -> np.ndarray | None:
        return None if v is None or v not in self.stored else _onnx_array(self.stored[v][2], external)


def layer_name(node: onnx.NodeProto, name: str) -> tuple[str, str]:
    """A layer's name and type as before quantization: ONNX Runtime renames `conv1` to `conv1_quant`
    (a Gemm's MatMul to `fc_MatMul_quant`) when it swaps in an integer op."""
    if node.op_type in FLOAT_OP:
        name = re.sub(r"(_MatMul)?_quant$", "", name)
    return name, FLOAT_OP.get(node.op_type, node.op_type)


def _onnx_layers(graph: onnx.GraphProto, external: dict) -> list[Layer]:
    """Weights by the layer that uses them (README, Counting): a stored tensor is a weight if it reaches
    a layer's weight input, or else is a float tensor of more than one element with no infinite value
    that is not only a shape, bound, index, scale or zero point."""
    flow = _Flow(graph)
    layers: dict[int | str, Layer] = {}
    for v, (name, prefix, tensor) in flow.stored.items():
        dtype = _tensor_type(tensor)
        if (dtype not in FLOAT_TYPES and dtype not in INTEGER_TYPES) or flow.only_arguments(v):
            continue
        found = flow.owner(v)
        array = _onnx_array(tensor, external)
        if found is None:
            if dtype not in FLOAT_TYPES or array.size <= 1 or np.isinf(array).any():
                continue
            uses = flow.uses.get(v)
            key, storage = (uses[0][0] if uses else prefix + name), None
        else:
            key, storage = found
        if key not in layers:
            if isinstance(key, str):  # feeding nothing
                layers[key] = Layer(key, "Constant" if v in flow.constants else "Initializer")
            else:
                layers[key] = Layer(*layer_name(flow.ops[key].node, flow.ops[key].name))
        quant = _quantization(flow, storage, array, external) if storage and dtype in INTEGER_TYPES else None
        if quant is not None:
            layers[key].quantized[name] = quant
            array = quant.dequantize(array)
        layers[key].weights[name] = array
    ops = sorted(k for k in layers if isinstance(k, int))
    return [layers[k] for k in ops] + [layer for k, layer in layers.items() if isinstance(k, str)]


def _quantization(flow: _Flow, storage: tuple[int, int], q: np.ndarray, external: dict) -> Quantized | None:
    i, slot = storage
    op = flow.ops[i]
    scale_slots, zero_slot = QUANT_OF[(op.node.op_type, slot)]
    if scale_slots:
        scales = [flow.array(op.inputs[s] if s < len(op.inputs) else None, external) for s in scale_slots]
    else:  # ConvInteger, MatMulInteger: the scale multiplies the output; ONNX Runtime names it after the weight
        name = flow.stored[op.inputs[slot]][0] if op.inputs[slot] in flow.stored else ""
        scales = [flow.array(flow.by_name.get(name.removesuffix("_quantized") + "_scale"), external)]
    if any(s is None for s in scales) or _attribute(op.node, "block_size", 0):
        return None
    scale = np.asarray(scales[0], np.float32)
    for s in scales[1:]:
        scale = scale * np.asarray(s, np.float32)
    zero = flow.array(op.inputs[zero_slot], external) if zero_slot is not None and zero_slot < len(op.inputs) else None
    zero = np.zeros((), q.dtype) if zero is None else np.asarray(zero)
    axis = _channel_axis(op.node, slot, q.ndim) if max(scale.size, zero.size) > 1 else None
    source = flow.stored.get(op.inputs[slot])
    stored = onnx.TensorProto.DataType.Name(_tensor_type(source[2])).lower() if source else q.dtype.name
    return Quantized(scale, zero, axis, STORED_BITS.get(stored, 8 * q.dtype.itemsize), stored)


def _channel_axis(node: onnx.NodeProto, slot: int, ndim: int) -> int:
    if node.op_type == "DequantizeLinear":
        axis = _attribute(node, "axis", 1)
        return axis + ndim if axis < 0 else axis
    if node.op_type == "QGemm" and slot == 3:
        return 0 if _attribute(node, "transB", 0) else ndim - 1
    if node.op_type in ("ConvInteger", "QLinearConv", "DynamicQuantizeLSTM"):
        return 0
    return ndim - 1  # a matrix multiplication's weight [K, N]: one scale per output column


def _attribute(node: onnx.NodeProto, name: str, default):
    for attr in node.attribute:
        if attr.name == name:
            return onnx.helper.get_attribute_value(attr)
    return default


def _tensor_type(tensor) -> int:
    if isinstance(tensor, onnx.SparseTensorProto):
        return tensor.values.data_type
    if isinstance(tensor, np.ndarray):
        return onnx.helper.np_dtype_to_tensor_dtype(tensor.dtype)
    return tensor.data_type


def _constant_tensor(node: onnx.NodeProto):
    for attr in node.attribute:
        if attr.name == "value":
            return attr.t
        if attr.name == "sparse_value":
            return attr.sparse_tensor
        if attr.name in ("value_float", "value_floats"):
            return np.array(attr.f if attr.name == "value_float" else list(attr.floats), dtype=np.float32)
        if attr.name in ("value_int", "value_ints"):
            return np.array(attr.i if attr.name == "value_int" else list(attr.ints), dtype=np.int64)
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

