"""The Layer dock: what the current layer is, and how its weights are spread."""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QFormLayout, QLabel, QVBoxLayout, QWidget

from studio.gui.histogram_view import HistogramView
from studio.gui.placeholder import Placeholder

if TYPE_CHECKING:
    from studio.core.layers import Layer
    from studio.core.stats import Histogram, WeightStats

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
        self.values: dict[str, QLabel] = {}
        details = QWidget()
        form = QFormLayout(details)
        form.setContentsMargins(0, 0, 0, 0)
        for label, tip in FIELDS:
            value = QLabel()
            value.setWordWrap(True)
            value.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
            value.setToolTip(tip)
            self.values[label] = value
            form.addRow(label + ":", value)
        self.histogram = HistogramView(PICK_HINT)
        content = QWidget()
        layout = QVBoxLayout(content)
        layout.setContentsMargins(6, 6, 6, 6)
        layout.addWidget(details)
        layout.addWidget(self.histogram, 1)
        self._placeholder = Placeholder(content, EMPTY)
        outer = QVBoxLayout(self)
        outer.setContentsMargins(0, 0, 0, 0)
        outer.addWidget(self._placeholder)

    def show_layer(self, layer: Layer, stats: WeightStats, hist: Histogram) -> None:
        from studio.core.summary import human_bytes

        shapes = "<br>".join(f"{k.rsplit('.', 1)[-1]} [{', '.join(map(str, w.shape))}]" for k, w in layer.weights.items())
        self._set(
            Name=layer.name,
            Type=layer.type,
            Shape=shapes,
            Parameters=f"{stats.parameters:,}",
            Size=", ".join(f"{human_bytes(n)} as {dtype}" for dtype, n in stats.bytes_by_dtype.items()),
            Zeros=f"{stats.zeros:,} ({stats.sparsity:.1%})",
        )
        self.histogram.show_histogram(hist, stats, f"Weights of {layer.name}")
        self._placeholder.show_content()

    def show_nothing_selected(self) -> None:
        self._set(**{label: "—" for label, _ in FIELDS})
        self.histogram.clear(PICK_HINT)
        self._placeholder.show_content()

    def _set(self, **texts: str) -> None:
        for label, text in texts.items():
            self.values[label].setText(text)
