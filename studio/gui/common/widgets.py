"""Small widget makers shared by the panels."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QFrame, QPushButton, QScrollArea, QWidget


def button(text: str, tip: str, slot) -> QPushButton:
    """A push button with its tooltip, connected to `slot`."""
    made = QPushButton(text)
    made.setToolTip(tip)
    made.clicked.connect(slot)
    return made


def column_scroll(widget: QWidget) -> QScrollArea:
    """`widget` in a frameless area that scrolls up and down only: a narrow panel's text wraps, never clips."""
    scroll = QScrollArea()
    scroll.setWidget(widget)
    scroll.setWidgetResizable(True)
    scroll.setFrameShape(QFrame.Shape.NoFrame)
    scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
    return scroll
