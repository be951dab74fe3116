"""The Distill sheet: which student (a slimmer copy of this model, a transformer with fewer of its layers,
another model file, or a sample architecture) and how it learns from the current version, its teacher."""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QButtonGroup,
    QComboBox,
    QFileDialog,
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QRadioButton,
    QSpinBox,
)

from studio.core.errors import StudioError
from studio.gui.common.glossary import FIELD_TIPS
from studio.gui.common.option_form import OptionForm, Row, slider_for
from studio.gui.compress.compress_sheet import Sheet

if TYPE_CHECKING:
    from studio.core.project.analysis import ModelInfo

BUYS = "Trains a small student to imitate this model: smaller and faster by as much as the student is."
ROWS = [
    Row("temperature", "Temperature", decimals=1, terms=("temperature",)),
    Row("alpha", "Weight of the teacher", percent=True, decimals=0, terms=("teacher and student",)),
    Row("epochs", "Train for", unit=" epochs", default=3),
    Row("lr", "Learning rate", decimals=5),
    Row("batch_size", "Batch size", unit=" examples"),
]
STUDENT_FILES = "PyTorch models (*.pt *.pth *.pt2 *.ts *.jit);;All files (*)"


class DistillPanel(Sheet):
    title = "Distill"
    terms = ("distillation",)

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
        self.fewer = QRadioButton("A copy with fewer layers")
        self.fewer.setToolTip("This transformer keeping every k-th of its encoder layers, with their weights (as DistilBERT "
                              "was made): each learns what the teacher's layers compute")
        self.layers = QComboBox()  # how many layers the student keeps: counts that divide the teacher's
        self.layers.setToolTip("How many of the teacher's encoder layers the student keeps")
        for i, button in enumerate((self.slim, self.file, self.sample, self.fewer)):
            self.kind.addButton(button, i)
        self.slim.setChecked(True)
        self._unchosen = False  # the slimmer copy was chosen, then not possible: no other student is chosen in its place
        self.slim_note = QLabel()  # why there is no slimmer copy of this model, and what to do
        self.slim_note.setWordWrap(True)
        self.slim_note.setStyleSheet("color: #7a4100")
        self.slim_note.hide()

        self.width = QSpinBox()
        self.width.setRange(5, 95)
        self.width.setValue(25)
        self.width.setSuffix(" % of channels")
        self.width.setToolTip("How many of the teacher's channels the student keeps (5 to 95 %)")
        self.width_slider = slider_for(self.width, steps=1)
        self.path = QLineEdit()
        self.path.setPlaceholderText("path to a .pt, .pt2 or TorchScript file")
        self.path.setToolTip("The student model's file")
        browse = QPushButton("Browse…")
        browse.setToolTip("Choose the student model's file")
        browse.clicked.connect(self._browse)
        self.samples = QComboBox()
        self.samples.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.samples.setMinimumContentsLength(12)  # its longest entry would widen the sheet past its dock
        self.samples.setToolTip("The sample architecture the student is built as")
        self.sample_words = QLabel()  # what the chosen architecture is: the combo shows its name only
        self.sample_words.setWordWrap(True)
        for name, spec in SAMPLE_MODELS.items():
            self.samples.addItem(name, name)
            self.samples.setItemData(self.samples.count() - 1, spec.description, Qt.ItemDataRole.ToolTipRole)
        self.samples.currentIndexChanged.connect(
            lambda: self.sample_words.setText(f"<i>{SAMPLE_MODELS[self.samples.currentData()].description}</i>"))
        self.sample_words.setText(f"<i>{SAMPLE_MODELS[self.samples.currentData()].description}</i>")

        student = QGroupBox("Student")
        grid = QGridLayout(student)
        grid.addWidget(self.slim, 0, 0, 1, 2)
        grid.addWidget(self.slim_note, 1, 0, 1, 2)
        grid.addWidget(self.width_slider, 2, 0)
        grid.addWidget(self.width, 2, 1)
        grid.addWidget(self.file, 3, 0, 1, 2)
        pick = QHBoxLayout()
        pick.addWidget(self.path, 1)
        pick.addWidget(browse)
        grid.addLayout(pick, 4, 0, 1, 2)
        grid.addWidget(self.sample, 5, 0, 1, 2)
        grid.addWidget(self.samples, 6, 0, 1, 2)
        grid.addWidget(self.sample_words, 7, 0, 1, 2)
        grid.addWidget(self.fewer, 8, 0, 1, 2)
        grid.addWidget(self.layers, 9, 0, 1, 2)
        self.fewer.hide()  # only for a transformer whose layers can be kept (show_model)
        self.layers.hide()
        self.kind.idToggled.connect(self._kind_changed)

        self.form = OptionForm(OPS["distill"].fields, ROWS, tips=FIELD_TIPS["distill"])
        self.body.addWidget(student)
        self.body.addWidget(self.form)
        self.body.addStretch(1)
        self._kind_changed()

    def _kind_changed(self, *_) -> None:
        for widget, button in ((self.width, self.slim), (self.width_slider, self.slim), (self.path, self.file),
                               (self.samples, self.sample), (self.sample_words, self.sample), (self.layers, self.fewer)):
            widget.setEnabled(button.isChecked())

    def _browse(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Choose the student model", "", STUDENT_FILES)
        if path:
            self.path.setText(path)
            self.file.setChecked(True)

    def show_model(self, info: ModelInfo) -> None:
        """A model that cannot be slimmed greys that choice out and says why beside it; if it was the choice,
        none is made in its place (an untrained sample architecture would not be what the user chose)."""
        from studio.core.inspect.precision import already_quantized

        model = info.model
        structured = model.capabilities()["prune_structured"]
        quantized = model.module is None and model.onnx is not None and bool(already_quantized(model.onnx))
        slimmable = structured.allowed and not quantized  # an ONNX teacher's copy is cut from its checked conversion
        self.slim.setEnabled(slimmable)
        self.slim_note.setText("" if slimmable else no_slim_copy(structured, quantized))
        self.slim_note.setVisible(not slimmable)
        if not slimmable and self.slim.isChecked():
            self.kind.setExclusive(False)  # an exclusive group keeps one button checked
            self.slim.setChecked(False)
            self.kind.setExclusive(True)
            self._unchosen = True
            self._kind_changed()
        elif slimmable and self._unchosen and self.kind.checkedButton() is None:
            self.slim.setChecked(True)
        self._unchosen = self._unchosen and not slimmable
        self._offer_fewer_layers(model)
        own = self.samples.findData(model.source.removeprefix("sample:"))
        if own >= 0:  # a sample's own architecture fits its data
            self.samples.setCurrentIndex(own)

    def steps(self) -> list[tuple[str, dict]]:
        if self.kind.checkedButton() is None:
            raise StudioError("student: choose the student, another model file or a sample architecture "
                              "(this model has no slimmer copy: see beside it)")
        if self.slim.isChecked():
            student = {"width": self.width.value() / 100}
        elif self.file.isChecked():
            if not self.path.text().strip():
                raise StudioError("student: choose the student model's file, or another kind of student")
            student = {"model": self.path.text().strip()}
        elif self.fewer.isChecked():
            student = {"layers": self.layers.currentData()}
        else:
            student = {"sample": self.samples.currentData()}
        return [("distill", {"student": student, **self.form.values()})]

    def _offer_fewer_layers(self, model) -> None:
        """A Hugging Face encoder may teach a copy of itself with fewer layers: every count that divides its own."""
        from studio.core.compress.heads import encoder_layers
        from studio.core.compress.layers import hf_model
        from studio.core.formats.model import Format

        n = len(encoder_layers(hf_model(model.module))) if model.format is Format.HF_FOLDER and model.module is not None else 0
        counts = [k for k in range(1, n) if n % k == 0]
        self.layers.clear()
        for k in counts:
            self.layers.addItem(f"{k} of its {n} layers", k)
        self.layers.setCurrentIndex(len(counts) - 1)  # half of them, or the most that divide
        self.fewer.setVisible(bool(counts))
        self.layers.setVisible(bool(counts))
        if not counts and self.fewer.isChecked():
            self.slim.setChecked(True)
        self._kind_changed()


def no_slim_copy(structured, quantized: bool) -> str:
    """Why a model has no slimmer copy (`structured`: its structured pruning Capability), and what to do instead."""
    if quantized:
        return ("Not from a quantized teacher: a slimmer copy is cut from a float version. Choose the float version "
                "in Versions as the teacher, or another model file or a sample architecture as the student.")
    why = structured.reason or "it is not a PyTorch module whose channels can be removed"
    return (f"Not for this model: {why}. Choose another model file (a smaller PyTorch model of your own) or a sample "
            f"architecture as the student.")
