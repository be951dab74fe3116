"""A panel that says what to do while it has nothing to show."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLabel, QSizePolicy, QStackedWidget, QVBoxLayout, QWidget

OPEN_HINT = "Open a model or try a sample:\nFile → Open…, Samples ▾ in the toolbar, or drop a model file here."


class Placeholder(QStackedWidget):
    """Shows `content`, or a centred message in its place."""

    def __init__(self, content: QWidget, message: str = OPEN_HINT, parent: QWidget | None = None):
        super().__init__(parent)
        self._message = QLabel(message)
        self._message.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self._message.setWordWrap(True)
        self._message.setStyleSheet("color: #667085; font-size: 14px; padding: 12px")  # as the graph's own message
        self.addWidget(self._message)
        self.addWidget(content)
        self._content, self._policy = content, content.sizePolicy()
        self._fit(0)

    def show_content(self) -> None:
        if self.currentIndex() != 1:  # the run panel asks on every refresh of its charts
            self._fit(1)
            self.setCurrentIndex(1)

    def show_message(self, message: str = OPEN_HINT) -> None:
        if self.currentIndex() != 0 or self._message.text() != message:
            self._message.setText(message)
            self._fit(0)
            self.setCurrentIndex(0)

    def _fit(self, index: int) -> None:
        """A stack is as large as its largest page: the content hidden, its height is ignored, so that a
        panel showing only its message can be short (the Run panel, before any run); its width is kept,
        so that the window's minimum width does not grow when the content shows (a resize of the whole
        window, relaid out and repainted, while a model opens)."""
        hidden = QSizePolicy(self._policy.horizontalPolicy(), QSizePolicy.Policy.Ignored)
        self._content.setSizePolicy(self._policy if index == 1 else hidden)

    @property
    def message(self) -> str:
        return self._message.text() if self.currentIndex() == 0 else ""


def placeholder_in(owner: QWidget, content: QWidget, message: str = OPEN_HINT) -> Placeholder:
    """Fill `owner` with `content`, shown in place of `message` once there is something to show."""
    placeholder = Placeholder(content, message)
    layout = QVBoxLayout(owner)
    layout.setContentsMargins(0, 0, 0, 0)
    layout.addWidget(placeholder)
    return placeholder
