"""One bar per layer: its share of exactly-zero weights. Clicking a bar selects the layer."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QPointF, Signal
from PySide6.QtGui import QColor
from PySide6.QtWidgets import QLabel, QToolTip, QVBoxLayout, QWidget

from studio.gui.common.placeholder import placeholder_in
from studio.gui.common.plots import SELECTED, ZERO, plot_widget, swatch

if TYPE_CHECKING:
    from studio.core.inspect.stats import WeightStats

MAX_TICK_CHARS = 14
NONZERO = QColor("#dde3ea")


class SparsityChart(QWidget):
    layerSelected = Signal(str)

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self._names: list[str] = []
        self._stats: list[WeightStats] = []
        self.plot = plot_widget(self, "layer", "exactly zero (%)")
        self.plot.setMouseEnabled(x=True, y=False)
        self.plot.setYRange(0, 100, padding=0.02)
        self.plot.setToolTip("Each column is a layer: orange is its share of weights that are exactly zero. Click a column to select the layer.")
        self._full = pg.BarGraphItem(x=[], height=[], width=0.8, brush=NONZERO, pen=None)
        self._zeros = pg.BarGraphItem(x=[], height=[], width=0.8, brush=ZERO, pen=None)
        self._marker = pg.BarGraphItem(x=[], height=[], width=0.8, brush=None, pen=pg.mkPen(SELECTED, width=2))
        for item in (self._full, self._zeros, self._marker):
            self.plot.addItem(item)
        self.plot.scene().sigMouseClicked.connect(self._clicked)
        self.plot.scene().sigMouseMoved.connect(self._hovered)
        caption = QLabel(
            "<b>Zeros per layer</b> &nbsp; " + swatch(ZERO, "exactly zero") + " &nbsp; " + swatch(NONZERO, "other weights")
            + " &nbsp; — click a column to select its layer"
        )
        content = QWidget()
        column = QVBoxLayout(content)
        column.setContentsMargins(0, 0, 0, 0)
        column.addWidget(caption)
        column.addWidget(self.plot, 1)
        self._placeholder = placeholder_in(self, content)

    def show_layers(self, stats: dict[str, WeightStats]) -> None:
        self._names, self._stats = list(stats), list(stats.values())
        x = np.arange(len(self._names))
        self._full.setOpts(x=x, height=np.full(len(x), 100.0))
        self._zeros.setOpts(x=x, height=[100 * s.sparsity for s in self._stats])
        self._marker.setOpts(x=[], height=[])
        self.plot.getAxis("bottom").setTicks([[(i, _short(n)) for i, n in enumerate(self._names)]])
        self.plot.setXRange(-0.6, len(x) - 0.4, padding=0)
        self.plot.setLimits(xMin=-1, xMax=max(len(x), 1), minXRange=3)
        self._placeholder.show_content()

    def clear(self) -> None:
        self.show_layers({})
        self._placeholder.show_message()

    def select_layer(self, name: str | None) -> None:
        """Outline the layer's column; emits nothing."""
        if name in self._names:
            self._marker.setOpts(x=[self._names.index(name)], height=[100.0])
        else:
            self._marker.setOpts(x=[], height=[])

    def _index_at(self, scene_pos: QPointF) -> int | None:
        if not self._names or not self.plot.plotItem.vb.sceneBoundingRect().contains(scene_pos):
            return None
        x = self.plot.plotItem.vb.mapSceneToView(scene_pos).x()
        i = int(round(x))
        return i if 0 <= i < len(self._names) and abs(x - i) <= 0.4 else None

    def _clicked(self, event) -> None:
        i = self._index_at(event.scenePos())
        if i is not None:
            self.select_layer(self._names[i])
            self.layerSelected.emit(self._names[i])

    def _hovered(self, scene_pos: QPointF) -> None:
        i = self._index_at(scene_pos)
        if i is None:
            QToolTip.hideText()
            return
        s = self._stats[i]
        text = f"{self._names[i]}: {s.sparsity:.1%} exactly zero ({s.zeros:,} of {s.parameters:,} weights)"
        QToolTip.showText(self.plot.mapToGlobal(self.plot.mapFromScene(scene_pos)), text, self.plot)


def _short(name: str) -> str:
    return name if len(name) <= MAX_TICK_CHARS else "…" + name[-(MAX_TICK_CHARS - 1) :]
