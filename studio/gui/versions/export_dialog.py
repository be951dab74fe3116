"""Export a version as an ONNX file: where (next to the model, or in the folder exported to last),
which opset, zipped, sparse; the export runs as a job and ends with a report of what the written
file does in ONNX Runtime."""

from __future__ import annotations

from html import escape
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import Qt, QUrl
from PySide6.QtGui import QDesktopServices
from PySide6.QtWidgets import (
    QCheckBox,
    QDialog,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QMessageBox,
    QProgressBar,
    QSpinBox,
    QVBoxLayout,
)

from studio.gui.common import dialogs, metric_text
from studio.gui.common.settings import settings
from studio.gui.common.widgets import button
from studio.gui.run.worker import JobRunner
from studio.gui.versions.project_files import file_stem, work_folder

if TYPE_CHECKING:
    from studio.core.project.versions import History, Version
    from studio.gui.run.session import Session

LAST_FOLDER = "export/folder"  # the folder of the last export, in the settings


def default_path(history: History, version: Version) -> Path:
    """Where an export goes unless the user says otherwise: the folder exported to last, else the
    model file's folder, else (a sample) the Documents folder."""
    source = history.versions[0].model.source
    folder = settings().value(LAST_FOLDER, "") or work_folder(source)
    return Path(folder) / f"{file_stem(source)}-v{version.id}.onnx"


class ExportDialog(QDialog):
    def __init__(self, session: Session, version: Version, path: Path, parent=None):
        super().__init__(parent)
        self.session, self.version = session, version
        self.result: dict | None = None
        self.setWindowTitle(f"Export {version.label}")
        self.setMinimumWidth(520)
        self.path = QLineEdit(str(path))
        self.path.setToolTip("Where the ONNX file goes; its model card (.card.md, .card.json) is written beside it")
        browse = button("Browse…", "Choose where to write the ONNX file", self._browse)
        self.opset = QSpinBox()
        self.opset.setRange(7, 23)
        self.opset.setValue(17)
        self.opset.setToolTip("ONNX operator set version: 17 runs in every recent ONNX Runtime; lower it for older runtimes")
        own = _own_opset(version.model)
        if own is not None:  # written as it is: no exporter runs, whatever opset is asked
            self.opset.setValue(own)
            self.opset.setEnabled(False)
            self.opset.setToolTip(f"This version is an ONNX model already: it is written with its own opset, {own}")
        self.zip = QCheckBox("Also write a .zip of the file")
        self.zip.setToolTip("A zipped copy: pruned (zero) weights make it much smaller; unzip it before running")
        self.zip.setChecked(True)
        self.sparse = QCheckBox("Store pruned weights sparse")
        self.sparse.setToolTip("Weights with many zeros are stored as their non-zero values only: a smaller file. "
                               "ONNX Runtime makes them dense again when it loads the file, so it runs no faster.")
        where = QHBoxLayout()
        where.addWidget(self.path, 1)
        where.addWidget(browse)
        form = QFormLayout()
        form.addRow("File:", where)
        form.addRow("Opset:", self.opset)
        form.addRow("", self.zip)
        form.addRow("", self.sparse)

        self.bar = QProgressBar()
        self.bar.setRange(0, 1000)
        self.bar.setToolTip("How far the export is")
        self.bar.hide()
        self.report = QLabel()
        self.report.setWordWrap(True)
        self.report.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.report.setToolTip("What the written file does, measured in ONNX Runtime")
        self.export_button = button("Export", "Write the file, then measure its size, accuracy and speed in ONNX Runtime", self.export)
        self.export_button.setDefault(True)
        self.folder_button = button("Show in folder", "Open the folder the file was written to", self._show_folder)
        self.card_button = button("Open model card", "Open the model card: what the file is, how it was made and measured", self._open_card)
        self.close_button = button("Close", "Close this window (an export still running is cancelled)", self.reject)
        self.folder_button.hide()
        self.card_button.hide()
        buttons = QHBoxLayout()
        buttons.addWidget(self.folder_button)
        buttons.addWidget(self.card_button)
        buttons.addStretch(1)
        buttons.addWidget(self.export_button)
        buttons.addWidget(self.close_button)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(self.bar)
        layout.addWidget(self.report, 1)
        layout.addLayout(buttons)

        self.runner = JobRunner(self)
        self.runner.progress.connect(lambda e: (self.bar.setValue(round(1000 * e.fraction)), self.report.setText(e.message[:1].upper() + e.message[1:] + "…")))
        self.runner.finished.connect(self._exported)
        self.runner.failed.connect(self._failed)
        self.finished.connect(lambda _: self.runner.cancel())

    def export(self) -> None:
        history = self.session.history
        steps = history.recipe(self.version.id, self.session.data).to_dict()["steps"]
        self.export_button.setEnabled(False)
        self.bar.show()
        self.runner.start(_export_job, self.version.model, Path(self.path.text()), self.session.data, self.session.device,
                          self.opset.value(), self.zip.isChecked(), self.sparse.isChecked(), steps, history.versions[0].model)

    def _exported(self, result: dict) -> None:
        self.result = result
        settings().setValue(LAST_FOLDER, str(Path(result["path"]).parent))
        self.bar.hide()
        self.export_button.setEnabled(True)
        self.report.setText(report(result, self.session.history.versions[0].metrics))
        self.folder_button.show()
        self.card_button.show()
        self.fit_report()

    def fit_report(self) -> None:
        """Grow the dialog to the report's height at its width: a word-wrapped label's lines are not
        counted in the dialog's size, and the last line of the report was cut off."""
        self.layout().activate()
        needed = self.layout().totalHeightForWidth(self.width())
        if needed > self.height():
            screen = self.screen().availableGeometry().height() if self.screen() else needed
            self.resize(self.width(), min(needed, screen))

    def _failed(self, error: Exception) -> None:
        from studio.core.errors import StudioError, first_line
        from studio.core.project.workspace import needs_output

        self.bar.hide()
        self.export_button.setEnabled(True)
        self.report.setText("")
        if needs_output(error):  # the window asks which output holds the classes; then export again
            self.report.setText("Not exported: the data's classes could be in more than one output. Choose which, then export again.")
            self.session.outputAsked.emit(error.problem)
        elif isinstance(error, StudioError):
            dialogs.show_error(self, "Could not export", str(error), dialogs.error_details(error))
        else:
            dialogs.show_error(self, "Unexpected error", f"export: {type(error).__name__}: {first_line(error)}", dialogs.error_details(error))
            raise error

    def _browse(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Export as ONNX", self.path.text(), "ONNX models (*.onnx)")
        if path:
            self.path.setText(path if path.endswith(".onnx") else path + ".onnx")

    def _show_folder(self) -> None:
        self._open(str(Path(self.result["path"]).parent), "the folder", f"The file is {self.result['path']}")

    def _open_card(self) -> None:
        self._open(self.result["card_md"], "the model card", f"The model card is {self.result['card_md']}")

    def _open(self, path: str, what: str, where: str) -> None:
        """Open a file or folder in the desktop's program for it; where there is none (openUrl fails
        quietly), say where it is, so that the user can find it."""
        if not QDesktopServices.openUrl(QUrl.fromLocalFile(path)):
            QMessageBox.information(self, f"Could not open {what}", f"No program here opens {what}. {where}")


def _own_opset(model) -> int | None:
    """The opset of a version that is ONNX already (quantized, or trained weights put back into its
    graph), which the export keeps; None for a PyTorch version, exported at the opset asked for."""
    graph = model.onnx if model.onnx is not None else getattr(model.origin, "proto", None)
    if graph is None:
        return None
    return next((o.version for o in graph.opset_import if o.domain in ("", "ai.onnx")), None)


def report(result: dict, original: dict) -> str:
    """The export's numbers in a few lines of rich text."""
    from studio.core.deliver.verdict import latency_lines, size_words  # (core imports torch: not before the window shows)

    m, size = result["metrics"], metric_text.human_bytes
    lines = [f"<b>Wrote {escape(Path(result['path']).name)}</b> in {escape(str(Path(result['path']).parent))}"]
    before = f"{size(original['size_bytes'])} (the original's weights) → " if "size_bytes" in original else ""
    lines.append(f"<b>Size:</b> {before}{size(result['size_bytes'])}" + (f", {size(result['zip_bytes'])} zipped" if "zip_bytes" in result else "")
                 + (f" — {size_words(result['size_bytes'], original['size_bytes'])}" if "size_bytes" in original else ""))
    if "accuracy" in m:
        lines.append(f"<b>Accuracy:</b> {m['accuracy']:.2%} on the test split, run in {escape(m['runtime'])}")
    if "agreement" in m:
        lines.append(f"<b>Fidelity to the original:</b> same answer on {m['agreement']:.2%} of the test split, SQNR {m['sqnr_db']:.1f} dB")
    for label, text in latency_lines(m):
        lines.append(f"<b>{escape(label.capitalize())}:</b> {escape(text)}")
    p = m["parity"]
    lines.append(f"<b>Parity with the version:</b> same answer on {p['top1_agreement']:.2%}, largest difference {p['max_abs_diff']:.2e} "
                 f"({escape(p['reference'])} against {escape(p['runtime'])}, {escape(p['inputs'])})")
    return "<br>".join(lines)


def _export_job(model, path: Path, spec, device: str, opset: int, with_zip: bool, sparse: bool, steps: list, original, cancel):
    """Export, measure and write in a child process (see session.with_data): its latency is measured
    with the job threads, and a CUDA run initialises CUDA only there, where later jobs do not inherit it."""
    from studio.core.deliver.deploy import export_version
    from studio.core.project.workspace import with_data

    def export(data, cancel):
        return export_version(model, path, data, device, opset=opset, with_zip=with_zip, sparse=sparse, steps=steps,
                              original=original, cancel=cancel)

    return (yield from with_data(export, spec, cancel=cancel))
