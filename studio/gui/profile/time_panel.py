"""The Time tab: the Profile button, the measured latency, a chart of time by operator type, and why the
version is not faster, in plain sentences; all of the version named in its title. Under them, when
another version is chosen in "Compare with", the two compared layer by layer (compare_table)."""

from __future__ import annotations

from html import escape
from typing import TYPE_CHECKING

import pyqtgraph as pg
from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QColor
from PySide6.QtWidgets import QComboBox, QGroupBox, QHBoxLayout, QLabel, QScrollArea, QSplitter, QVBoxLayout, QWidget

from studio.gui.common.plots import fit, plot_widget
from studio.gui.common.widgets import button
from studio.gui.profile.compare_table import ComparisonView

if TYPE_CHECKING:
    from studio.core.evaluate.profile_compare import Comparison
    from studio.gui.profile.profile_job import TimeProfile

NOT_YET = ("Where does the time go? Profile runs the version shown in ONNX Runtime's profiler on examples of the "
           "chosen data, then shows each layer's time (Layers tab, and Colour by: Time in the Graph), the time by "
           "operator type, and why it is not faster.")
NOTHING_SAID = "Nothing stands out: no dynamic int8 convolutions, unfused conversions, float layers left in int8, " \
               "sparse weights run dense or operators on a fallback provider take a notable share of the time."
BAR = QColor("#f59f00")
MIN_CHART_HEIGHT = 150
NO_COMPARISON = "another version…"
COMPARE_TIP = ("Compare this version's time with another's, layer by layer: which layers got faster or slower, and by "
               "how much. A version not profiled yet is profiled first, in the background.")
COMPARE_HINT = "which layers got faster or slower, and by how much"
MIN_COMPARE_HEIGHT = 150


class TimePanel(QWidget):
    profileRequested = Signal()
    compareChosen = Signal(object)  # the id of the version to compare with, or None

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.title = QLabel()
        self.title.setWordWrap(True)
        self.profile_button = button("Profile", "Time the version shown, node by node, in ONNX Runtime on examples of the "
                                     "chosen data (a few seconds, in the background)", lambda: self.profileRequested.emit())
        self.summary = QLabel()
        self.summary.setWordWrap(True)
        self.summary.setTextFormat(Qt.TextFormat.RichText)  # escaped text: a note without tags would show its entities
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

        self.compare_choice = QComboBox()
        self.compare_choice.setToolTip(COMPARE_TIP)
        self.compare_choice.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToContents)
        self.compare_choice.setMaximumWidth(300)
        self.compare_choice.activated.connect(lambda i: self.compareChosen.emit(self.compare_choice.itemData(i)))
        label = QLabel("<b>Compare with</b>")
        label.setBuddy(self.compare_choice)
        self.compare_hint = QLabel(COMPARE_HINT)
        self.compare_hint.setEnabled(False)  # greyed: a hint, not a value
        row = QHBoxLayout()
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(label)
        row.addWidget(self.compare_choice)
        row.addWidget(self.compare_hint)
        row.addStretch(1)
        self.comparison = ComparisonView()
        self.compare_section = QWidget()
        section = QVBoxLayout(self.compare_section)
        section.setContentsMargins(0, 4, 0, 0)
        section.addLayout(row)
        section.addWidget(self.comparison, 1)
        self._row_height = row.sizeHint().height() + 4
        self.stack = QSplitter(Qt.Orientation.Vertical)
        self.stack.setChildrenCollapsible(False)
        self.stack.addWidget(split)
        self.stack.addWidget(self.compare_section)
        self._grown = False
        column = QVBoxLayout(self)
        column.setContentsMargins(8, 8, 8, 8)
        column.addLayout(top)
        column.addWidget(self.summary)
        column.addWidget(self.stack, 1)
        self.set_compare_choices([], None)
        self.hide_comparison()
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
        own = f", about {p.profiler_ms:.2g} ms of that the profiler's own" if p.profiler_ms >= 0.05 * p.total_ms else ""
        self.summary.setText(f"Latency {p.latency_ms:.3g} ms per run without the profiler ({escape(p.setting)}); the nodes "
                             f"take {p.total_ms:.3g} ms of a profiled run{own}{overhead}. "
                             + " ".join(escape(n[:1].upper() + n[1:]) + "." for n in p.notes))
        self.why_box.setEnabled(True)
        self.why.setText("".join(f"<p>{escape(s)}</p>" for s in p.why) if p.why else f"<p>{NOTHING_SAID}</p>")
        ops = list(p.by_op.items())[::-1]  # slowest on top
        self.chart.clear()
        self.bars = pg.BarGraphItem(x0=0, y=list(range(len(ops))), height=0.7, width=[ms for _, ms in ops], brush=BAR, pen=BAR.darker(130))
        self.chart.addItem(self.bars)
        self.chart.getAxis("left").setTicks([[(i, f"{op} ({p.share(ms):.0%})") for i, (op, ms) in enumerate(ops)]])
        fit(self.chart, [0.0, max((ms for _, ms in ops), default=1.0)], [-0.5, len(ops) - 0.5], padding=0.02)

    # ---- comparing with another version ----------------------------------------------------------

    def set_compare_choices(self, choices: list[tuple[int, str]], chosen: int | None) -> None:
        """The versions it can be compared with (id, label as shown) and the one chosen."""
        self.compare_choice.blockSignals(True)
        self.compare_choice.clear()
        self.compare_choice.addItem(NO_COMPARISON, None)
        for vid, label in choices:
            self.compare_choice.addItem(label, vid)
        found = self.compare_choice.findData(chosen) if chosen is not None else 0
        self.compare_choice.setCurrentIndex(max(found, 0))
        self.compare_choice.blockSignals(False)
        self.compare_choice.setEnabled(bool(choices))
        self.compare_choice.setToolTip(COMPARE_TIP if choices else "Make another version (Prune, Quantize, Distill) to compare "
                                       "this one with")

    def show_comparison(self, c: Comparison, note: str = "") -> None:
        self.comparison.show_comparison(c, note)
        self._open(True, MIN_COMPARE_HEIGHT, grow=True)

    def compare_message(self, text: str) -> None:
        self.comparison.show_message(text)
        self._open(True, self._row_height + 2 * self.fontMetrics().height())

    def hide_comparison(self) -> None:
        self.comparison.show_message("")
        self._open(False, self._row_height)

    def _open(self, shown: bool, height: int, grow: bool = False) -> None:
        """The comparison under the Compare with row, or a line of it, or the row alone: kept low unless a
        table shows, so that the chart above takes the room."""
        self.comparison.setVisible(shown)
        self.compare_hint.setVisible(not shown)
        self.compare_section.setMinimumHeight(height)
        self.compare_section.setMaximumHeight(16777215 if grow else height)
        if grow and not self._grown:  # a table opens: the chart and the reasons above shrink to their least
            self.stack.setSizes([0, self.stack.height()])
        self._grown = grow
