"""The questions and errors the window puts to the user, as message boxes."""

from __future__ import annotations

from PySide6.QtWidgets import QMessageBox, QWidget

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


def show_error(parent: QWidget, title: str, reason: str) -> None:
    """One line that says what went wrong; the window keeps what it had."""
    QMessageBox.warning(parent, title, reason)
