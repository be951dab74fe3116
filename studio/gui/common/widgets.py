"""Small widget makers shared by the panels."""

from __future__ import annotations

from PySide6.QtWidgets import QPushButton


def button(text: str, tip: str, slot) -> QPushButton:
    """A push button with its tooltip, connected to `slot`."""
    made = QPushButton(text)
    made.setToolTip(tip)
    made.clicked.connect(slot)
    return made
