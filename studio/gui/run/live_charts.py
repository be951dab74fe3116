"""Four small charts of a run: accuracy, zeros, size and loss against the time into the run. They draw
whatever points they are given ({metric: [[x, y], …]}); the Run dock hands them new points a few
times a second, never once per event."""

from __future__ import annotations

import pyqtgraph as pg
from PySide6.QtCore import Qt, QTimer
from PySide6.QtGui import QColor
from PySide6.QtWidgets import QHBoxLayout, QLabel, QVBoxLayout, QWidget

from studio.gui.common.plots import fit, plot_widget, swatch

BLUE, GREEN, ORANGE, GREY, PURPLE = (QColor(c) for c in ("#4a7ab5", "#2b8a3e", "#e8590c", "#868e96", "#7048e8"))
X_LABEL = "time into the run (s)"
STAGGER_MS = 10  # between two charts' redraws: Qt paints each in a pass of its own
DOTS_UP_TO = 30  # a curve with more points is drawn as a line only: a dot on each halves the frame rate, and hides the line
CHARTS = {  # name: (y label, SI units, [(metric, legend, colour, scale)], tooltip)
    "accuracy": ("accuracy (%)", None, [("accuracy", "accuracy (test split)", BLUE, 100),
                                        ("agreement", "agreement with {start}", GREEN, 100)],
                 "Accuracy on the test split after each epoch and each step. Agreement: how often the new version "
                 "gives the same answer as the version the run started from (a later step's agreement with the step "
                 "before it is in the Versions panel). Dashed: the teacher's accuracy."),
    "zeros": ("exactly zero (%)", None, [("sparsity", "weights exactly zero", ORANGE, 100)],
              "Share of all weights that are exactly zero, measured when each step ends"),
    "size": ("size", "B", [("size_bytes", "as stored", BLUE, 1), ("zip_bytes", "zipped", GREEN, 1)],
             "Size of the weights as stored, and once zipped (pruned zeros shrink the zipped size), after each step"),
    "loss": ("loss", None, [("loss", "total", GREY, 1), ("loss_distill", "teacher part", PURPLE, 1),
                            ("loss_labels", "labels part", ORANGE, 1)],
             "Training loss (lower is better): for distillation, its part from imitating the teacher and its "
             "part from matching the labels"),
}
START = "the run's start"  # the version the run started from, until it is named (set_start)
NOTHING = {"accuracy": "not measured: no data chosen", "loss": "no training in this run"}  # a run that charts nothing here
Y_LABELS = {("accuracy",): "accuracy (%)", ("agreement",): "agreement (%)", ("accuracy", "agreement"): "%"}  # both: the legend says
MIN_CHART_HEIGHT = 150  # pixels: axis titles, ticks and a readable curve


class LiveCharts(QWidget):
    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.plots: dict[str, pg.PlotWidget] = {}
        self.curves: dict[str, pg.PlotDataItem] = {}
        self._drawn: dict[str, int] = {}  # chart: how many of its points are on screen
        self._points: dict[str, list] = {}
        self._pending: list[str] = []  # charts still to redraw with _points
        self._x_end = 1.0  # the common time axis ends here (see _round_up)
        self._start = START
        self.running = False  # the run charted is going on: a chart without points may get some yet
        self.legends: dict[str, QLabel] = {}
        row = QHBoxLayout(self)
        row.setContentsMargins(0, 0, 0, 0)
        for name, (y_label, units, series, tip) in CHARTS.items():
            plot = plot_widget(self, X_LABEL, y_label)
            if units:
                plot.setLabel("left", y_label, units=units)
                plot.getAxis("left").enableAutoSIPrefix(True)
            plot.setToolTip(tip)
            plot.setMouseEnabled(x=False, y=False)
            if name == "zeros":  # a share: always on its whole scale
                plot.setYRange(0, 100, padding=0.02)
            plot.setMinimumSize(100, MIN_CHART_HEIGHT)
            for metric, _, colour, _ in series:
                curve = plot.plot([], [], pen=pg.mkPen(colour, width=2), symbol="o", symbolSize=5, symbolBrush=colour, symbolPen=None)
                curve.setDownsampling(auto=True, method="peak")
                curve.setClipToView(True)
                self.curves[metric] = curve
            self.plots[name] = plot
            legend = QLabel()  # one line: its entries are short, and only the series with points show
            legend.setToolTip(tip)
            self.legends[name] = legend
            column = QVBoxLayout()
            column.setSpacing(2)
            column.addWidget(legend)
            column.addWidget(plot, 1)
            row.addLayout(column, 1)
        self.teacher = pg.InfiniteLine(angle=0, pen=pg.mkPen(PURPLE, width=1.5, style=Qt.PenStyle.DashLine),
                                       label="teacher", labelOpts={"position": 0.8, "color": PURPLE, "anchors": [(1, 1), (1, 1)]})
        self.plots["accuracy"].addItem(self.teacher, ignoreBounds=True)
        self.teacher.hide()
        self._show_legends()

    def set_running(self, running: bool) -> None:
        """Whether the run charted is going on: until it ends, a chart without points may get some."""
        self.running = running
        self._show_legends()

    def set_start(self, label: str | None) -> None:
        """Name the version the run started from (v0): the agreement charted is with it."""
        self._start = label or START
        self._show_legends()

    def _show_legends(self) -> None:
        """Each chart's legend lists the series it has points of (all of them while none has any), and
        the accuracy chart's axis says which of accuracy and agreement it shows."""
        ran = any(self._points.values())
        for name, (_, _, series, _) in CHARTS.items():
            drawn = [(metric, text, colour) for metric, text, colour, _ in series if self._points.get(metric)]
            entries = drawn or [(metric, text, colour) for metric, text, colour, _ in series]
            text = " &nbsp; ".join(swatch(colour, text.format(start=self._start)) for _, text, colour in entries)
            if ran and not self.running and not drawn and name in NOTHING:  # empty axes with a legend read as a broken chart
                text = f'<span style="color:#868e96">{NOTHING[name]}</span>'
            self.legends[name].setText(text)
            if name == "accuracy":
                label = Y_LABELS[tuple(metric for metric, _, _ in entries)] if drawn else CHARTS[name][0]
                if self.plots[name].getAxis("left").labelText != label:  # a change lays the chart out again
                    self.plots[name].setLabel("left", label)

    def show_points(self, points: dict[str, list]) -> None:
        """Draw these points: only the charts that have new ones (while training, mostly the loss). One
        chart is redrawn per paint of the window, a few milliseconds apart: the four at once would hold
        the window past the stall target, and longer while a job competes for Python's lock. The charts share no
        links, so drawing one never repaints another; each takes the common time axis when its turn comes."""
        counts = {name: sum(len(points.get(m, [])) for m in _metrics(name)) for name in CHARTS}
        x_end = _round_up(max((xy[-1][0] for xy in points.values() if xy), default=1.0))
        changed = [name for name in CHARTS if counts[name] != self._drawn.get(name) or x_end != self._x_end]
        if not changed:
            return
        self._drawn, self._x_end = counts, x_end
        waiting = self._pending  # charts of the last call not drawn yet stay in line
        self._points, self._pending = points, [name for name in CHARTS if name in changed or name in waiting]
        self._show_legends()
        for name in self._pending[1:]:  # shown for the first time, they would all paint at once
            self.plots[name].setUpdatesEnabled(False)
        self._draw_next()

    def _draw_next(self) -> None:
        if not self._pending:
            return
        name = self._pending.pop(0)
        self.plots[name].setUpdatesEnabled(True)
        ys = []
        for metric, _, _, scale in CHARTS[name][2]:
            xy = self._points.get(metric, [])
            ys += [p[1] * scale for p in xy]
            curve = self.curves[metric]
            dots = len(xy) <= DOTS_UP_TO
            if dots != (curve.opts["symbol"] is not None):
                curve.setSymbol("o" if dots else None)
            curve.setData([p[0] for p in xy], ys[len(ys) - len(xy):])
        if name == "accuracy" and self._points.get("teacher_accuracy"):
            ys.append(100 * self._points["teacher_accuracy"][-1][1])
        fit(self.plots[name], [0, self._x_end], None, padding=0.02)
        if name != "zeros":  # room above and below: a dot at the top or bottom was cut in half by the frame
            fit(self.plots[name], None, ys, padding=0.08)
        if "accuracy" not in self._pending:
            teacher = self._points.get("teacher_accuracy")
            if teacher:
                self.teacher.setValue(100 * teacher[-1][1])
                self.teacher.label.setFormat(f"teacher {100 * teacher[-1][1]:.1f} %")
            self.teacher.setVisible(bool(teacher))
        if self._pending:
            QTimer.singleShot(STAGGER_MS, self, self._draw_next)

    def clear(self) -> None:
        self.show_points({})


def _round_up(seconds: float) -> float:
    """The end of the common time axis: the next of 1, 2, 5, 10, 20, 50… seconds, so that it moves
    (and all four charts redraw) rarely."""
    end = 1.0
    while end < seconds:
        end *= 2.5 if str(end)[0] == "2" else 2
    return end


def _metrics(chart: str) -> list[str]:
    return [metric for metric, *_ in CHARTS[chart][2]] + (["teacher_accuracy"] if chart == "accuracy" else [])
