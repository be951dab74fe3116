"""Operators onnx2torch 1.5 lacks or gets wrong on real models, added through its converter registry:
GlobalMaxPool (the file-type classifier), Clip whose bounds are computed (a spectrogram clamped to its
maximum minus 80 dB) or left empty (a transformer's norm, clamped from below only), LSTM (speaker
and wake-word models; weights the graph rearranges from stored ones, as Silero VAD's gates, train at
those, formats/onnx_computed), and BatchNormalization on an input whose rank shape inference left unknown (a
text recognizer converted from Paddle), and Softmax before opset 13, whose output onnx2torch shapes by
sizes that tracing for export fixes (the batch written into the exported graph); and MatMul by a constant
matrix, which onnx2torch leaves untrainable (a Linear layer here); Pad in reflect or edge mode on any
rank (audio [N, samples] before an STFT), and what opset 18 changed (Pad's axes, Split's num_outputs,
reductions' axes as an input) and Size, for Silero VAD's opset-18 file; and If (formats/onnx_to_torch_if).
register() adds them
once onnx2torch is imported (formats/onnx_to_torch does it, where torchvision may need a stand-in):
importing onnx2torch here would need torchvision first."""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch

from studio.core.formats import onnx_to_torch_if
from studio.core.formats.onnx_computed import computed

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
    values, sources = {}, {}
    for key, name in (("W", names[1]), ("R", names[2]), ("B", names[3])):
        if not name:
            continue
        try:
            values[key] = get_const_value(name, graph)
        except KeyError:  # computed in the graph: trained at the stored tensors it rearranges (Silero VAD's gates)
            found = computed(name, graph)
            if found is None:
                raise NotImplementedError("an LSTM whose weights the graph computes by more than moving stored values: the "
                                          "studio's LSTM converter needs them stored") from None
            values[key], sources[key] = torch.from_numpy(found[0]), found[1]
    module = LSTM(values["W"], values["R"], values.get("B"), int(a["hidden_size"]), direction)
    module.sources = sources  # onnx_to_torch._places writes them back there
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


class Size(torch.nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.tensor(x.numel(), dtype=torch.int64, device=x.device)


class Split(torch.nn.Module):
    """Split into `parts` outputs: by the sizes given, or as even as ONNX makes them (the last one smaller)."""

    def __init__(self, axis: int, parts: int):
        super().__init__()
        self.axis, self.parts = axis, parts

    def forward(self, x: torch.Tensor, sizes: torch.Tensor | None = None) -> tuple[torch.Tensor, ...]:
        if sizes is not None:
            return torch.split(x, sizes.tolist(), dim=self.axis)
        return torch.split(x, -(-x.shape[self.axis] // self.parts), dim=self.axis)


def _simple(module_type):
    def convert(node, graph) -> OperationConverterResult:
        from onnx2torch.utils.common import OperationConverterResult, onnx_mapping_from_node

        return OperationConverterResult(torch_module=module_type(), onnx_mapping=onnx_mapping_from_node(node))

    return convert


def _split(node, graph) -> OperationConverterResult:
    from onnx2torch.utils.common import OperationConverterResult, onnx_mapping_from_node

    return OperationConverterResult(torch_module=Split(node.attributes.get("axis", 0), len(node.output_values)),
                                    onnx_mapping=onnx_mapping_from_node(node))


def _reduce_axes_input(node, graph) -> OperationConverterResult:
    """A reduction of opset 18, whose axes are an input: converted when they are constant."""
    from onnx2torch.node_converters.reduce import OnnxReduceStaticAxes
    from onnx2torch.utils.common import OnnxMapping, OperationConverterResult, get_const_value

    axes = None
    if len(node.input_values) > 1 and node.input_values[1]:
        try:
            axes = get_const_value(node.input_values[1], graph).tolist()
        except KeyError as e:
            raise NotImplementedError(f"{node.operation_type} with computed axes") from e
    if not axes and node.attributes.get("noop_with_empty_axes", 0):
        raise NotImplementedError(f"{node.operation_type} with noop_with_empty_axes")
    return OperationConverterResult(torch_module=OnnxReduceStaticAxes(node.operation_type, axes, node.attributes.get("keepdims", 1)),
                                    onnx_mapping=OnnxMapping(inputs=(node.input_values[0],), outputs=node.output_values))


class Pad(torch.nn.Module):
    """ONNX Pad from opset 11 on (pads as an input, axes from 18): onnx2torch's pads reflect and edge modes
    only on inputs of 3 dimensions or more, so a spectrogram's audio [N, samples] could not be padded."""

    MODES = {"constant": "constant", "reflect": "reflect", "edge": "replicate", "wrap": "circular"}

    def __init__(self, mode: str):
        super().__init__()
        self.mode = self.MODES[mode]

    def forward(self, x: torch.Tensor, pads: torch.Tensor, value: torch.Tensor | None = None,
                axes: torch.Tensor | None = None) -> torch.Tensor:
        pads = pads.tolist()
        if axes is not None:  # pads for these axes only: the others get none
            full = [0] * (2 * x.dim())
            for i, axis in enumerate(a % x.dim() for a in axes.tolist()):
                full[axis], full[axis + x.dim()] = pads[i], pads[i + len(pads) // 2]
            pads = full
        rank = len(pads) // 2
        torch_pads = [p for axis in reversed(range(rank)) for p in (pads[axis], pads[axis + rank])]  # last axis first
        if self.mode == "constant":
            return torch.nn.functional.pad(x, torch_pads, value=0.0 if value is None else float(value))
        padded = next((rank - axis for axis in range(rank) if pads[axis] or pads[axis + rank]), 0)
        if not padded:
            return x
        if padded > 3:
            raise NotImplementedError(f"{self.mode} padding of more than the last 3 axes")
        # torch pads these modes over a batch and a channel axis: the axes in front of the padded ones become those
        lead = x.shape[: x.dim() - padded]
        flat = x.reshape(-1, 1, *x.shape[x.dim() - padded:])
        out = torch.nn.functional.pad(flat, torch_pads[: 2 * padded], mode=self.mode)
        return out.reshape(*lead, *out.shape[2:])


def _pad(node, graph) -> OperationConverterResult:
    from onnx2torch.utils.common import OperationConverterResult, onnx_mapping_from_node

    mode = node.attributes.get("mode", "constant")
    mode = mode.decode() if isinstance(mode, bytes) else mode
    if mode not in Pad.MODES:
        raise NotImplementedError(f"Pad in {mode} mode")
    return OperationConverterResult(torch_module=Pad(mode), onnx_mapping=onnx_mapping_from_node(node))


def register() -> None:
    """Add these converters to onnx2torch's registry (replacing its Clip, MatMul, old Softmax, BatchNormalization and Pad ones)."""
    from onnx2torch.node_converters.registry import _CONVERTER_REGISTRY, OperationDescription

    def op(name: str, version: int) -> OperationDescription:
        return OperationDescription(domain="", operation_type=name, version=version)

    if _CONVERTER_REGISTRY.get(op("LSTM", 7)) is _lstm:  # registered already: BatchNormalization is wrapped once
        return
    _CONVERTER_REGISTRY[op("GlobalMaxPool", 1)] = _simple(GlobalMaxPool)
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
    for version in (1, 13, 19, 21):
        _CONVERTER_REGISTRY[op("Size", version)] = _simple(Size)
    _CONVERTER_REGISTRY[op("Split", 18)] = _split
    for version in (11, 13, 18, 19, 21):
        _CONVERTER_REGISTRY[op("Pad", version)] = _pad
    for name in ("ReduceL1", "ReduceL2", "ReduceLogSum", "ReduceLogSumExp", "ReduceMax", "ReduceMean", "ReduceMin", "ReduceProd",
                 "ReduceSumSquare"):
        _CONVERTER_REGISTRY[op(name, 18)] = _reduce_axes_input
    _CONVERTER_REGISTRY[op("ReduceMax", 20)] = _CONVERTER_REGISTRY[op("ReduceMin", 20)] = _reduce_axes_input
    for version in onnx_to_torch_if.VERSIONS:
        _CONVERTER_REGISTRY[op("If", version)] = onnx_to_torch_if.convert
