"""Help → Glossary: every word the window uses, in plain language, with a box to find one."""

from __future__ import annotations

from html import escape

from PySide6.QtWidgets import QDialog, QDialogButtonBox, QLineEdit, QTextBrowser, QVBoxLayout, QWidget

from studio.gui.common.glossary import GLOSSARY


def anchor(term: str) -> str:
    return "term-" + "".join(c if c.isalnum() else "-" for c in term.lower())


class GlossaryWindow(QDialog):
    """Non-modal: it stays open beside the window while the user works."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName("glossary")
        self.setWindowTitle("Glossary — Compression Studio")
        self.find = QLineEdit()
        self.find.setPlaceholderText("Find a word…")
        self.find.setClearButtonEnabled(True)
        self.find.setToolTip("Show only the words whose name or explanation holds what you type")
        self.find.textChanged.connect(self._fill)
        self.text = QTextBrowser()
        self.text.setOpenLinks(False)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.button(QDialogButtonBox.StandardButton.Close).setToolTip("Close the glossary")
        buttons.rejected.connect(self.close)
        layout = QVBoxLayout(self)
        layout.addWidget(self.find)
        layout.addWidget(self.text, 1)
        layout.addWidget(buttons)
        self.resize(560, 620)
        self._fill()

    def terms(self) -> list[str]:
        """The words shown now, in order."""
        wanted = self.find.text().strip().lower()
        return [t for t in sorted(GLOSSARY, key=str.lower) if wanted in t.lower() or wanted in GLOSSARY[t].lower()]

    def _fill(self) -> None:
        terms = self.terms()
        if not terms:
            self.text.setHtml(f"<p><i>No word here holds “{escape(self.find.text())}”.</i></p>")
            return
        self.text.setHtml("".join(f"<p><a name='{anchor(t)}'></a><b>{escape(t)}</b><br>{escape(GLOSSARY[t])}</p>" for t in terms))

    def show_term(self, term: str) -> None:
        """Show every word, scrolled to `term`."""
        self.find.clear()
        self.show()
        self.raise_()
        self.activateWindow()
        self.text.scrollToAnchor(anchor(term))
