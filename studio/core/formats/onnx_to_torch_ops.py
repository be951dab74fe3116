"""Operators onnx2torch 1.5 lacks or gets wrong on real models, added through its converter registry:
GlobalMaxPool (the file-type classifier), and Clip whose bounds are computed (a spectrogram clamped to
its maximum minus 80 dB) or left empty (a transformer's norm, clamped from below only). Imported once,
with onnx2torch (formats/onnx_to_torch)."""

from __future__ import annotations

import torch
from onnx2torch.node_converters.registry import _CONVERTER_REGISTRY, OperationDescription, add_converter
from onnx2torch.utils.common import OnnxMapping, OperationConverterResult, get_const_value, onnx_mapping_from_node


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


@add_converter(operation_type="GlobalMaxPool", version=1)
def _global_max_pool(node, graph) -> OperationConverterResult:
    return OperationConverterResult(torch_module=GlobalMaxPool(), onnx_mapping=onnx_mapping_from_node(node))


def _clip(node, graph) -> OperationConverterResult:
    """Constant bounds become numbers of the module; computed ones stay inputs of the graph."""
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


for _version in (11, 12, 13):
    _CONVERTER_REGISTRY[OperationDescription(domain="", operation_type="Clip", version=_version)] = _clip
