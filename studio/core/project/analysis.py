"""Everything the window shows about one model, computed in one job off the GUI thread."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from studio.core.formats.load import load_model
from studio.core.formats.model import Model
from studio.core.formats.onnx_to_torch import back_to_onnx
from studio.core.inspect.graph import Graph
from studio.core.inspect.layers import Layer, layers_of
from studio.core.inspect.model_graph import graph_of
from studio.core.inspect.precision import OpPrecision, quantized_ops
from studio.core.inspect.stats import Histogram, WeightStats, histogram, layer_stats, weight_stats
from studio.core.process.jobs import NO_CANCEL, CancelToken, Job, Progress

WHOLE_MODEL_BULK = 0.005  # the whole model's histogram spans 0.5–99.5 % of its values when outliers would squeeze it


@dataclass
class ModelInfo:
    model: Model
    layers: list[Layer]
    stats: dict[str, WeightStats]  # by layer name
    total: WeightStats
    graph: Graph
    histograms: dict[str, Histogram] = field(default_factory=dict)  # by layer name
    histogram: Histogram | None = None  # of the whole model
    precisions: list[OpPrecision] | None = None  # of an ONNX model's compute ops (int8 or float); None for PyTorch

    def layer(self, name: str) -> Layer | None:
        return next((layer for layer in self.layers if layer.name == name), None)


def analyze(model: Model, cancel: CancelToken = NO_CANCEL) -> Job[ModelInfo]:
    yield Progress(1, 4, "reading weights")
    view = back_to_onnx(model) if model.origin is not None else model  # a converted ONNX model shows as its own graph
    layers = layers_of(view)
    cancel.check()
    yield Progress(2, 4, "computing statistics")
    stats = {layer.name: layer_stats(layer) for layer in layers}
    total = weight_stats(w for layer in layers for w in layer.weights.values())
    histograms = {layer.name: histogram(layer.weights.values(), bins=_bins(stats[layer.name].parameters)) for layer in layers}
    whole = histogram((w for layer in layers for w in layer.weights.values()), bulk=WHOLE_MODEL_BULK)
    cancel.check()
    yield Progress(3, 4, "building the layer graph")
    graph = graph_of(view)
    precisions = quantized_ops(view.onnx) if view.onnx is not None else None
    yield Progress(4, 4, "done")
    return ModelInfo(model, layers, stats, total, graph, histograms, whole, precisions)


def _bins(n: int) -> int:
    """Fewer bins for a small layer, so that each bin holds enough weights to show a shape."""
    return max(10, min(100, math.isqrt(n)))


def open_model(source: str, trust: bool = False, input_shape: str | None = None, responsive: bool = False,
               cancel: CancelToken = NO_CANCEL) -> Job[ModelInfo]:
    """Load and analyse a model file or sample: the job behind File → Open (see load_model)."""
    yield Progress(0, 4, f"loading {source}")
    model = load_model(source, trust=trust, input_shape=input_shape, responsive=responsive)
    cancel.check()
    return (yield from analyze(model, cancel))
