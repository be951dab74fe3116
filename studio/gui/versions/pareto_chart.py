"""Every version as a point, size or latency (log scale) against accuracy; the versions no other beats on
both are the frontier, drawn as a line. Clicking a point selects that version. During and after a
goal-driven search, its candidates are drawn too (diamonds), and its goal as the shaded area that meets it."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import pyqtgraph as pg
from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QColor
from PySide6.QtWidgets import QComboBox, QHBoxLayout, QLabel, QVBoxLayout, QWidget

from studio.gui.common import metric_text
from studio.gui.common.plots import SELECTED, BytesAxis, fit, plot_widget, swatch

if TYPE_CHECKING:
    from studio.core.project.versions import Version

FRONT = QColor("#2b8a3e")
OTHER = QColor("#adb5bd")
CANDIDATE = QColor("#e8590c")
GOAL = QColor(43, 138, 62, 45)  # translucent: the points in it stay readable
GOAL_KEY = QColor("#b5dbbd")  # the same, as it looks on white
SIZES = {"zip_bytes": "zipped", "size_bytes": "as stored", "latency_ms": "latency"}  # what the x axis plots
MIN_HEIGHT = 150  # pixels: both axes' titles and a readable spread of points
NEAR = 0.06  # of the ranges: points closer than this share a label
LABEL_ROOM = 0.12  # of the x range, right of the largest version: its label (v0) is written right of the point


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
        self.plot.setMinimumHeight(MIN_HEIGHT)
        self.plot.setToolTip("Each point is a version: further left is smaller, higher is more accurate. "
                             "Green: the frontier, versions no other beats on both. Click a point to select it. "
                             "Orange diamonds: the candidates of the last search (Make it smaller); shaded: where its goal is met.")
        self.points = pg.PlotDataItem([], [], pen=None, symbol="o", symbolSize=11)
        self.points.sigPointsClicked.connect(self._clicked)
        self.line = pg.PlotDataItem([], [], pen=pg.mkPen(FRONT, width=2))
        self.goal = pg.PlotDataItem([], [], pen=pg.mkPen(FRONT, width=1, style=Qt.PenStyle.DashLine), brush=pg.mkBrush(GOAL))
        self.tried = pg.PlotDataItem([], [], pen=None, symbol="d", symbolSize=9, symbolBrush=pg.mkBrush(None),
                                     symbolPen=pg.mkPen(CANDIDATE, width=1.5))
        for item in (self.goal, self.tried, self.line, self.points):  # the versions on top
            self.plot.addItem(item)
        self._candidates: list[dict] = []  # the last search's candidates' metrics
        self._bounds: dict[str, float] = {}  # its goal: the most each x axis may show ({"zip_bytes": …})…
        self._floor: float | None = None  # …and the least accuracy (or agreement), 0–1
        self.labels: list[pg.TextItem] = []
        self.size = QComboBox()
        for key, text in SIZES.items():
            self.size.addItem(text, key)
        self.size.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.size.setMinimumContentsLength(7)
        self.size.setToolTip("What the chart plots across: the size once zipped (shows what pruning saves), as stored, "
                             "or the latency at batch 1 (each version timed on an example of the data in its own runtime)")
        self.size.currentIndexChanged.connect(lambda: self.show_versions(self._versions, self._current))
        self.caption = QLabel("<b>Size × accuracy</b>")
        self.caption.setToolTip(self.plot.toolTip())
        # the key on a line of its own: beside the title and the axis choice, a narrow dock wrapped it mid-way
        self.legend = QLabel(self._key())
        self.legend.setToolTip(self.plot.toolTip())
        self.legend.setWordWrap(True)  # with a search's keys too, it would widen the Versions dock
        self.note = QLabel("<i>Without labels, each version's agreement with its parent: how often it gives the same "
                           "answer as the version it was made from.</i>")
        self.note.setWordWrap(True)
        self.note.hide()
        header = QHBoxLayout()
        header.addWidget(self.caption, 1)
        header.addWidget(self.size)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(header)
        layout.addWidget(self.legend)
        layout.addWidget(self.note)
        layout.addWidget(self.plot, 1)

    def _key(self) -> str:
        """The chart's key: the frontier and the beaten versions, and a search's candidates and goal once there is one."""
        tried = f" &nbsp; {swatch(CANDIDATE, 'tried')} &nbsp; {swatch(GOAL_KEY, 'goal')}" if self._candidates else ""
        return f"{swatch(FRONT, 'frontier')} &nbsp; {swatch(OTHER, 'beaten')}{tried}"

    def show_versions(self, versions: dict[int, Version], current: int | None) -> None:
        from studio.core.project.pareto import pareto_front

        self._versions, self._current = versions, current
        key = self.size.currentData()
        measured = {vid: v for vid, v in versions.items() if key in v.metrics and metric_text.score(v.metrics)}
        metric = "accuracy" if all("accuracy" in v.metrics for v in measured.values()) else "agreement"
        points = {vid: (float(v.metrics[key]), float(v.metrics.get(metric, math.nan))) for vid, v in measured.items()}
        points = {vid: p for vid, p in points.items() if not math.isnan(p[1])}
        self.front = pareto_front(points)
        latency = key == "latency_ms"
        self.plot.getAxis("bottom").unit = "ms" if latency else "bytes"
        self._label("bottom", "latency at batch 1 (log scale)" if latency else f"size {SIZES[key]} (log scale)")
        title = "Latency × accuracy" if latency else "Size × accuracy"
        self.caption.setText(f"<b>{title}</b>")
        self.legend.setText(self._key())
        self._label("left", f"{metric} (%)")  # a longer title is cut on a short chart: the note says what agreement is
        self.note.setVisible(metric == "agreement" and bool(points))
        ids = list(points)
        brushes = [pg.mkBrush(FRONT if vid in self.front else OTHER) for vid in ids]
        pens = [pg.mkPen(SELECTED, width=3) if vid == current else pg.mkPen(None) for vid in ids]
        self.points.setData([points[v][0] for v in ids], [100 * points[v][1] for v in ids], data=ids,
                            symbolBrush=brushes, symbolPen=pens)
        self.line.setData([points[v][0] for v in self.front], [100 * points[v][1] for v in self.front])
        for label in self.labels:
            self.plot.removeItem(label)
        self.labels = []
        xs = [math.log10(max(points[v][0], 1)) for v in ids]
        ys = [100 * points[v][1] for v in ids]
        for (x, y), vids in _spots(ids, xs, ys).items():  # right of its point, level with it: above the top point it was cut off
            label = pg.TextItem(", ".join(f"v{vid}" for vid in vids), color=self.palette().text().color(), anchor=(-0.25, 0.5))
            label.setPos(x, y)
            self.plot.addItem(label)
            self.labels.append(label)
        xs, ys = self._show_search(key, metric, xs, ys)
        room = (max(xs) - min(xs)) * LABEL_ROOM if len(xs) > 1 else 0.0
        fit(self.plot, xs + ([max(xs) + room] if xs else []), ys, padding=0.15)

    def show_candidates(self, candidates: list[dict], bounds: dict[str, float] | None = None, floor: float | None = None) -> None:
        """A search's candidates (their metrics), and its goal: the most each x axis may show (`bounds`, by
        metric; an axis the goal does not limit is left out) and the least accuracy or agreement (`floor`)."""
        self._candidates, self._bounds, self._floor = candidates, bounds or {}, floor
        self.show_versions(self._versions, self._current)

    def _show_search(self, key: str, metric: str, xs: list[float], ys: list[float]) -> tuple[list[float], list[float]]:
        """Draw the candidates and the goal's area; returns the x (log) and y values the chart must show."""
        tried = [(float(m[key]), 100 * float(m[metric])) for m in self._candidates if m.get(key) and m.get(metric) is not None]
        self.tried.setData([x for x, _ in tried], [y for _, y in tried])
        xs, ys = xs + [math.log10(x) for x, _ in tried], ys + [y for _, y in tried]
        if self._floor is None or not xs:
            self.goal.setData([], [])
            return xs, ys
        floor, top = 100 * self._floor, max(ys + [100 * self._floor]) + 100  # the area reaches past the top
        high = self._bounds.get(key)
        edge = math.log10(high) if high else max(xs) + 10  # no limit on this axis: past the right
        self.goal.setData([10 ** (min(xs + [edge]) - 10), 10 ** edge, 10 ** edge], [floor, floor, top], fillLevel=top)
        return xs + ([edge] if high else []), ys + [floor]

    def _label(self, side: str, text: str) -> None:
        """Set an axis title only when it changes: each change lays the chart out again."""
        if self.plot.getAxis(side).labelText != text:
            self.plot.setLabel(side, text)

    def _clicked(self, _item, spots, *_) -> None:
        if len(spots):
            self.versionClicked.emit(int(spots[0].data()))


def _spots(ids: list[int], xs: list[float], ys: list[float]) -> dict[tuple[float, float], list[int]]:
    """Versions whose points lie within a label's size of each other (a fine-tuning that changed little)
    under one label, "v1, v2", at the first one's point: two labels there were drawn over each other."""
    span_x, span_y = (max(xs) - min(xs) or 1.0, max(ys) - min(ys) or 1.0) if xs else (1.0, 1.0)
    spots: dict[tuple[float, float], list[int]] = {}
    for vid, x, y in zip(ids, xs, ys):
        near = next((spot for spot in spots if abs(spot[0] - x) < NEAR * span_x and abs(spot[1] - y) < NEAR * span_y), None)
        spots.setdefault(near or (x, y), []).append(vid)
    return spots
