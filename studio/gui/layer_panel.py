"""The Layer dock: what the current layer is, and how its weights are spread."""

from __future__ import annotations

from html import escape
from typing import TYPE_CHECKING

from PySide6.QtWidgets import QVBoxLayout, QWidget

from studio.gui.histogram_view import HistogramView
from studio.gui.placeholder import placeholder_in
from studio.gui.value_form import ValueForm

if TYPE_CHECKING:
    from studio.core.inspect.layers import Layer
    from studio.core.inspect.stats import Histogram, WeightStats

PICK_HINT = "Select a layer: click it in the graph, the Layers table or the sparsity chart."
EMPTY = "The selected layer's shape, size, zeros and weight histogram will show here."
FIELDS = [  # label, tooltip
    ("Name", "The layer's name in the model"),
    ("Type", "What kind of layer it is"),
    ("Shape", "Shape of each weight tensor of the layer"),
    ("Parameters", "Number of weights, biases included"),
    ("Size", "Memory the weights take, by data type"),
    ("Zeros", "Weights that are exactly zero: pruned, or zero by chance"),
]


class LayerPanel(QWidget):
    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.details = ValueForm(FIELDS)
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
            "Parameters": f"{stats.parameters:,}",
            "Size": ", ".join(f"{human_bytes(n)} as {dtype}" for dtype, n in stats.bytes_by_dtype.items()),
            "Zeros": f"{stats.zeros:,} ({stats.sparsity:.1%})",
        })  # fmt: skip
        self.histogram.show_histogram(hist, stats, f"Weights of {layer.name}")
        self._placeholder.show_content()

    def show_nothing_selected(self) -> None:
        self.details.set_texts({label: "—" for label, _ in FIELDS})
        self.histogram.clear(PICK_HINT)
        self._placeholder.show_content()
