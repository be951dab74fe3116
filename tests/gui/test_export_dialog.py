"""Export a version from the window: the dialog runs the export as a job and reports what the file does."""

import json
from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtGui import QDesktopServices, QTextDocumentFragment


def test_export_reports_size_accuracy_latency_and_parity(studio, run_sheet, qtbot, tmp_path, monkeypatch):
    window = studio
    run_sheet(window, "prune", lambda sheet: sheet.finetune.set_value("epochs", 0))
    window.compression.export_action.trigger()
    dialog = window.compression.export_dialog
    assert dialog.isVisible() and dialog.windowTitle() == "Export v1 pruned 80%"
    path = tmp_path / "out" / "digits.onnx"
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
    assert card["steps"] == [{"prune": window.compression.session.version.result.options}]
    assert card["sparse_initializers"] > 0

    opened = []
    monkeypatch.setattr(QDesktopServices, "openUrl", lambda url: opened.append(url.toLocalFile()) or True)
    qtbot.mouseClick(dialog.folder_button, Qt.MouseButton.LeftButton)
    qtbot.mouseClick(dialog.card_button, Qt.MouseButton.LeftButton)
    assert opened == [str(path.parent), str(path.with_name("digits.card.md"))]
