"""Labelled values, one per row, each with its tooltip: what the Model and Layer docks show."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QFormLayout, QLabel, QWidget


class ValueForm(QWidget):
    def __init__(self, fields: list[tuple[str, str]], parent: QWidget | None = None):
        """fields: (label, tooltip) per row."""
        super().__init__(parent)
        self.values: dict[str, QLabel] = {}
        form = QFormLayout(self)
        form.setContentsMargins(0, 0, 0, 0)
        for label, tip in fields:
            value = QLabel()
            value.setWordWrap(True)
            value.setTextFormat(Qt.TextFormat.RichText)  # values come escaped: without tags Qt would show the entities
            value.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
            value.setToolTip(tip)
            self.values[label] = value
            form.addRow(label + ":", value)

    def set_texts(self, texts: dict[str, str]) -> None:
        for label, text in texts.items():
            self.values[label].setText(text)
