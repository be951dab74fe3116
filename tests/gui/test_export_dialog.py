"""Export a version from the window: the dialog runs the export as a job and reports what the file does."""

import json
from pathlib import Path

from PySide6.QtCore import QStandardPaths, Qt
from PySide6.QtGui import QDesktopServices, QTextDocumentFragment
from PySide6.QtWidgets import QMessageBox

from studio.core.deliver.deploy import used_options


def test_export_reports_size_accuracy_latency_and_parity(studio, run_sheet, qtbot, tmp_path, monkeypatch):
    window = studio
    run_sheet(window, "prune", lambda sheet: sheet.finetune.set_value("epochs", 0))
    window.compression.export_action.trigger()
    dialog = window.compression.export_dialog
    assert dialog.isVisible() and dialog.windowTitle() == "Export v1 pruned 80%"
    documents = QStandardPaths.writableLocation(QStandardPaths.StandardLocation.DocumentsLocation)
    assert dialog.path.text() == str(Path(documents) / "digits-cnn-v1.onnx")  # a sample has no folder of its own
    path = tmp_path / "out" / "new" / "digits.onnx"  # folders not made yet
    dialog.path.setText(str(path))
    dialog.sparse.setChecked(True)
    with qtbot.waitSignal(dialog.runner.finished, timeout=120_000):
        qtbot.mouseClick(dialog.export_button, Qt.MouseButton.LeftButton)
    assert path.is_file() and Path(dialog.result["zip_path"]).is_file()  # "also write a .zip" is on at first
    text = QTextDocumentFragment.fromHtml(dialog.report.text()).toPlainText()
    assert "Size:" in text and "zipped" in text and "Accuracy:" in text and "onnxruntime" in text
    assert "Latency, batch 1:" in text and " ms (median of " in text and "onnxruntime CPUExecutionProvider" in text and "threads" in text
    assert "; source " in text  # timed beside the version it came from
    assert "Parity with the version: same answer on 100.00%" in text
    card = json.loads(path.with_name("digits.card.json").read_text())
    assert card["steps"] == [{"prune": used_options("prune", window.compression.session.version.result.options)}]
    assert "ratio" not in card["steps"][0]["prune"]  # a channel option: not what a magnitude prune used
    report = dialog.report
    qtbot.waitUntil(lambda: report.height() >= report.heightForWidth(report.width()))  # its last line shows
    assert card["sparse_initializers"] > 0

    opened = []
    monkeypatch.setattr(QDesktopServices, "openUrl", lambda url: opened.append(url.toLocalFile()) or True)
    qtbot.mouseClick(dialog.folder_button, Qt.MouseButton.LeftButton)
    qtbot.mouseClick(dialog.card_button, Qt.MouseButton.LeftButton)
    assert opened == [str(path.parent), str(path.with_name("digits.card.md"))]

    told = []  # no program to open files with (a bare desktop): where the file is, in a message
    monkeypatch.setattr(QDesktopServices, "openUrl", lambda url: False)
    monkeypatch.setattr(QMessageBox, "information", lambda parent, title, text: told.append((title, text)))
    qtbot.mouseClick(dialog.folder_button, Qt.MouseButton.LeftButton)
    qtbot.mouseClick(dialog.card_button, Qt.MouseButton.LeftButton)
    assert [title for title, _ in told] == ["Could not open the folder", "Could not open the model card"]
    assert str(path) in told[0][1] and str(path.with_name("digits.card.md")) in told[1][1]

    dialog.close()
    window.compression.export_action.trigger()  # the next export goes where the last one went
    assert window.compression.export_dialog.path.text() == str(path.parent / "digits-cnn-v1.onnx")


def test_export_goes_next_to_the_model_file_at_first(make_window, load, model_files):
    window = make_window()
    load(window, model_files["onnx"])
    window.compression.export_action.trigger()
    assert window.compression.export_dialog.path.text() == str(model_files["onnx"].parent / "digits-v0.onnx")


def test_an_onnx_version_is_exported_with_its_own_opset(studio, run_sheet):
    window = studio
    run_sheet(window, "quantize", lambda sheet: (sheet.form.set_value("mode", "dynamic")))
    window.compression.export_action.trigger()
    dialog = window.compression.export_dialog
    own = next(o.version for o in window.compression.session.version.model.onnx.opset_import if o.domain == "")
    assert not dialog.opset.isEnabled() and dialog.opset.value() == own and f"its own opset, {own}" in dialog.opset.toolTip()
