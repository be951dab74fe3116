"""The layer graph of any model, from the builder for its format."""

from __future__ import annotations

from studio.core.formats.model import STATE_DICT_NOTE, Format, Model
from studio.core.inspect import graph_torch
from studio.core.inspect.graph import Graph
from studio.core.inspect.graph_onnx import onnx_graph


def graph_of(model: Model) -> Graph:
    """The layer graph of any model. A state_dict has none (no architecture): the note says so."""
    if model.onnx is not None:
        return onnx_graph(model.onnx)
    if model.format is Format.STATE_DICT:
        return Graph(note=STATE_DICT_NOTE)
    if model.format is Format.EXPORTED_PROGRAM:
        return graph_torch.exported_graph(model.program)
    if model.format is Format.TORCHSCRIPT:
        return graph_torch.torchscript_graph(model.module)
    return graph_torch.module_graph(model)
