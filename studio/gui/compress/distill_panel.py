"""The Distill sheet: which student (a slimmer copy of this model, another model file, or a sample
architecture) and how it learns from the current version, its teacher."""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtWidgets import (
    QButtonGroup,
    QComboBox,
    QFileDialog,
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QLineEdit,
    QPushButton,
    QRadioButton,
    QSpinBox,
)

from studio.core.errors import StudioError
from studio.gui.common.option_form import OptionForm, Row, slider_for
from studio.gui.compress.compress_sheet import Sheet

if TYPE_CHECKING:
    from studio.core.project.analysis import ModelInfo

BUYS = "Trains a small student to imitate this model: smaller and faster by as much as the student is."
ROWS = [
    Row("temperature", "Temperature", decimals=1),
    Row("alpha", "Weight of the teacher", percent=True, decimals=0),
    Row("epochs", "Train for", unit=" epochs", default=3),
    Row("lr", "Learning rate", decimals=5),
    Row("batch_size", "Batch size", unit=" examples"),
]
STUDENT_FILES = "PyTorch models (*.pt *.pth *.pt2 *.ts *.jit);;All files (*)"


class DistillPanel(Sheet):
    title = "Distill"

    def __init__(self, parent=None):
        from studio.core.formats.samples import SAMPLE_MODELS
        from studio.core.project.steps import OPS

        super().__init__(parent)
        self.buys.setText(BUYS)
        self.kind = QButtonGroup(self)
        self.slim = QRadioButton("A slimmer copy of this model")
        self.slim.setToolTip("The teacher with channels removed, keeping its weights: the quickest student to train")
        self.file = QRadioButton("Another model file")
        self.file.setToolTip("A trainable PyTorch model of your own, with the same inputs and outputs")
        self.sample = QRadioButton("A sample architecture")
        self.sample.setToolTip("One of the bundled architectures, untrained: it learns from the teacher alone")
        for i, button in enumerate((self.slim, self.file, self.sample)):
            self.kind.addButton(button, i)
        self.slim.setChecked(True)
        self._fallback = False

        self.width = QSpinBox()
        self.width.setRange(5, 95)
        self.width.setValue(25)
        self.width.setSuffix(" % of the channels")
        self.width.setToolTip("How many of the teacher's channels the student keeps (5 to 95 %)")
        self.width_slider = slider_for(self.width, steps=1)
        self.path = QLineEdit()
        self.path.setPlaceholderText("path to a .pt, .pt2 or TorchScript file")
        self.path.setToolTip("The student model's file")
        browse = QPushButton("Browse…")
        browse.setToolTip("Choose the student model's file")
        browse.clicked.connect(self._browse)
        self.samples = QComboBox()
        self.samples.setToolTip("The sample architecture the student is built as")
        for name, spec in SAMPLE_MODELS.items():
            self.samples.addItem(f"{name} — {spec.description}", name)

        student = QGroupBox("Student")
        grid = QGridLayout(student)
        grid.addWidget(self.slim, 0, 0, 1, 2)
        grid.addWidget(self.width_slider, 1, 0)
        grid.addWidget(self.width, 1, 1)
        grid.addWidget(self.file, 2, 0, 1, 2)
        pick = QHBoxLayout()
        pick.addWidget(self.path, 1)
        pick.addWidget(browse)
        grid.addLayout(pick, 3, 0, 1, 2)
        grid.addWidget(self.sample, 4, 0, 1, 2)
        grid.addWidget(self.samples, 5, 0, 1, 2)
        self.kind.idToggled.connect(self._kind_changed)

        self.form = OptionForm(OPS["distill"].fields, ROWS)
        self.body.addWidget(student)
        self.body.addWidget(self.form)
        self.body.addStretch(1)
        self._kind_changed()

    def _kind_changed(self, *_) -> None:
        for widget, button in ((self.width, self.slim), (self.width_slider, self.slim), (self.path, self.file),
                               (self.samples, self.sample)):
            widget.setEnabled(button.isChecked())

    def _browse(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Choose the student model", "", STUDENT_FILES)
        if path:
            self.path.setText(path)
            self.file.setChecked(True)

    def show_model(self, info: ModelInfo) -> None:
        slimmable = info.model.module is not None and info.model.capabilities()["prune_structured"].allowed
        self.slim.setEnabled(slimmable)
        self.slim.setToolTip(self.slim.toolTip() if slimmable else "Only a PyTorch module can be slimmed; choose a file or a sample architecture")
        if not slimmable and self.slim.isChecked():
            self.sample.setChecked(True)
            self._fallback = True  # chosen for the user: undone when slimming is possible again
        elif slimmable and self._fallback:
            self.slim.setChecked(True)
            self._fallback = False
        own = self.samples.findData(info.model.source.removeprefix("sample:"))
        if own >= 0:  # a sample's own architecture fits its data
            self.samples.setCurrentIndex(own)

    def steps(self) -> list[tuple[str, dict]]:
        if self.slim.isChecked():
            student = {"width": self.width.value() / 100}
        elif self.file.isChecked():
            if not self.path.text().strip():
                raise StudioError("student: choose the student model's file, or another kind of student")
            student = {"model": self.path.text().strip()}
        else:
            student = {"sample": self.samples.currentData()}
        return [("distill", {"student": student, **self.form.values()})]
