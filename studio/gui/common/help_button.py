"""A small "?" beside a word the window uses: hovering or clicking it shows what the word means, from
the glossary (studio/gui/common/glossary.py)."""

from __future__ import annotations

from html import escape

from PySide6.QtCore import QPoint
from PySide6.QtWidgets import QToolButton, QWhatsThis, QWidget

from studio.gui.common.glossary import entry

MORE = "Every word: Help → Glossary."


def explanation(terms: tuple[str, ...]) -> str:
    """The definitions of `terms` as rich text (a tooltip wraps it; plain text would be one long line)."""
    parts = [f"<p><b>{escape(term)}</b>: {escape(entry(term))}</p>" for term in terms]
    return "<qt>" + "".join(parts) + f"<p><i>{MORE}</i></p></qt>"


class HelpButton(QToolButton):
    """ "?" for `terms`: its tooltip is their definitions; a click keeps them up until the next click."""

    def __init__(self, *terms: str, parent: QWidget | None = None):
        super().__init__(parent)
        self.terms = terms
        self.text_shown = explanation(terms)  # KeyError here: every "?" has an answer
        self.setText("?")
        self.setObjectName("help_button")
        self.setAutoRaise(True)
        self.setToolTip(self.text_shown)
        self.setAccessibleName(f"What {', '.join(terms)} means")
        self.setStyleSheet("QToolButton#help_button { color: #2b5d8a; font-weight: bold; padding: 0 3px }")
        self.clicked.connect(self.explain)

    def explain(self) -> None:
        QWhatsThis.showText(self.mapToGlobal(QPoint(0, self.height())), self.text_shown, self)


def help_button(*terms: str) -> HelpButton:
    """A "?" that explains `terms` (glossary keys)."""
    return HelpButton(*terms)
