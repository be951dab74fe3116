"""Help → Getting Started: the journey in a few numbered steps, each with the buttons that take it (open a
model, choose data, compress, compare, export). Non-modal, so the user follows it in the window beside it.
The window gives the steps (studio.gui.main_window); this only lays them out."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QAction
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QFrame,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from studio.gui.common.widgets import column_scroll

INTRO = ("Compression Studio makes a trained neural network smaller and faster, and measures what that costs. Five "
         "steps take you from a model to a file you can deploy; each step's buttons do it for you. Hover over anything "
         "in the window to read what it does; click a <b>?</b> for what a word means.")
WIDTH = 680  # pixels: each step's words in two or three lines
AGAIN = "This guide is always in Help → Getting Started."


def action_button(action: QAction) -> QPushButton:
    """A push button that does what `action` does, and is enabled, named and explained as it is."""
    made = QPushButton()

    def follow() -> None:
        made.setText(action.text().replace("&", ""))
        made.setToolTip(action.toolTip())
        made.setEnabled(action.isEnabled())

    follow()
    action.changed.connect(follow)
    made.clicked.connect(lambda: action.trigger())
    return made


class GettingStarted(QDialog):
    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName("getting_started")
        self.setWindowTitle("Getting Started — Compression Studio")
        self.steps: list[QFrame] = []
        intro = QLabel(INTRO)
        intro.setWordWrap(True)
        self._column = QVBoxLayout()
        self._column.setSpacing(10)
        inner = QWidget()
        column = QVBoxLayout(inner)
        column.setContentsMargins(0, 0, 4, 0)
        column.addLayout(self._column)
        column.addStretch(1)
        scroll = column_scroll(inner)
        again = QLabel(f"<i>{AGAIN}</i>")
        again.setStyleSheet("color: #667085")
        self._inner, self._intro = inner, intro
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        self.buttons.button(QDialogButtonBox.StandardButton.Close).setToolTip("Close this guide (Help → Getting Started shows it again)")
        self.buttons.rejected.connect(self.close)
        footer = QHBoxLayout()
        footer.addWidget(again, 1)
        footer.addWidget(self.buttons)
        layout = QVBoxLayout(self)
        layout.addWidget(intro)
        layout.addWidget(scroll, 1)
        layout.addLayout(footer)
        self._fitted = False

    def showEvent(self, event) -> None:
        if not self._fitted:  # as tall as its steps, where the screen allows: none hidden below
            self._fitted = True
            free = self.screen().availableGeometry()
            width = min(WIDTH, free.width() - 40)
            margins = self.layout().contentsMargins()
            inside = width - margins.left() - margins.right()
            height = (self._intro.heightForWidth(inside) + self._inner.layout().totalHeightForWidth(inside - 8)
                      + self.buttons.sizeHint().height() + 2 * self.layout().spacing() + margins.top() + margins.bottom())
            self.resize(width, min(height + 8, free.height() - 60))
        super().showEvent(event)

    def add_step(self, title: str, text: str, buttons: list[QWidget]) -> QFrame:
        """Step n: its number, title, a few sentences, and the buttons that take it."""
        step = QFrame()
        step.setObjectName(f"step_{len(self.steps) + 1}")
        step.setFrameShape(QFrame.Shape.StyledPanel)
        grid = QGridLayout(step)
        number = QLabel(str(len(self.steps) + 1))
        number.setAlignment(Qt.AlignmentFlag.AlignCenter)
        number.setFixedSize(28, 28)
        number.setStyleSheet("background: #2b5d8a; color: white; border-radius: 14px; font-weight: bold")
        heading = QLabel(f"<b>{title}</b>")
        words = QLabel(text)
        words.setWordWrap(True)
        row = QHBoxLayout()
        for button in buttons:
            row.addWidget(button)
        row.addStretch(1)
        grid.addWidget(number, 0, 0, 3, 1, Qt.AlignmentFlag.AlignTop)
        grid.addWidget(heading, 0, 1)
        grid.addWidget(words, 1, 1)
        grid.addLayout(row, 2, 1)
        grid.setColumnStretch(1, 1)
        self._column.addWidget(step)
        self.steps.append(step)
        return step

    def step_buttons(self, n: int) -> list[QPushButton]:
        """The buttons of step n (from 1)."""
        return self.steps[n - 1].findChildren(QPushButton)
