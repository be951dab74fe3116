"""The Run dock: what the compression job is doing, how far it is, Cancel, and its live charts."""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtCore import QTimer, Signal
from PySide6.QtWidgets import QHBoxLayout, QLabel, QProgressBar, QPushButton, QVBoxLayout, QWidget

from studio.gui.common.placeholder import Placeholder
from studio.gui.run.live_charts import LiveCharts

if TYPE_CHECKING:
    from studio.gui.run.session import Session

IDLE = "Run a compression from the toolbar (Prune, Quantize, Distill): its accuracy, zeros, size and loss show here as it works."
NOTHING = "Nothing running."
UNCHARTED = ("No curves for this run: its progress is on the line above; a search shows its candidates in the Compress "
             "panel and on the Pareto chart.")
REFRESH_MS = 100  # charts redraw at most ten times a second, however fast the job reports


class RunDock(QWidget):
    chartsShown = Signal(bool)  # whether it shows charts now, or only a line: the window sizes the dock to fit

    def __init__(self, session: Session, parent: QWidget | None = None):
        super().__init__(parent)
        self.session = session
        self.message = QLabel(NOTHING)  # the placeholder below says what to do: not twice
        self.message.setWordWrap(True)
        self.bar = QProgressBar()
        self.bar.setToolTip("How far the running job is")
        self.bar.setRange(0, 1000)
        self.bar.setValue(0)
        self.bar.setFormat("%p %")
        self.bar.setFixedWidth(220)
        self.cancel = QPushButton("Cancel")
        self.cancel.setToolTip("Stop the run: the version you started from stays as it is, and no new version is made")
        self.cancel.setEnabled(False)
        self.cancel.clicked.connect(session.cancel)
        self.charts = LiveCharts()
        self.charts_holder = Placeholder(self.charts, IDLE)
        self._timer = QTimer(self)
        self._timer.setInterval(REFRESH_MS)
        self._timer.timeout.connect(lambda: self._show_points(session.points))

        # one line above the charts, so that they get the dock's whole width (their legends fit on a line)
        top = QHBoxLayout()
        top.addWidget(self.message, 1)
        top.addWidget(self.bar)
        top.addWidget(self.cancel)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 2, 6, 2)
        layout.setSpacing(2)
        layout.addLayout(top)
        layout.addWidget(self.charts_holder, 1)

        session.runner.progress.connect(self._progress)
        session.runner.runningChanged.connect(self._running)
        session.runner.cancelled.connect(lambda: self.message.setText("Cancelled: nothing changed; the version you started from is still the current one."))
        session.failed.connect(lambda doing, error: self.message.setText(f"Stopped: {doing} failed."))
        session.noticed.connect(self.message.setText)
        session.currentChanged.connect(self._show_version)

    @property
    def has_charts(self) -> bool:
        return self.charts_holder.currentWidget() is self.charts

    def _running(self, running: bool) -> None:
        self.cancel.setEnabled(running)
        self.charts.set_running(running and self.session.tracing)
        if running:
            self.message.setText("Starting…")
            self.bar.setValue(0)
            version = self.session.version
            if self.session.tracing:  # a compression run: its agreement is charted against the version it starts from
                self.charts.set_start(None if version is None else f"v{version.id}")
            self._show_points(self.session.points)
            self._timer.start()
        else:
            self._timer.stop()
            self._show_points(self.session.points)

    def _progress(self, event) -> None:
        self.message.setText(event.message[:1].upper() + event.message[1:])
        self.bar.setValue(round(1000 * event.fraction))

    def _show_version(self, version) -> None:
        """Between runs, the charts show the run that made the selected version."""
        if self.session.running or version is None:
            if version is None:  # no model open: nothing of the last one stays
                self._show_points({})
            return
        points = self.session.charts.get(f"v{version.id}")
        if points:
            start = self.session.run_start(version.id)
            self.charts.set_start(None if start is None else f"v{start.id}")
        self._show_points(points or {})
        if points:
            self.message.setText(f"The run that made {version.label}.")
        elif not self.cancel.isEnabled():
            self.message.setText(NOTHING if version.parent is None else f"{version.label}: no charts were kept of the run that made it.")

    def _show_points(self, points: dict[str, list]) -> None:
        """Charts once there is something to chart; until then, what to do to get some."""
        had = self.has_charts
        self.charts.show_points(points)
        if any(points.values()):
            self.charts_holder.show_content()
        else:
            self.charts_holder.show_message(UNCHARTED if self.session.running and not self.session.tracing else IDLE)
            if not self.session.running:
                self.message.setText(NOTHING)
                self.bar.setValue(0)
        if self.has_charts != had:
            self.chartsShown.emit(self.has_charts)
