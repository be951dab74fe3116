"""The Layer dock: what the current layer is, and how its weights are spread."""

from __future__ import annotations

from html import escape
from typing import TYPE_CHECKING

import numpy as np
from PySide6.QtWidgets import QSizePolicy, QVBoxLayout, QWidget

from studio.gui.common.placeholder import placeholder_in
from studio.gui.common.value_form import ValueForm
from studio.gui.inspect.histogram_view import HistogramView

if TYPE_CHECKING:
    from studio.core.inspect.layers import Layer, Quantized
    from studio.core.inspect.stats import Histogram, WeightStats

PICK_HINT = "Select a layer: click it in the graph, the Layers table or the sparsity chart."
EMPTY = "The selected layer's shape, size, zeros and weight histogram will show here."
FIELDS = [  # label, tooltip
    ("Name", "The layer's name in the model"),
    ("Type", "What kind of layer it is"),
    ("Shape", "Shape of each weight tensor of the layer"),
    ("Parameters", "Number of weights, biases included, and the memory they take by data type"),
    ("Zeros", "Weights that are exactly zero: pruned, or zero by chance"),
]


class LayerPanel(QWidget):
    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.details = ValueForm(FIELDS)
        self.details.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Minimum)  # the histogram gives way, not the rows
        self.histogram = HistogramView(PICK_HINT)
        content = QWidget()
        layout = QVBoxLayout(content)
        layout.setContentsMargins(6, 6, 6, 6)
        layout.addWidget(self.details)
        layout.addWidget(self.histogram, 1)
        self._placeholder = placeholder_in(self, content, EMPTY)

    def show_layer(self, layer: Layer, stats: WeightStats, hist: Histogram) -> None:
        from studio.core.inspect.summary import human_bytes

        shapes = "<br>".join(f"{escape(k.rsplit('.', 1)[-1])} [{', '.join(map(str, w.shape))}]" for k, w in layer.weights.items())
        self.details.set_texts({
            "Name": escape(layer.name),
            "Type": escape(layer.type),
            "Shape": shapes,
            "Parameters": f"{stats.parameters:,} ({', '.join(f'{human_bytes(n)} as {dtype}' for dtype, n in stats.bytes_by_dtype.items())})",
            "Zeros": f"{stats.zeros:,} ({stats.sparsity:.1%})",
        })
        grid = quantized_grid(layer, float(hist.edges[0]), float(hist.edges[-1])) if len(hist.edges) > 1 else None
        self.histogram.set_grid(*(grid or (None,)), redraw=False)
        self.histogram.show_histogram(hist, stats, f"Weights of {layer.name}")
        self._placeholder.show_content()

    def clear(self) -> None:
        self._placeholder.show_message(EMPTY)

    def show_nothing_selected(self) -> None:
        self.details.set_texts({label: "—" for label, _ in FIELDS})
        self.histogram.clear(PICK_HINT)
        self._placeholder.show_content()


INT_RANGES = {"int8": (-128, 127), "uint8": (0, 255), "int4": (-8, 7), "uint4": (0, 15), "int16": (-32768, 32767), "uint16": (0, 65535)}


def quantized_grid(layer: Layer, low: float, high: float) -> tuple[np.ndarray, str, str] | None:
    """The values a quantized layer's main weight can take, scale × (q − zero point), between low and
    high (the histogram's range), their legend and its tooltip; None for a float layer. Per channel, the grid is
    that of the channel with the largest step: the coarsest, whose levels span the whole histogram."""
    weights = {name: q for name, q in layer.quantized.items() if q.bits <= 8 and name in layer.weights}
    if not weights:
        return None
    name = max(weights, key=lambda n: layer.weights[n].size)
    q: Quantized = weights[name]
    qmin, qmax = INT_RANGES.get(q.dtype) or ((-(2 ** (q.bits - 1)), 2 ** (q.bits - 1) - 1) if q.dtype.startswith("int") else (0, 2**q.bits - 1))
    scales, zeros = np.ravel(q.scale).astype(np.float64), np.ravel(q.zero_point).astype(np.float64)
    channel = int(np.argmax(scales)) if scales.size > 1 else 0
    scale, zero = float(scales[channel]), float(zeros[channel] if zeros.size > 1 else zeros[0] if zeros.size else 0.0)
    if not scale > 0:
        return None
    levels = scale * (np.arange(qmin, qmax + 1, dtype=np.float64) - zero)
    margin = (high - low) * 0.01
    shown = levels[(levels >= low - margin) & (levels <= high + margin)]
    label = f"{escape(q.dtype)} grid, step {scale:.2g}" + (f" (channel {channel} of {scales.size}, the coarsest)" if scales.size > 1 else "")
    stored = escape(name.rsplit(".", 1)[-1])
    tip = (f"The values {stored} can hold as {escape(q.dtype)}: scale × (q − zero point) for q from {qmin} to {qmax}; "
           f"{shown.size:,} of its {levels.size:,} levels fall within the histogram. ") + (
           f"It has one scale per channel ({scales.size}): shown is channel {channel}'s grid, the coarsest, whose "
           "levels span the widest range; the other channels' grids are finer." if scales.size > 1 else
           "One scale and zero point for the whole tensor.")
    return shown, label, tip
