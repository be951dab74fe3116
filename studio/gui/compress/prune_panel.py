"""The Prune sheet: magnitude (single weights) or channels, a target, the layers to spare, per-layer
sparsities (typed, or suggested by a sensitivity analysis), and fine-tuning afterwards or throughout."""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QCheckBox, QGroupBox, QHBoxLayout, QLabel, QPushButton, QVBoxLayout

from studio.gui.common.glossary import FIELD_TIPS
from studio.gui.common.help_button import help_button
from studio.gui.common.option_form import OptionForm, Row
from studio.gui.compress.compress_sheet import Sheet, weighted_layers
from studio.gui.compress.layer_picks import LayerPicks
from studio.gui.compress.sensitivity_chart import SensitivityChart

if TYPE_CHECKING:
    from studio.core.compress.sensitivity import Sensitivity
    from studio.core.project.analysis import ModelInfo

BUYS = {
    "magnitude": "Single weights (unstructured): smaller once zipped — not faster in ONNX Runtime, which runs dense kernels.",
    "channels": "Whole channels (structured): smaller and faster; the speed-up is measured after export.",
}
# choices in a few words, so that the sheet's narrow column shows them whole; the line above says the rest
PRUNE_ROWS = [
    Row("method", "Remove", choices={"magnitude": "single weights", "channels": "whole channels"},
        terms=("magnitude pruning", "channel pruning")),
    Row("sparsity", "Target zeros", percent=True, decimals=1, default=0.8, slider=True, terms=("sparsity",)),
    Row("scope", "Threshold", choices={"global": "one for all layers", "layer": "same share per layer"}),
    Row("ratio", "Channels removed", percent=True, decimals=0),
    Row("round_to", "Round counts to", unit=" channels"),
]
# a transformer's fine-tuning rate: 3e-4 and 1e-3 lost cosine that 1e-4 kept on the pruned all-MiniLM-L6-v2
# (benchmarks/RESULTS.md: Hugging Face); the recipe's default (1e-3) suits the CNNs
TRANSFORMER_LR = 1e-4
FINETUNE_ROWS = [Row("epochs", "Fine-tune for", unit=" epochs", default=1, terms=("fine-tuning", "epoch")),
                 Row("lr", "Learning rate", decimals=5, terms=("learning rate",))]


class PrunePanel(Sheet):
    title = "Prune"
    terms = ("pruning",)
    analyseRequested = Signal(float)  # the target sparsity to suggest per-layer values for

    def __init__(self, parent=None):
        from studio.core.project.steps import OPS

        super().__init__(parent)
        self.form = OptionForm(OPS["prune"].fields, PRUNE_ROWS, tips=FIELD_TIPS["prune"])
        self.form.widgets["method"].currentIndexChanged.connect(self._method_changed)

        self.layers = LayerPicks(("Prune", "Unchecked layers are left alone", True),
                                 ("Zeros (%)", "This layer's own sparsity; blank: the target. Analyse sensitivity fills it in."))
        self.analyse = QPushButton("Analyse sensitivity")
        self.analyse.setToolTip("Prune each layer alone to several sparsities and measure the accuracy, then suggest "
                                "per-layer sparsities that reach the target while sparing sensitive layers")
        self.analyse.clicked.connect(lambda: self.analyseRequested.emit(self.form.value("sparsity")))
        clear = QPushButton("Clear")
        clear.setToolTip("Forget the per-layer sparsities: every pruned layer takes the target")
        clear.clicked.connect(lambda: self.layers.set_shares({}))
        self.chart = SensitivityChart()
        per_layer = QGroupBox("Layers")
        column = QVBoxLayout(per_layer)
        column.addWidget(self.layers)
        buttons = QHBoxLayout()
        buttons.addWidget(self.analyse)
        buttons.addWidget(clear)
        buttons.addWidget(help_button("sensitivity"))
        buttons.addStretch(1)
        column.addLayout(buttons)
        column.addWidget(self.chart)

        self.finetune = OptionForm(OPS["finetune"].fields, FINETUNE_ROWS, tips=FIELD_TIPS["finetune"])
        epochs = self.finetune.widgets["epochs"]
        epochs.setMinimum(0)
        epochs.setSpecialValueText("no fine-tuning")
        self.gradual = QCheckBox("Prune gradually while fine-tuning")
        self.gradual.setToolTip("Raise the sparsity step by step over the fine-tuning epochs (Zhu & Gupta 2017) instead "
                                "of all at once, then fine-tune: usually more accurate at high sparsity, slower")
        self.finetune_note = QLabel()
        self.finetune_note.setWordWrap(True)
        training = QGroupBox("Afterwards")
        training.setToolTip("Fine-tuning trains the pruned model a little on the data; pruned weights stay zero")
        column = QVBoxLayout(training)
        column.addWidget(self.finetune)
        column.addWidget(self.gradual)
        column.addWidget(self.finetune_note)

        self.body.addWidget(self.form)
        self.body.addWidget(per_layer)
        self.body.addWidget(training)
        self.body.addStretch(1)
        self._method_changed()

    def _method_changed(self) -> None:
        method = self.form.value("method")
        magnitude = method == "magnitude"
        for key in ("sparsity", "scope"):
            self.form.show_row(key, magnitude)
        for key in ("ratio", "round_to"):
            self.form.show_row(key, not magnitude)
        self.analyse.setEnabled(magnitude)
        self.gradual.setEnabled(magnitude and self.finetune.isEnabled())
        self.layers.setColumnHidden(3, not magnitude)
        self.buys.setText(BUYS[method])

    def show_model(self, info: ModelInfo) -> None:
        caps = info.model.capabilities()
        structured = caps["prune_structured"]
        item = self.form.widgets["method"].model().item(1)  # a combo's model is a QStandardItemModel
        item.setEnabled(structured.allowed)
        item.setToolTip("" if structured.allowed else structured.reason)
        if not structured.allowed and self.form.value("method") == "channels":
            self.form.set_value("method", "magnitude")
        trainable = caps["finetune"]
        self.finetune.setEnabled(trainable.allowed)
        self.finetune_note.setText("" if trainable.allowed else f"<i>No fine-tuning: {trainable.reason}.</i>")
        self.finetune_note.setVisible(not trainable.allowed)
        if not trainable.allowed:
            self.finetune.set_value("epochs", 0)
            self.gradual.setChecked(False)
        self._default_lr(info.model)
        self.layers.set_layers(weighted_layers(info))
        self.chart.hide()
        self._method_changed()

    def _default_lr(self, model) -> None:
        """The learning rate that suits the model's kind, unless the person typed another."""
        from studio.core.formats.model import Format
        from studio.core.project.steps import OPS

        plain = OPS["finetune"].fields["lr"].default
        # a text transformer: a Hugging Face folder, or a file that reads token ids (an ONNX export of one)
        transformer = model.format is Format.HF_FOLDER or any(s.name == "input_ids" for s in model.inputs)
        if self.finetune.value("lr") in (plain, TRANSFORMER_LR):
            self.finetune.set_value("lr", TRANSFORMER_LR if transformer else plain)

    def show_sensitivity(self, result: Sensitivity, unpruned: str = "the unpruned version") -> None:
        self.layers.set_shares(result.suggest(self.form.value("sparsity")))
        self.chart.show_sensitivity(result, unpruned)

    def steps(self) -> list[tuple[str, dict]]:
        o = self.form.values()
        training = self.finetune.values() if self.finetune.isEnabled() else {"epochs": 0}
        exclude = self.layers.unchecked()
        if o["method"] == "channels":
            prune = {"method": "channels", "ratio": o["ratio"], "round_to": o["round_to"], "exclude": exclude}
        else:
            prune = {"method": "magnitude", "sparsity": o["sparsity"], "scope": o["scope"], "exclude": exclude}
            if shares := self.layers.shares():
                prune["layers"] = shares
            if self.gradual.isChecked() and training["epochs"]:
                prune.update(schedule="gradual", epochs=training["epochs"], lr=training["lr"])
                return [("prune", prune)]
        return [("prune", prune)] + ([("finetune", training)] if training["epochs"] else [])


def sensitivity_job(model, spec, device: str, cancel):
    """The Analyse sensitivity job, run by the session on its data (in a child process)."""
    from studio.core.compress.sensitivity import sensitivity
    from studio.core.errors import StudioError
    from studio.core.project.workspace import with_data

    if spec is None:
        raise StudioError("sensitivity analysis measures accuracy on data: choose data in the toolbar first")
    return (yield from with_data(lambda data, cancel: sensitivity(model, data, device, cancel=cancel), spec, cancel=cancel))
