"""The layer graph of any model, from the builder for its format, with its repeated blocks folded."""

from __future__ import annotations

from studio.core.formats.model import STATE_DICT_NOTE, Format, Model
from studio.core.inspect import graph_torch
from studio.core.inspect.graph import Graph
from studio.core.inspect.graph_blocks import fold_blocks
from studio.core.inspect.graph_onnx import onnx_graph


def graph_of(model: Model) -> Graph:
    """The layer graph of any model, a big one's repeated blocks (transformer layers) folded into one
    box each (graph_blocks). A state_dict has none (no architecture): the note says so."""
    return fold_blocks(_graph(model), _module_types(model))


def _graph(model: Model) -> Graph:
    if model.onnx is not None:
        return onnx_graph(model.onnx)
    if model.format is Format.STATE_DICT:
        return Graph(note=STATE_DICT_NOTE)
    if model.format is Format.EXPORTED_PROGRAM:
        return graph_torch.exported_graph(model.program)
    if model.format is Format.TORCHSCRIPT:
        return graph_torch.torchscript_graph(model.module)
    return graph_torch.module_graph(model)


def _module_types(model: Model):
    """A module path → the class name of that submodule ("BertLayer"), where the model has modules."""
    module = model.module if model.onnx is None else None
    if module is None or not hasattr(module, "get_submodule"):
        return None

    def type_of(path: str) -> str | None:
        try:
            sub = module.get_submodule(path)
        except (AttributeError, RuntimeError):  # a path from an exporter's or tracer's names, not a module
            return None
        return getattr(sub, "original_name", None) or type(sub).__name__

    return type_of
