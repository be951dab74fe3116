"""The questions and errors the window puts to the user, as message boxes."""

from __future__ import annotations

import sys
import traceback
from html import escape

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QButtonGroup,
    QDialog,
    QDialogButtonBox,
    QLabel,
    QMessageBox,
    QRadioButton,
    QVBoxLayout,
    QWidget,
)

from studio.gui.common.metric_text import shape_text

NO_CLASSES = "none: measure fidelity only"

TRUST_EXPLANATION = (
    "This file is a pickled Python object. Opening it runs code stored inside the file on this "
    "computer, with your permissions: code that could read, change or delete your files. "
    "Open it only if you made it yourself or trust where it came from.\n\n"
    "Files that hold only weights (a state_dict, safetensors, ONNX, TorchScript, .pt2) never need this."
)


def ask_trust(parent: QWidget, source: str, problem: str) -> bool:
    """True if the user chose to trust the file and run its code."""
    box = QMessageBox(QMessageBox.Icon.Warning, "Trust this file?", f"Open {source} and run the code stored in it?", parent=parent)
    box.setInformativeText(TRUST_EXPLANATION)
    box.setDetailedText(problem)
    box.setStandardButtons(QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.Cancel)
    box.button(QMessageBox.StandardButton.Yes).setText("Trust and open")
    box.setDefaultButton(QMessageBox.StandardButton.Cancel)
    return box.exec() == QMessageBox.StandardButton.Yes


def show_error(parent: QWidget, title: str, reason: str, details: str | None = None) -> None:
    """One line that says what went wrong; the window keeps what it had. Behind "Show Details…", the
    technical detail for whoever wants it (error_details): `details`, by default that of the exception
    being handled where the error is shown from an `except` block; none, no Details button."""
    if details is None:
        handled = sys.exc_info()[1]
        details = error_details(handled) if handled is not None else ""
    box = QMessageBox(QMessageBox.Icon.Warning, title, reason, QMessageBox.StandardButton.Ok, parent)
    if details:
        box.setDetailedText(details)
    box.exec()


def error_details(error: BaseException, lines: int = 12) -> str:
    """What a programmer would want to know about `error`, without a traceback: its type, its whole
    message (ONNX Runtime's codes and C++ places included), where it was raised, and the error beneath
    it (its cause, or the one it replaced: core words a library's error `from None`, and the library's
    own words are the detail). A StudioError with nothing beneath is all said in its one line: ""."""
    from studio.core.errors import StudioError

    if isinstance(error, StudioError) and error.__cause__ is None and error.__context__ is None:
        return ""
    parts, seen = [], set()
    while error is not None and id(error) not in seen:
        seen.add(id(error))
        kind = type(error)
        name = kind.__qualname__ if kind.__module__ == "builtins" else f"{kind.__module__}.{kind.__qualname__}"
        message = str(error).strip().splitlines()
        if len(message) > lines:
            message = message[:lines] + [f"… ({len(message) - lines} more lines)"]
        text = f"{name}: " + "\n".join(message) if message else name
        frames = traceback.extract_tb(error.__traceback__) if error.__traceback__ is not None else []
        if frames:
            text += f"\n  raised in {frames[-1].filename}, line {frames[-1].lineno}, in {frames[-1].name}"
        parts.append(text)
        error = error.__cause__ or error.__context__
    return "\n\nCaused by ".join(parts)


class OutputDialog(QDialog):
    """Which output of the model holds the classes the labels count, or none (the data's labels are
    then left aside, and versions are measured by how closely they follow the original). Shown with
    open(), so the window goes on; `choice()` once accepted: an output's name, or None for none."""

    def __init__(self, parent: QWidget, data_name: str, outputs, problem: str):
        super().__init__(parent)
        self.setWindowTitle("Which output holds the classes?")
        text = QLabel(f"The model has {len(outputs)} outputs, and more than one could hold the classes that the "
                      f"labels of <b>{escape(data_name)}</b> count. Accuracy is measured on the one you choose, "
                      "and it is kept with the data choice for compressing and exporting.")
        text.setWordWrap(True)
        why = QLabel(escape(problem))
        why.setTextFormat(Qt.TextFormat.RichText)
        why.setWordWrap(True)
        why.setEnabled(False)  # the studio's own words, for whoever wants them: shown dimmed
        self.group = QButtonGroup(self)
        layout = QVBoxLayout(self)
        layout.addWidget(text)
        layout.addWidget(why)
        self.options: dict[str | None, QRadioButton] = {}
        for spec in outputs:
            self.options[spec.name] = QRadioButton(f"{spec.name}  {shape_text(spec.shape)}")
        self.options[None] = QRadioButton(NO_CLASSES)
        self.options[None].setToolTip("Leave the labels aside: versions are measured by how often they give the "
                                      "original's answer (agreement), with no accuracy")
        for button in self.options.values():
            self.group.addButton(button)
            layout.addWidget(button)
        next(iter(self.options.values())).setChecked(True)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        buttons.button(QDialogButtonBox.StandardButton.Ok).setText("Measure")
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        layout.addWidget(buttons)
        self.setMinimumWidth(440)

    def choose(self, output: str | None) -> None:
        self.options[output].setChecked(True)

    def choice(self) -> str | None:
        return next(name for name, button in self.options.items() if button.isChecked())
