"""The Run dock: what the compression job is doing, how far it is, Cancel, and its live charts."""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QHBoxLayout, QLabel, QProgressBar, QPushButton, QVBoxLayout, QWidget

from studio.gui.common.placeholder import Placeholder
from studio.gui.run.live_charts import LiveCharts

if TYPE_CHECKING:
    from studio.gui.run.session import Session

IDLE = "Run a compression from the toolbar (Prune, Quantize, Distill): its accuracy, zeros, size and loss show here as it works."
REFRESH_MS = 100  # charts redraw at most ten times a second, however fast the job reports


class RunDock(QWidget):
    def __init__(self, session: Session, parent: QWidget | None = None):
        super().__init__(parent)
        self.session = session
        self.message = QLabel(IDLE)
        self.message.setWordWrap(True)
        self.bar = QProgressBar()
        self.bar.setToolTip("How far the running job is")
        self.bar.setRange(0, 1000)
        self.bar.setValue(0)
        self.bar.setFormat("%p %")
        self.cancel = QPushButton("Cancel")
        self.cancel.setToolTip("Stop the run: the version you started from stays as it is, and no new version is made")
        self.cancel.setEnabled(False)
        self.cancel.clicked.connect(session.cancel)
        self.charts = LiveCharts()
        self.charts_holder = Placeholder(self.charts, IDLE)
        self._timer = QTimer(self)
        self._timer.setInterval(REFRESH_MS)
        self._timer.timeout.connect(lambda: self._show_points(session.points))

        side = QVBoxLayout()
        side.addWidget(self.message, 1)
        side.addWidget(self.bar)
        side.addWidget(self.cancel)
        side_widget = QWidget()
        side_widget.setLayout(side)
        side_widget.setFixedWidth(190)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(6, 2, 6, 2)
        layout.addWidget(side_widget)
        layout.addWidget(self.charts_holder, 1)

        session.runner.progress.connect(self._progress)
        session.runner.runningChanged.connect(self._running)
        session.runner.cancelled.connect(lambda: self.message.setText("Cancelled: nothing changed; the version you started from is still the current one."))
        session.failed.connect(lambda doing, error: self.message.setText(f"Stopped: {doing} failed."))
        session.noticed.connect(self.message.setText)
        session.currentChanged.connect(self._show_version)

    def _running(self, running: bool) -> None:
        self.cancel.setEnabled(running)
        if running:
            self.message.setText("Starting…")
            self.bar.setValue(0)
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
            return
        points = self.session.charts.get(f"v{version.id}")
        self._show_points(points or {})
        if points:
            self.message.setText(f"The run that made {version.label}.")
        elif not self.cancel.isEnabled():
            self.message.setText(IDLE if version.parent is None else f"{version.label}: no charts were kept of the run that made it.")

    def _show_points(self, points: dict[str, list]) -> None:
        """Charts once there is something to chart; until then, what to do to get some."""
        self.charts.show_points(points)
        if any(points.values()):
            self.charts_holder.show_content()
        else:
            self.charts_holder.show_message(IDLE)
            if not self.session.running:
                self.message.setText("Nothing running.")
                self.bar.setValue(0)
