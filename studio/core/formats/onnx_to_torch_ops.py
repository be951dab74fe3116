"""Operators onnx2torch 1.5 lacks or gets wrong on real models, added through its converter registry:
GlobalMaxPool (the file-type classifier), Clip whose bounds are computed (a spectrogram clamped to its
maximum minus 80 dB) or left empty (a transformer's norm, clamped from below only), LSTM (speaker
and wake-word models), and BatchNormalization on an input whose rank shape inference left unknown (a
text recognizer converted from Paddle), and Softmax before opset 13, whose output onnx2torch shapes by
sizes that tracing for export fixes (the batch written into the exported graph); and MatMul by a constant
matrix, which onnx2torch leaves untrainable (a Linear layer here). register() adds them
once onnx2torch is imported (formats/onnx_to_torch does it, where torchvision may need a stand-in):
importing onnx2torch here would need torchvision first."""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch

if TYPE_CHECKING:
    from onnx2torch.utils.common import OperationConverterResult


class GlobalMaxPool(torch.nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.amax(x, dim=tuple(range(2, x.dim())), keepdim=True)


class Clip(torch.nn.Module):
    """torch.clamp with bounds that are numbers, tensors computed in the graph, or absent."""

    def __init__(self, low: float | None = None, high: float | None = None):
        super().__init__()
        self.low, self.high = low, high

    def forward(self, x: torch.Tensor, low: torch.Tensor | None = None, high: torch.Tensor | None = None) -> torch.Tensor:
        low = self.low if low is None else low
        high = self.high if high is None else high
        if low is not None:  # torch.clamp takes two numbers or two tensors, not one of each
            x = torch.maximum(x, low) if isinstance(low, torch.Tensor) else x.clamp(min=low)
        if high is not None:
            x = torch.minimum(x, high) if isinstance(high, torch.Tensor) else x.clamp(max=high)
        return x


def _global_max_pool(node, graph) -> OperationConverterResult:
    from onnx2torch.utils.common import OperationConverterResult, onnx_mapping_from_node

    return OperationConverterResult(torch_module=GlobalMaxPool(), onnx_mapping=onnx_mapping_from_node(node))


def _clip(node, graph) -> OperationConverterResult:
    """Constant bounds become numbers of the module; computed ones stay inputs of the graph."""
    from onnx2torch.utils.common import OnnxMapping, OperationConverterResult, get_const_value

    names = list(node.input_values[1:3]) + [""] * (3 - len(node.input_values))
    constants, inputs = [], [node.input_values[0]]
    for name in names:
        try:
            constants.append(float(get_const_value(name, graph)) if name else None)
            inputs.append("")
        except KeyError:  # computed in the graph
            constants.append(None)
            inputs.append(name)
    while inputs[-1] == "":
        inputs.pop()
    return OperationConverterResult(torch_module=Clip(*constants), onnx_mapping=OnnxMapping(inputs=tuple(inputs), outputs=node.output_values))


class LSTM(torch.nn.Module):
    """ONNX's LSTM (gates i, o, f, c; default activations; forward, reverse or bidirectional) with its
    W, R and B as parameters in ONNX's own layout, so that trained weights go back into the graph as
    they are. The recurrence runs step by step: slower than torch.nn.LSTM, which orders gates
    differently, but exact."""

    def __init__(self, w: torch.Tensor, r: torch.Tensor, b: torch.Tensor | None, hidden: int, direction: str):
        super().__init__()
        self.W, self.R = torch.nn.Parameter(w.clone()), torch.nn.Parameter(r.clone())
        self.B = None if b is None else torch.nn.Parameter(b.clone())
        self.hidden, self.direction = hidden, direction

    def forward(self, x: torch.Tensor, sequence_lens=None, initial_h=None, initial_c=None):
        steps, batch, n = x.shape[0], x.shape[1], self.hidden
        ys, hs, cs = [], [], []
        for d in range(self.W.shape[0]):
            bias = 0 if self.B is None else self.B[d, : 4 * n] + self.B[d, 4 * n:]
            xs = x @ self.W[d].T + bias  # every step's input projection at once
            h = x.new_zeros(batch, n) if initial_h is None else initial_h[d]
            c = x.new_zeros(batch, n) if initial_c is None else initial_c[d]
            out = [None] * steps
            backward = self.direction == "reverse" or d == 1
            for t in range(steps - 1, -1, -1) if backward else range(steps):
                i, o, f, g = (xs[t] + h @ self.R[d].T).chunk(4, dim=-1)
                c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
                h = torch.sigmoid(o) * torch.tanh(c)
                out[t] = h
            ys.append(torch.stack(out))
            hs.append(h)
            cs.append(c)
        return torch.stack(ys, 1), torch.stack(hs), torch.stack(cs)  # Y [steps, dirs, batch, n], Y_h, Y_c


def _lstm(node, graph) -> OperationConverterResult:
    from onnx2torch.utils.common import OnnxMapping, OperationConverterResult, get_const_value

    a = node.attributes
    direction = a.get("direction", "forward")
    direction = direction.decode() if isinstance(direction, bytes) else direction
    unsupported = [k for k in ("activations", "clip", "input_forget", "layout") if a.get(k)]
    names = list(node.input_values) + [""] * (8 - len(node.input_values))
    if unsupported or names[7] or names[4]:
        raise NotImplementedError(f"LSTM with {', '.join(unsupported) or 'peepholes or sequence lengths'}")
    try:
        w, r = get_const_value(names[1], graph), get_const_value(names[2], graph)
        b = get_const_value(names[3], graph) if names[3] else None
    except KeyError as e:
        raise NotImplementedError("LSTM with computed weights") from e
    module = LSTM(w, r, b, int(a["hidden_size"]), direction)
    return OperationConverterResult(torch_module=module, onnx_mapping=OnnxMapping(inputs=(names[0], "", names[5], names[6]),
                                                                                  outputs=node.output_values))


class MatMulLinear(torch.nn.Linear):
    """A MatMul by a constant matrix W, trainable: a Linear layer without bias whose weight is W.T. Its own
    class, so that channel pruning (compress/channel_graph), which follows channels on axis 1, leaves it
    whole as it left the MatMul."""


def _matmul(node, graph) -> OperationConverterResult:
    """A MatMul by a constant float32 matrix that no other node reads (a transformer's projections, a
    recognizer's head) becomes a Linear layer without bias: onnx2torch keeps the matrix as a constant, so
    fine-tuning, QAT and channel pruning would leave the model's largest layers untouched. It goes back
    into the graph transposed (onnx_to_torch._places)."""
    from onnx2torch.node_converters.matmul import OnnxMatMul
    from onnx2torch.utils.common import OnnxMapping, OperationConverterResult, onnx_mapping_from_node

    x, w = node.input_values
    if w in graph.initializers and x not in graph.initializers and _readers(graph, w) == 1:
        matrix = graph.initializers[w].to_torch()
        if matrix.dim() == 2 and matrix.dtype == torch.float32:
            linear = MatMulLinear(matrix.shape[0], matrix.shape[1], bias=False)
            with torch.no_grad():
                linear.weight.copy_(matrix.T)
            return OperationConverterResult(torch_module=linear, onnx_mapping=OnnxMapping(inputs=(x,), outputs=node.output_values))
    return OperationConverterResult(torch_module=OnnxMatMul(), onnx_mapping=onnx_mapping_from_node(node))


def _readers(graph, name: str) -> int:
    return sum(name in n.input_values for n in graph.nodes.values())


class FlatSoftmax(torch.nn.Module):
    """Softmax (or log-softmax) over all axes from `axis` on, as opsets before 13 define it. view_as
    exports as a Reshape to the input's Shape, which a traced export keeps dynamic; onnx2torch's reshape
    to the input's sizes is traced as constants in a real model (PP-OCR's recognizer) and fixes its batch."""

    def __init__(self, axis: int, log: bool):
        super().__init__()
        self.axis, self.log = axis, log

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        flat = torch.flatten(x, start_dim=self.axis)
        return (torch.log_softmax(flat, -1) if self.log else torch.softmax(flat, -1)).view_as(x)


def _flat_softmax(log: bool):
    def convert(node, graph) -> OperationConverterResult:
        from onnx2torch.utils.common import OperationConverterResult, onnx_mapping_from_node

        return OperationConverterResult(torch_module=FlatSoftmax(node.attributes.get("axis", 1), log), onnx_mapping=onnx_mapping_from_node(node))

    return convert


class AnyRankBatchNorm(torch.nn.modules.batchnorm._BatchNorm):
    """torch's BatchNorm with the parameters and buffers of BatchNorm1d/2d/3d, for an input of any rank."""

    def _check_input_dim(self, x: torch.Tensor) -> None:
        if x.dim() < 2:
            raise ValueError(f"BatchNormalization needs at least 2 dimensions, got {x.dim()}")


def _batch_norm(original):
    def convert(node, graph) -> OperationConverterResult:
        from onnx2torch.utils.common import OnnxMapping, OperationConverterResult

        try:
            return original(node, graph)
        except NotImplementedError as e:
            if "spatial rank" not in str(e):
                raise
        scale, bias, mean, var = (graph.initializers[name].to_torch() for name in node.input_values[1:5])
        module = AnyRankBatchNorm(scale.shape[0], eps=node.attributes.get("epsilon", 1e-5),
                                  momentum=1 - node.attributes.get("momentum", 0.9))
        with torch.no_grad():
            module.weight.copy_(scale)
            module.bias.copy_(bias)
            module.running_mean.copy_(mean)
            module.running_var.copy_(var)
        return OperationConverterResult(torch_module=module, onnx_mapping=OnnxMapping(inputs=(node.input_values[0],),
                                                                                      outputs=node.output_values))

    return convert


def register() -> None:
    """Add these converters to onnx2torch's registry (replacing its Clip, MatMul, old Softmax and BatchNormalization ones)."""
    from onnx2torch.node_converters.registry import _CONVERTER_REGISTRY, OperationDescription

    def op(name: str, version: int) -> OperationDescription:
        return OperationDescription(domain="", operation_type=name, version=version)

    if _CONVERTER_REGISTRY.get(op("LSTM", 7)) is _lstm:  # registered already: BatchNormalization is wrapped once
        return
    _CONVERTER_REGISTRY[op("GlobalMaxPool", 1)] = _global_max_pool
    for version in (1, 9, 13):
        _CONVERTER_REGISTRY[op("MatMul", version)] = _matmul
    for version in (7, 14):
        _CONVERTER_REGISTRY[op("LSTM", version)] = _lstm
    for version in (11, 12, 13):
        _CONVERTER_REGISTRY[op("Clip", version)] = _clip
    for version in (1, 11):
        _CONVERTER_REGISTRY[op("Softmax", version)] = _flat_softmax(log=False)
        _CONVERTER_REGISTRY[op("LogSoftmax", version)] = _flat_softmax(log=True)
    for version in (9, 14, 15):
        _CONVERTER_REGISTRY[op("BatchNormalization", version)] = _batch_norm(_CONVERTER_REGISTRY[op("BatchNormalization", version)])
