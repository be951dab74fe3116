"""The questions and errors the window puts to the user, as message boxes."""

from __future__ import annotations

from html import escape

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


def show_error(parent: QWidget, title: str, reason: str) -> None:
    """One line that says what went wrong; the window keeps what it had."""
    QMessageBox.warning(parent, title, reason)


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
