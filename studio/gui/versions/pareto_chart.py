"""Every version as a point, size (log scale) against accuracy; the versions no other beats on both are
the frontier, drawn as a line. Clicking a point selects that version."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import pyqtgraph as pg
from PySide6.QtCore import Signal
from PySide6.QtGui import QColor
from PySide6.QtWidgets import QComboBox, QHBoxLayout, QLabel, QVBoxLayout, QWidget

from studio.gui.common import metric_text
from studio.gui.common.plots import SELECTED, BytesAxis, fit, plot_widget, swatch

if TYPE_CHECKING:
    from studio.core.project.versions import Version

FRONT = QColor("#2b8a3e")
OTHER = QColor("#adb5bd")
SIZES = {"zip_bytes": "zipped", "size_bytes": "as stored"}


class ParetoChart(QWidget):
    versionClicked = Signal(int)

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.front: list[int] = []
        self._versions: dict[int, Version] = {}
        self._current: int | None = None
        self.plot = plot_widget(self, "size", "accuracy (%)", {"bottom": BytesAxis("bottom")})
        self.plot.setLogMode(x=True, y=False)
        self.plot.setMouseEnabled(x=False, y=False)
        self.plot.setMinimumHeight(100)
        self.plot.setToolTip("Each point is a version: further left is smaller, higher is more accurate. "
                             "Green: the frontier, versions no other beats on both. Click a point to select it.")
        self.points = pg.PlotDataItem([], [], pen=None, symbol="o", symbolSize=11)
        self.points.sigPointsClicked.connect(self._clicked)
        self.line = pg.PlotDataItem([], [], pen=pg.mkPen(FRONT, width=2))
        self.plot.addItem(self.line)
        self.plot.addItem(self.points)
        self.labels: list[pg.TextItem] = []
        self.size = QComboBox()
        for key, text in SIZES.items():
            self.size.addItem(text, key)
        self.size.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.size.setMinimumContentsLength(8)
        self.size.setToolTip("Which size the chart plots: once zipped (shows what pruning saves) or as stored")
        self.size.currentIndexChanged.connect(lambda: self.show_versions(self._versions, self._current))
        caption = QLabel(f"<b>Size × accuracy</b> &nbsp; {swatch(FRONT, 'frontier')} &nbsp; {swatch(OTHER, 'beaten')}")
        caption.setWordWrap(True)
        header = QHBoxLayout()
        header.addWidget(caption, 1)
        header.addWidget(self.size)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(header)
        layout.addWidget(self.plot, 1)

    def show_versions(self, versions: dict[int, Version], current: int | None) -> None:
        from studio.core.project.pareto import pareto_front

        self._versions, self._current = versions, current
        key = self.size.currentData()
        measured = {vid: v for vid, v in versions.items() if key in v.metrics and metric_text.score(v.metrics)}
        metric = "accuracy" if all("accuracy" in v.metrics for v in measured.values()) else "agreement"
        points = {vid: (float(v.metrics[key]), float(v.metrics.get(metric, math.nan))) for vid, v in measured.items()}
        points = {vid: p for vid, p in points.items() if not math.isnan(p[1])}
        self.front = pareto_front(points)
        self._label("bottom", f"size {SIZES[key]} (log scale)")
        self._label("left", f"{metric} (%)" if metric == "accuracy" else "agreement with its parent (%)")
        ids = list(points)
        brushes = [pg.mkBrush(FRONT if vid in self.front else OTHER) for vid in ids]
        pens = [pg.mkPen(SELECTED, width=3) if vid == current else pg.mkPen(None) for vid in ids]
        self.points.setData([points[v][0] for v in ids], [100 * points[v][1] for v in ids], data=ids,
                            symbolBrush=brushes, symbolPen=pens)
        self.line.setData([points[v][0] for v in self.front], [100 * points[v][1] for v in self.front])
        for label in self.labels:
            self.plot.removeItem(label)
        self.labels = []
        for vid in ids:
            label = pg.TextItem(f"v{vid}", color=self.palette().text().color(), anchor=(-0.2, 1.1))
            label.setPos(math.log10(max(points[vid][0], 1)), 100 * points[vid][1])
            self.plot.addItem(label)
            self.labels.append(label)
        fit(self.plot, [math.log10(max(points[v][0], 1)) for v in ids], [100 * points[v][1] for v in ids], padding=0.12)

    def _label(self, side: str, text: str) -> None:
        """Set an axis title only when it changes: each change lays the chart out again."""
        if self.plot.getAxis(side).labelText != text:
            self.plot.setLabel(side, text)

    def _clicked(self, _item, spots, *_) -> None:
        if len(spots):
            self.versionClicked.emit(int(spots[0].data()))
