"""The Quantize sheet: mode (quantization-aware training among them), calibration, per-channel scales,
layers kept float (chosen, or the most sensitive ones ranked on data), and afterwards which operations
run in int8 and which stayed float."""

from __future__ import annotations

from collections import Counter
from typing import TYPE_CHECKING

from PySide6.QtGui import QColor
from PySide6.QtWidgets import QAbstractItemView, QGroupBox, QHeaderView, QLabel, QTableWidget, QTableWidgetItem, QVBoxLayout

from studio.gui.common.glossary import FIELD_TIPS
from studio.gui.common.option_form import OptionForm, Row
from studio.gui.compress.compress_sheet import Sheet, weighted_layers
from studio.gui.compress.layer_picks import LayerPicks

if TYPE_CHECKING:
    from studio.core.inspect.precision import OpPrecision
    from studio.core.project.analysis import ModelInfo

# what a mode can buy, not a promise: size and speed are measured on the result
BUYS = {
    "dynamic": "8-bit weights, activations in float: up to 4× smaller. Matrix products may run faster; convolutions (ConvInteger) "
               "usually run slower on CPU. Size, speed and accuracy are measured in ONNX Runtime.",
    "static": "8-bit weights and activations: up to 4× smaller. Faster only where the CPU has fast int8 kernels "
              "for the model's ops. Size, speed and accuracy are measured in ONNX Runtime.",
    "fp16": "16-bit weights: up to 2× smaller; faster on GPUs, often slower on CPU. With data, layers whose values "
            "would overflow fp16 stay float. Size, speed and accuracy are measured in ONNX Runtime.",
    "weights-only": "Matrix weights in 4 or 8 bits: they shrink 4–8×, other layers stay float; runs only in "
                    "ONNX Runtime, where size and accuracy are measured.",
    "qat": "Trains a few epochs with weights and activations rounded as static int8 rounds them, then quantizes them so: "
           "up to 4× smaller, often closer to float than static alone given a few hundred examples (on a dozen it overfits); with 4-bit weights "
           "up to 8× (stored in 4 bits, computed in float: smaller, not faster). Needs data; as slow as fine-tuning.",
}
SEVEN_BIT = "This CPU's int8 kernels (x86 without VNNI) saturate on 8-bit weights: they are rounded to 7 bits."
INT8_MODES = ("static", "qat")  # dynamic int8 keeps 8-bit weights (Settings.seven_bit)
# choices in a few words, so that the sheet's narrow column shows them whole; the line above says the rest
ROWS = [
    Row("mode", "Precision", choices={"dynamic": "int8 (dynamic)", "static": "int8 (static)",
                                      "fp16": "fp16 (half)", "weights-only": "4/8-bit weights",
                                      "qat": "int8/4, trained (QAT)"}),
    Row("calibration", "Calibration", choices={"minmax": "min–max", "entropy": "entropy", "percentile": "percentile"},
        terms=("calibration",)),
    Row("samples", "Calibrate on", unit=" examples"),
    Row("per_channel", "Per-channel scales", terms=("per-channel scales",)),
    Row("bits", "Bits per weight", choices={4: "4 bits", 8: "8 bits"}),
    Row("keep_float", "Keep float", unit=" most sensitive layers", terms=("keep float",)),
    Row("max_drop", "Fewer if drop within", percent=True, decimals=1, default=0.01, optional=True, terms=("accuracy drop",)),
    Row("epochs", "Train for", unit=" epochs"),
    Row("lr", "Learning rate", decimals=5),
]
MODE_WORDS = {"dynamic": "int8 weights, activations in float (dynamic)", "static": "int8 weights and activations (static)",
              "fp16": "half precision (fp16)", "weights-only": "4- or 8-bit weights of matrix products only",
              "qat": "int8 (or 4-bit weights) after quantization-aware training"}
NEEDS_TRAINING = "Quantization-aware training trains the model"
PRECISION_COLOURS = {"int8": "#2b8a3e", "int4": "#2b8a3e", "fp16": "#1c7ed6", "float": "#e8590c"}


class QuantizePanel(Sheet):
    title = "Quantize"
    # the modes' words here: a "?" beside the Precision choice would squeeze it on a small screen
    terms = ("quantization", "int8", "static vs dynamic quantization", "fp16", "4-bit weights", "QAT")

    def __init__(self, parent=None):
        from studio.core.project.steps import OPS

        super().__init__(parent)
        self.form = OptionForm(OPS["quantize"].fields, ROWS, tips=FIELD_TIPS["quantize"])
        self.advice = QLabel()
        self.advice.setWordWrap(True)  # one sentence; wrapped rather than widening the sheet
        self.advice.setToolTip("The mode that suits this model, and why; chosen for you when a model is shown")
        self.advice.hide()
        self.form.widgets["mode"].currentIndexChanged.connect(self._mode_changed)
        self.form.widgets["keep_float"].valueChanged.connect(self._mode_changed)
        self.keep = LayerPicks(("Keep float", "Checked layers are not quantized: they keep their float weights", False))
        self.kept = kept = QGroupBox("Layers kept float")
        QVBoxLayout(kept).addWidget(self.keep)

        self.summary = QLabel("Run quantization to see which operations run in integers and which stay float.")
        self.summary.setWordWrap(True)
        self.ops = QTableWidget(0, 3)
        self.ops.setHorizontalHeaderLabels(["Operation", "Type", "Runs in"])
        self.ops.setToolTip("Each compute operation of the current version and the precision ONNX Runtime runs it in")
        self.ops.verticalHeader().hide()
        self.ops.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.ops.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        self.ops.horizontalHeader().setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        self.ops.setMinimumHeight(110)
        result = QGroupBox("Precision of the current version")
        column = QVBoxLayout(result)
        column.addWidget(self.summary)
        column.addWidget(self.ops)

        self.body.addWidget(self.advice)
        self.body.addWidget(self.form)
        self.body.addWidget(result)
        self.body.addWidget(kept)
        self.body.addStretch(1)
        self._bits = {"weights-only": 4, "qat": 8}  # bits per weight of the modes that have a choice, kept apart
        self._mode = self.form.value("mode")
        self._saturates = False  # asked of ONNX Runtime when a model is shown: not before the window shows
        self._mode_changed()

    def _mode_changed(self) -> None:
        mode = self.form.value("mode")
        qat = mode == "qat"  # trains, then static with its own ranges: per channel, 8 or 4 bits, no layer kept float
        if mode != self._mode:  # each mode with a choice of bits keeps its own (qat: 8, weights-only: 4 at first)
            if self._mode in self._bits:
                self._bits[self._mode] = self.form.value("bits")
            if mode in self._bits:
                self.form.set_value("bits", self._bits[mode])
        self._mode = mode
        self.form.show_row("calibration", mode in ("static", "qat"))
        self.form.show_row("samples", mode in ("static", "qat"))
        self.form.show_row("per_channel", mode in ("dynamic", "static"))  # int8 scales; qat always per channel
        self.form.show_row("bits", mode in ("weights-only", "qat"))
        self.form.show_row("keep_float", not qat)
        self.form.show_row("max_drop", not qat and self.form.value("keep_float") > 0)
        self.form.show_row("epochs", qat)
        self.form.show_row("lr", qat)
        self.kept.setVisible(not qat)
        self.buys.setText(BUYS[mode] + (" " + SEVEN_BIT if self._saturates and mode in INT8_MODES else ""))

    def show_model(self, info: ModelInfo) -> None:
        from studio.core.compress.quantize_advice import suggest_mode
        from studio.core.compress.saturation import saturates

        self._saturates = saturates()

        self.keep.set_layers(weighted_layers(info))
        trainable = info.model.capabilities()["finetune"]
        item = self.form.widgets["mode"].model().item(self.form.widgets["mode"].findData("qat"))  # a QStandardItemModel
        item.setEnabled(trainable.allowed)
        item.setToolTip("" if trainable.allowed else f"{NEEDS_TRAINING}: {trainable.reason}")
        if not trainable.allowed and self.form.value("mode") == "qat":
            self.form.set_value("mode", "static")
        mode, reason = suggest_mode(info.model)
        if mode:
            self.form.set_value("mode", mode)
        self.advice.setText(f"Suggested: {MODE_WORDS[mode]}: {reason}" if mode else f"Not suggested: {reason}")
        self.advice.setToolTip(self.advice.text())
        self.advice.show()

    def show_ops(self, ops: list[OpPrecision] | None) -> None:
        """The precision of each operation of the current version; None: it is not an ONNX model."""
        self.ops.setRowCount(0)
        if not ops:
            self.summary.setText("The current version is not quantized yet: every operation runs in float."
                                 if ops is None else "No compute operations were found.")
            return
        for op in ops:
            row = self.ops.rowCount()
            self.ops.insertRow(row)
            precision = QTableWidgetItem(op.precision)
            precision.setForeground(QColor(PRECISION_COLOURS.get(op.precision, "#000000")))
            for column, item in enumerate((QTableWidgetItem(op.node), QTableWidgetItem(op.op_type), precision)):
                item.setToolTip(f"{op.node} ({op.op_type}) runs in {op.precision}")
                self.ops.setItem(row, column, item)
        counts = Counter(op.precision for op in ops)
        self.summary.setText(" · ".join(f"{n} of {len(ops)} in {p}" for p, n in counts.most_common()))

    def steps(self) -> list[tuple[str, dict]]:
        options = self.form.values()
        if options["mode"] == "qat":  # what it ignores is left out, so the card and recipe do not list it
            kept = ("mode", "samples", "epochs", "lr") + (("bits",) if options["bits"] == 4 else ())  # 8, the default, unsaid as before
            kept += ("calibration",) if options["calibration"] != "minmax" else ()  # likewise its default
            return [("quantize", {k: options[k] for k in kept})]
        options = {k: v for k, v in options.items() if k not in ("epochs", "lr")}
        if not options["keep_float"]:
            options["max_drop"] = None
        return [("quantize", {**options, "exclude": self.keep.checked()})]
