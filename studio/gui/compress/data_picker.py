"""The toolbar's Data and Device choices: which data compression trains and measures on (a sample, a
file or an image folder, with or without labels, and for a model with several outputs the one that
holds the classes), and where it runs."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QCheckBox, QComboBox, QFileDialog, QHBoxLayout, QLabel, QWidget

from studio.gui.common.metric_text import shape_text

DATA_FILES = "Data (*.npz *.csv *.txt *.tsv *.jsonl);;All files (*)"
OPEN_FILE, OPEN_FOLDER = "open-file", "open-folder"
DEVICES = {"cpu": "CPU", "cuda": "CUDA (GPU)"}
STATUS_STYLE = "background: #fff4e5; color: #7a4100; border-bottom: 1px solid #f0b429; padding: 6px 10px"


class DataPicker(QWidget):
    dataChanged = Signal(object)  # the data spec: "sample:NAME", a path, {path, labels: none, output: NAME}, or None
    deviceChanged = Signal(str)

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.data = QComboBox()
        self.data.setMinimumContentsLength(22)  # "nudenet-320n/data.npz" whole
        self.data.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.data.setToolTip("The data compression trains and measures on: a sample, a .npz or .csv file, a folder "
                             "with one subfolder of images per class, or text (.txt one example per line; .csv, .tsv or "
                             ".jsonl with a text column and labels), read by the open Hugging Face model's tokenizer. "
                             "Every 5th example is kept for testing.")
        self.data.addItem("choose data…", None)
        self.data.insertSeparator(1)
        self.data.addItem("Open data file (.npz, .csv, text)…", OPEN_FILE)
        self.data.addItem("Open image folder…", OPEN_FOLDER)
        self._chosen = 0
        self._output: str | None = None  # the model output that holds the classes, when the user named it
        self.data.activated.connect(self._activated)
        self.unlabeled = QCheckBox("no labels")
        self.unlabeled.setToolTip("The data has no labels: versions are measured by how often they agree with the "
                                  "version they came from, and fine-tuning learns from that version")
        self.unlabeled.toggled.connect(lambda: self.dataChanged.emit(self.spec()))
        self.output_label = QLabel("Classes in:")
        self.output = QComboBox()
        self.output.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToContents)
        self.output.setToolTip("The model has several outputs: the one whose scores are the classes the labels "
                               "count. Accuracy is measured on it, and agreement with the original too.")
        self.output.activated.connect(self._output_chosen)
        self.output_label.hide()
        self.output.hide()
        self.device = QComboBox()
        self.device.setToolTip("Where training and measuring run. CUDA is listed when PyTorch sees a GPU.")
        self.device.addItem(DEVICES["cpu"], "cpu")
        self.device.activated.connect(lambda: self.deviceChanged.emit(self.device.currentData()))
        self.status = QLabel()  # the window shows it as a banner above its middle (WindowFrame.add_banner)
        self.status.setObjectName("data_status")
        self.status.setWordWrap(True)  # the whole sentence, however long: its end says what to do
        self.status.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.status.setStyleSheet(STATUS_STYLE)
        self.status.setToolTip("What makes the chosen data unfit for measuring or compressing this model")
        self.status.hide()
        layout = QHBoxLayout(self)
        layout.setContentsMargins(4, 0, 4, 0)
        layout.addWidget(QLabel("Data:"))
        layout.addWidget(self.data)
        layout.addWidget(self.unlabeled)
        layout.addWidget(self.output_label)
        layout.addWidget(self.output)
        layout.addSpacing(12)
        layout.addWidget(QLabel("Device:"))
        layout.addWidget(self.device)

    def set_status(self, text: str) -> None:
        """Say (or, with "", stop saying) what is wrong with the chosen data for the model open."""
        self.status.setText(f"⚠ {text}" if text else "")
        self.status.setVisible(bool(text))

    def spec(self):
        source = self.data.itemData(self._chosen)
        if source is None or source in (OPEN_FILE, OPEN_FOLDER):
            return None
        spec = {"path": source}
        if self.unlabeled.isChecked():
            spec["labels"] = "none"
        if self._output is not None:
            spec["output"] = self._output
        return spec if len(spec) > 1 else source

    def set_spec(self, spec) -> None:
        """Show a spec chosen elsewhere (a sample's own data, a project's, an answer to which output
        holds the classes), without emitting."""
        source = spec["path"] if isinstance(spec, dict) else spec
        self._select(source)
        self.unlabeled.blockSignals(True)
        self.unlabeled.setChecked(isinstance(spec, dict) and str(spec.get("labels", "")).lower() in ("none", "no", "false"))
        self.unlabeled.blockSignals(False)
        self._output = spec.get("output") if isinstance(spec, dict) else None
        self._show_output()

    def set_outputs(self, outputs) -> None:
        """The open model's outputs (TensorSpecs): with several, a choice of the one holding the classes."""
        self.output.clear()
        self.output.addItem("not named", None)
        self.output.setItemData(0, "Not named yet: the studio picks the only output that fits the labels, and asks "
                                   "when several do", Qt.ItemDataRole.ToolTipRole)
        for spec in outputs:
            self.output.addItem(f"{spec.name} {shape_text(spec.shape)}", spec.name)
        several = len(outputs) > 1
        self.output_label.setVisible(several)
        self.output.setVisible(several)
        self._show_output()

    def _show_output(self) -> None:
        index = self.output.findData(self._output) if self._output is not None else 0
        self.output.setCurrentIndex(max(0, index))

    def _output_chosen(self, index: int) -> None:
        chosen = self.output.itemData(index)
        if chosen != self._output:
            self._output = chosen
            self.dataChanged.emit(self.spec())

    def add_samples(self, names: list[str]) -> None:
        chosen = self.data.itemData(self._chosen)
        for name in reversed(names):
            if self.data.findData(name) < 0:
                self.data.insertItem(1, name, name)
                self.data.setItemData(1, f"{name}: a bundled sample data set", Qt.ItemDataRole.ToolTipRole)
        self._select(chosen)

    def set_devices(self, devices: list[str]) -> None:
        for device in devices:
            if self.device.findData(device) < 0:
                self.device.addItem(DEVICES.get(device, device), device)

    def set_device(self, device: str) -> None:
        self.device.setCurrentIndex(max(0, self.device.findData(device)))

    def _select(self, source) -> None:
        if source is not None and self.data.findData(source) < 0:
            self.data.insertItem(self.data.count() - 2, short_name(source), source)
            self.data.setItemData(self.data.count() - 3, source, Qt.ItemDataRole.ToolTipRole)
        self._chosen = max(0, self.data.findData(source))
        self.data.setCurrentIndex(self._chosen)

    def _activated(self, index: int) -> None:
        choice = self.data.itemData(index)
        if choice == OPEN_FILE:
            path, _ = QFileDialog.getOpenFileName(self, "Choose data", "", DATA_FILES)
        elif choice == OPEN_FOLDER:
            path = QFileDialog.getExistingDirectory(self, "Choose an image folder (one subfolder per class)")
        else:
            path = choice
        if not path:
            self.data.setCurrentIndex(self._chosen)
            return
        self._select(path)
        self.dataChanged.emit(self.spec())


def short_name(source: str) -> str:
    """A data file or folder by its own name and its folder's ("nudenet-320n/data.npz"): a whole path
    was cut to "/work/main/corpus/nuder" in the toolbar. The item's tooltip keeps the whole path."""
    if source.startswith("sample:"):
        return source
    path = Path(source)
    name = path.name + ("/" if path.is_dir() else "")
    return f"{path.parent.name}/{name}" if path.parent.name else name
