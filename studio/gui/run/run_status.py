"""Progress of the running job in the status bar: what it does, how far it is, and Cancel."""

from __future__ import annotations

from PySide6.QtWidgets import QHBoxLayout, QLabel, QProgressBar, QPushButton, QWidget

from studio.gui.run.worker import JobRunner


class RunStatus(QWidget):
    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.message = QLabel()
        self.bar = QProgressBar()
        self.bar.setMaximumWidth(180)
        self.bar.setToolTip("How far the running job is")
        self.cancel = QPushButton("Cancel")
        self.cancel.setToolTip("Stop the running job; the model that is open stays as it is")
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.message)
        layout.addWidget(self.bar)
        layout.addWidget(self.cancel)
        self.hide()

    def follow(self, runner: JobRunner) -> None:
        runner.progress.connect(self._progress)
        runner.runningChanged.connect(self._running)
        self.cancel.clicked.connect(runner.cancel)

    def _running(self, running: bool) -> None:
        if running:
            self.bar.setRange(0, 0)  # busy until the first progress event
            self.message.setText("Starting…")
        self.setVisible(running)

    def _progress(self, event) -> None:
        self.message.setText(event.message[:1].upper() + event.message[1:] + "…")
        if event.total:
            self.bar.setRange(0, event.total)
            self.bar.setValue(event.step)
