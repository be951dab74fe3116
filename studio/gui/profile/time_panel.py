"""The Time tab: the Profile button, the measured latency, a chart of time by operator type, and why the
version is not faster, in plain sentences; all of the version named in its title."""

from __future__ import annotations

from html import escape
from typing import TYPE_CHECKING

import pyqtgraph as pg
from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QColor
from PySide6.QtWidgets import QGroupBox, QHBoxLayout, QLabel, QScrollArea, QSplitter, QVBoxLayout, QWidget

from studio.gui.common.plots import fit, plot_widget
from studio.gui.common.widgets import button

if TYPE_CHECKING:
    from studio.gui.profile.profile_job import TimeProfile

NOT_YET = ("Where does the time go? Profile runs the version shown in ONNX Runtime's profiler on examples of the "
           "chosen data, then shows each layer's time (Layers tab, and Colour by: Time in the Graph), the time by "
           "operator type, and why it is not faster.")
NOTHING_SAID = "Nothing stands out: no dynamic int8 convolutions, unfused conversions, float layers left in int8, " \
               "sparse weights run dense or operators on a fallback provider take a notable share of the time."
BAR = QColor("#f59f00")
MIN_CHART_HEIGHT = 150


class TimePanel(QWidget):
    profileRequested = Signal()

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.title = QLabel()
        self.title.setWordWrap(True)
        self.profile_button = button("Profile", "Time the version shown, node by node, in ONNX Runtime on examples of the "
                                     "chosen data (a few seconds, in the background)", lambda: self.profileRequested.emit())
        self.summary = QLabel()
        self.summary.setWordWrap(True)
        self.summary.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        top = QHBoxLayout()
        top.addWidget(self.title, 1)
        top.addWidget(self.profile_button, 0, Qt.AlignmentFlag.AlignTop)

        self.chart = plot_widget(x_label="ms per run")
        self.chart.setMinimumHeight(MIN_CHART_HEIGHT)
        self.chart.setToolTip("Time per run by the operator ONNX Runtime ran (a fused Conv + Relu is one FusedConv), "
                              "slowest on top")
        self.bars: pg.BarGraphItem | None = None
        chart_box = QGroupBox("Time by operator type")
        QVBoxLayout(chart_box).addWidget(self.chart)

        self.why = QLabel()
        self.why.setWordWrap(True)
        self.why.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.why.setAlignment(Qt.AlignmentFlag.AlignTop | Qt.AlignmentFlag.AlignLeft)
        scroll = QScrollArea()
        scroll.setWidget(self.why)
        scroll.setWidgetResizable(True)
        scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.why_box = QGroupBox("Why is it not faster?")
        self.why_box.setToolTip("Causes read from the measurements, each with what to do instead")
        QVBoxLayout(self.why_box).addWidget(scroll)

        split = QSplitter(Qt.Orientation.Horizontal)
        split.setChildrenCollapsible(False)
        split.addWidget(chart_box)
        split.addWidget(self.why_box)
        split.setSizes([450, 550])
        column = QVBoxLayout(self)
        column.setContentsMargins(8, 8, 8, 8)
        column.addLayout(top)
        column.addWidget(self.summary)
        column.addWidget(split, 1)
        self.clear()

    def clear(self, version: str = "") -> None:
        """Not profiled: the version shown (`version`) has no profile yet."""
        self.title.setText(f"<b>Time of {escape(version)}</b>: not profiled yet" if version else "<b>Time</b>: not profiled yet")
        self.summary.setText(NOT_YET)
        self.why.setText("")
        self.why_box.setEnabled(False)
        self.chart.clear()
        self.bars = None
        self.chart.getAxis("left").setTicks([[]])

    def set_runnable(self, why_not: str) -> None:
        self.profile_button.setEnabled(not why_not)
        self.profile_button.setToolTip(why_not or "Time the version shown, node by node, in ONNX Runtime on examples of the "
                                       "chosen data (a few seconds, in the background)")

    def show_profile(self, p: TimeProfile) -> None:
        self.title.setText(f"<b>Where the time goes in {escape(p.version)}</b>")
        overhead = f"; {p.unplaced_ms / p.total_ms:.0%} of it in nodes the graph does not show apart" if p.unplaced_ms and p.total_ms else ""
        self.summary.setText(f"Latency {p.latency_ms:.3g} ms per run without the profiler ({escape(p.setting)}); the nodes "
                             f"take {p.total_ms:.3g} ms of a profiled run{overhead}. " + " ".join(escape(n[:1].upper() + n[1:]) + "." for n in p.notes))
        self.why_box.setEnabled(True)
        self.why.setText("".join(f"<p>{escape(s)}</p>" for s in p.why) if p.why else f"<p>{NOTHING_SAID}</p>")
        ops = list(p.by_op.items())[::-1]  # slowest on top
        self.chart.clear()
        self.bars = pg.BarGraphItem(x0=0, y=list(range(len(ops))), height=0.7, width=[ms for _, ms in ops], brush=BAR, pen=BAR.darker(130))
        self.chart.addItem(self.bars)
        self.chart.getAxis("left").setTicks([[(i, f"{op} ({p.share(ms):.0%})") for i, (op, ms) in enumerate(ops)]])
        fit(self.chart, [0.0, max((ms for _, ms in ops), default=1.0)], [-0.5, len(ops) - 0.5], padding=0.02)
