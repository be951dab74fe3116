"""A weight histogram: non-zero values in bins, exact zeros as their own highlighted bar at 0.

Later panels draw over it: a second histogram (before/after, `set_overlay`) and the values a quantizer
can represent (`set_grid`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QCheckBox, QHBoxLayout, QLabel, QVBoxLayout, QWidget

from studio.gui.common.placeholder import placeholder_in
from studio.gui.common.plots import OVERLAY, VALUES, ZERO, plot_widget, swatch

if TYPE_CHECKING:
    from studio.core.inspect.stats import Histogram, WeightStats


SPARSE_GRID = 48  # levels in view up to which a grid is drawn as full-height lines
COMB = 0.06  # the height of a dense grid's ticks, under the axis, as a share of the tallest bar


LEGEND_TIP = "What the bars and marks of the histogram stand for"


class HistogramView(QWidget):
    def __init__(self, empty_message: str, parent: QWidget | None = None):
        super().__init__(parent)
        self._hist: Histogram | None = None
        self._overlay: tuple[Histogram, str] | None = None
        self._grid: tuple[np.ndarray, str] | None = None
        self.grid: pg.PlotDataItem | None = None  # the grid drawn, if any

        self.plot = plot_widget(self, "weight value", "weights per bin")
        self.plot.setMouseEnabled(x=False, y=False)
        self.plot.setToolTip(
            "How the weights' values are spread. The orange bar at 0 counts the weights that are exactly "
            "zero (pruned); the blue bars count all others."
        )
        self.plot.setMinimumHeight(160)
        self.title = QLabel()
        self.title.setWordWrap(True)
        self.legend = QLabel()
        self.legend.setWordWrap(True)
        self.legend.setToolTip(LEGEND_TIP)
        self.stats = QLabel()
        self.stats.setWordWrap(True)
        self.stats.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.log = QCheckBox("Log count")
        self.log.setToolTip("Count axis on a logarithmic scale: shows rare values and a tall zero bar together")
        self.log.toggled.connect(self._redraw)

        content = QWidget()
        layout = QVBoxLayout(content)
        layout.setContentsMargins(0, 0, 0, 0)
        header = QHBoxLayout()
        header.addWidget(self.title, 1)
        header.addWidget(self.log)
        layout.addLayout(header)
        layout.addWidget(self.legend)
        layout.addWidget(self.plot, 1)
        layout.addWidget(self.stats)
        self._placeholder = placeholder_in(self, content, empty_message)

    def show_histogram(self, hist: Histogram, stats: WeightStats, title: str) -> None:
        self._hist = hist
        self.title.setText(f"<b>{title}</b>")
        sampled = "<br><i>Bars estimated from a sample of 1 million values.</i>" if hist.sampled else ""
        # the counts of weights and zeros are in the panel's rows above and the legend: not said a third time
        self.stats.setText(f"min {stats.min:.3g} · max {stats.max:.3g} · mean {stats.mean:.2g} · std {stats.std:.2g}{sampled}")
        self.stats.setToolTip(f"{stats.parameters:,} weights · {stats.zeros:,} exactly zero ({stats.sparsity:.1%})")
        self._placeholder.show_content()
        self._redraw()

    def set_overlay(self, hist: Histogram | None, label: str = "") -> None:
        """Draw a second histogram as an outline over the first (e.g. before/after a compression)."""
        shown = self._overlay or (None, "")
        if shown[0] is hist and (hist is None or shown[1] == label):
            return  # the window asks again on every version change: a whole redraw costs a paint's time
        self._overlay = (hist, label) if hist is not None else None
        self._redraw()

    def set_grid(self, values, label: str = "values the quantized model can hold", tip: str = "", redraw: bool = True) -> None:
        """Mark values (e.g. the levels a quantizer can represent) with vertical lines; None clears.
        Few levels are lines the plot's height; many (int8 has 256) a rug of short ticks under the
        bars, which keeps them readable: a wash of lines would hide them. `tip` explains the grid when
        the legend is hovered."""
        self._grid = None if values is None else (np.asarray(values, dtype=float), label)
        self.legend.setToolTip(tip or LEGEND_TIP)
        if redraw:
            self._redraw()

    def clear(self, message: str) -> None:
        self._hist = self._overlay = self._grid = None
        self.plot.clear()
        self._placeholder.show_message(message)

    def _redraw(self) -> None:
        self.plot.clear()
        self.grid = None
        if self._hist is None:
            return
        log = self.log.isChecked()
        self.plot.getAxis("left").setLogMode(log)
        self.plot.setLabel("left", "weights per bin (log scale)" if log else "weights per bin")
        height = (lambda c: np.log10(np.maximum(c, 1))) if log else (lambda c: np.asarray(c, dtype=float))
        h = self._hist
        bars = pg.BarGraphItem(x0=h.edges[:-1], x1=h.edges[1:], height=height(h.counts), brush=VALUES, pen=None)
        self.plot.addItem(bars)
        legend = [swatch(VALUES, "non-zero weights"), swatch(ZERO, f"exactly zero: {h.zeros:,}")]
        outside = outliers(h)
        width = max(float(h.edges[1] - h.edges[0]), float(h.edges[-1] - h.edges[0]) / 60)
        zeros = pg.BarGraphItem(x=[0.0], width=width, height=height([h.zeros]), brush=ZERO, pen=None)
        self.plot.addItem(zeros)
        if self._overlay is not None:
            other, label = self._overlay
            pen = pg.mkPen(OVERLAY, width=2)
            outline = pg.PlotDataItem(other.edges, height(other.counts), stepMode="center", pen=pen)
            self.plot.addItem(outline)
            legend.append(swatch(OVERLAY, label))
            self.plot.addItem(pg.BarGraphItem(x=[0.0], width=width, height=height([other.zeros]), brush=None, pen=pen))
        if self._grid is not None:
            values, label = self._grid
            color = self.palette().text().color()
            top = float(max(height(h.counts).max(initial=0), height([h.zeros])[0], 1.0))
            sparse = len(values) <= SPARSE_GRID
            color.setAlpha(150 if sparse else 110)
            pen = pg.mkPen(color, width=1, style=Qt.PenStyle.DotLine if sparse else Qt.PenStyle.SolidLine)
            span = (0.0, top) if sparse else (-top * COMB, 0.0)  # many levels: a rug under the bars, not over them
            xs, ys = np.repeat(values, 2), np.tile(span, len(values))
            self.grid = pg.PlotDataItem(xs, ys, connect="pairs", pen=pen)
            self.plot.addItem(self.grid, ignoreBounds=sparse)
            legend.append(f'<span style="color:{color.name()}">{"┆" if sparse else "▁"}</span>&nbsp;{label}')
        text = " &nbsp; ".join(legend[:-1] if self._grid is not None else legend)
        text += f"<br>{outside}" if outside else ""  # the outliers, and the grid's entry, each on a line of its own
        self.legend.setText(text + (f"<br>{legend[-1]}" if self._grid is not None else ""))
        self.plot.enableAutoRange()


def outliers(h: Histogram) -> str:
    """The values left out of the bars (the bulk is shown when a few large ones would squeeze it into one
    bar, see core's histogram), counted beside the chart: "not drawn: 12 below -0.31, 30 above 0.28"."""
    below, above = round(h.below), round(h.above)
    if not below and not above:
        return ""
    parts = ([f"{below:,} below {h.edges[0]:.2g}"] if below else []) + ([f"{above:,} above {h.edges[-1]:.2g}"] if above else [])
    return "not drawn: " + ", ".join(parts)
