"""The Compress side sheet: one form per action (prune, quantize, distill), each with a title, a line
that says what it buys, and Run. A sheet only describes the steps; the session runs them."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QHBoxLayout, QLabel, QPushButton, QStackedWidget, QVBoxLayout, QWidget

from studio.gui.common.help_button import help_button
from studio.gui.common.widgets import column_scroll

if TYPE_CHECKING:
    from studio.core.project.analysis import ModelInfo


class Sheet(QWidget):
    runRequested = Signal()  # the window asks steps() and runs them
    title = ""
    terms: tuple[str, ...] = ()  # glossary words for what the sheet does: a "?" beside its title explains them

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        heading = QLabel(f"<h3 style='margin:0'>{self.title}</h3>")
        self.buys = QLabel()
        self.buys.setWordWrap(True)
        self.buys.setStyleSheet("color: #2b5d8a; font-style: italic")
        self.buys.setToolTip("What this operation buys you, in one line")
        self.run_button = QPushButton(f"Run {self.title.lower()}")
        self.run_button.setDefault(True)
        self.run_button.clicked.connect(self.runRequested)
        self.body = QVBoxLayout()
        self.body.setContentsMargins(0, 0, 0, 0)
        inner = QWidget()
        inner.setLayout(self.body)
        scroll = column_scroll(inner)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(8, 6, 8, 8)
        title = QHBoxLayout()
        title.addWidget(heading)
        if self.terms:
            title.addWidget(help_button(*self.terms))
        title.addStretch(1)
        layout.addLayout(title)
        layout.addWidget(self.buys)
        layout.addWidget(scroll, 1)
        layout.addWidget(self.run_button)

    def steps(self) -> list[tuple[str, dict]]:
        """The recipe steps (op, options) the form describes; a StudioError says what is missing."""
        raise NotImplementedError

    def show_model(self, info: ModelInfo) -> None:
        """Fill the layer lists and the choices this model allows."""

    def set_runnable(self, reason: str) -> None:
        """Run is possible when `reason` is empty; otherwise its tooltip says why not."""
        self.run_button.setEnabled(not reason)
        self.run_button.setToolTip(reason or f"{self.title} the current version; the result becomes a new version")


class CompressSheet(QStackedWidget):
    """The sheets, one shown at a time. Each is built the first time it is shown: their forms come from
    core's option tables, which import torch and ONNX, and the window shows before those load."""

    sheetBuilt = Signal(str, object)  # name, Sheet

    def __init__(self, factories: dict[str, Callable[[], Sheet]], parent: QWidget | None = None):
        super().__init__(parent)
        self.factories = factories
        self.sheets: dict[str, Sheet] = {}

    def sheet(self, name: str) -> Sheet:
        if name not in self.sheets:
            self.sheets[name] = self.factories[name]()
            self.addWidget(self.sheets[name])
            self.sheetBuilt.emit(name, self.sheets[name])
        return self.sheets[name]

    def show_sheet(self, name: str) -> Sheet:
        self.setCurrentWidget(self.sheet(name))
        return self.sheets[name]


def weighted_layers(info: ModelInfo) -> list[tuple[str, str, int]]:
    """(name, type, weights) of the layers with a weight matrix or kernel: what can be pruned or kept float."""
    return [(layer.name, layer.type, sum(w.size for w in layer.weights.values() if w.ndim >= 2))
            for layer in info.layers if any(w.ndim >= 2 for w in layer.weights.values())]
