"""Sensitivity of each layer to pruning: the model's accuracy (or agreement) when that layer alone is
pruned to each sparsity. A layer whose line falls early should be pruned less."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLabel, QVBoxLayout, QWidget

from studio.gui.common.plots import plot_widget, swatch

if TYPE_CHECKING:
    from studio.core.compress.sensitivity import Sensitivity


class SensitivityChart(QWidget):
    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.plot = plot_widget(self, "layer pruned alone to (% zeros)", "accuracy (%)")
        self.plot.setMouseEnabled(x=False, y=False)
        self.plot.setMinimumHeight(180)
        self.plot.setToolTip("Each line is a layer pruned on its own, all others untouched: where it falls, that layer is sensitive")
        self.legend = QLabel()
        self.legend.setWordWrap(True)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.legend)
        layout.addWidget(self.plot, 1)
        self.hide()

    def show_sensitivity(self, result: Sensitivity, unpruned: str = "the unpruned version") -> None:
        """`unpruned` names the version analysed: without labels, agreement is with it."""
        self.plot.clear()
        self.plot.setLabel("left", "accuracy (%)" if result.metric == "accuracy" else f"agreement with {unpruned} (%)")
        x = [100 * level for level in result.levels]
        legend = []
        for i, (layer, scores) in enumerate(result.scores.items()):
            colour = pg.intColor(i, hues=max(len(result.scores), 3), maxValue=200)
            self.plot.plot(x, [100 * s for s in scores], pen=pg.mkPen(colour, width=2), symbol="o", symbolSize=4,
                           symbolBrush=colour, symbolPen=None)
            legend.append(swatch(colour, layer))
        base = pg.InfiniteLine(100 * result.baseline, angle=0, pen=pg.mkPen("#868e96", style=Qt.PenStyle.DashLine))
        self.plot.addItem(base)
        baseline = f"┄&nbsp;unpruned&nbsp;{100 * result.baseline:.1f}&nbsp;%"  # an entry wraps whole, never inside
        self.legend.setText(" &nbsp; ".join([*legend, baseline]))
        self.show()
