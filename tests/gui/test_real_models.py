"""Real models from corpus/ through the window, as a user would: open, choose their data, quantize with
the suggested mode, export, and read the report. Skipped where corpus/ is absent."""

import functools
import json
from pathlib import Path

import numpy as np
import pytest
from conftest import LOAD_TIMEOUT_MS, RUN_TIMEOUT_MS
from PySide6.QtCore import Qt
from PySide6.QtGui import QTextDocumentFragment
from PySide6.QtWidgets import QFileDialog

CORPUS = Path(__file__).resolve().parents[2] / "corpus"
if not (CORPUS / "manifest.json").is_file():
    pytest.skip(f"no model corpus at {CORPUS} (corpus/manifest.json)", allow_module_level=True)

MANIFEST = {entry["name"]: entry for entry in json.loads((CORPUS / "manifest.json").read_text())}
MODELS = ["rapidocr-cls-v2", "magika-standard-v3.3", "crepe-tiny"]  # small ONNX models, with data


@pytest.fixture(autouse=True)
def _quick_latency(monkeypatch):
    """Latency timed in a few runs at batches 1 and 16, not for up to 5 s per run at batch 256 (magika's
    dynamic int8 version takes 8 s a run there): the report shows it all the same. The export's child
    process is forked from this one, so it is patched there too."""
    from studio.core.deliver import deploy
    from studio.core.evaluate import latency

    monkeypatch.setattr(deploy, "LATENCY_BATCHES", (1, 16))
    monkeypatch.setattr(deploy, "latency", functools.partial(latency.latency, runs=3, budget_s=0.2))


@pytest.mark.parametrize("name", MODELS)
def test_open_choose_data_quantize_and_export(name, make_window, load, qtbot, monkeypatch, tmp_path):
    entry = MANIFEST[name]
    if not (CORPUS / entry["file"]).is_file() or not (CORPUS / entry["data"]).is_file():
        pytest.skip(f"{name}: its files are not in {CORPUS}")
    data = CORPUS / entry["data"]
    labelled = "y" in np.load(data).files
    window = make_window()
    info = load(window, CORPUS / entry["file"])
    c, session = window.compression, window.compression.session
    picker = c.picker

    outputs = [o.name for o in info.model.outputs]
    assert entry["class_output"] in outputs
    if len(outputs) > 1:  # named in the toolbar before measuring, as the manifest says
        picker.output.setCurrentIndex(picker.output.findData(entry["class_output"]))
        picker.output.activated.emit(picker.output.currentIndex())
    else:
        assert not picker.output.isVisibleTo(window)  # one output holds the classes: nothing to ask
    picker.unlabeled.setChecked(not labelled)
    monkeypatch.setattr(QFileDialog, "getOpenFileName", lambda *a, **k: (str(data), ""))
    picker.data.activated.emit(picker.data.findData("open-file"))
    qtbot.waitUntil(lambda: bool(session.version.metrics) and not session.running, timeout=LOAD_TIMEOUT_MS)
    assert c.output_dialog is None  # never asked
    assert ("accuracy" in session.version.metrics) == labelled

    sheet = c.open_sheet("quantize")
    assert sheet.advice.text().startswith("Suggested:")
    added = []
    session.runFinished.connect(added.extend)
    with qtbot.waitSignals([session.runFinished, window.modelChanged], timeout=RUN_TIMEOUT_MS):
        qtbot.mouseClick(sheet.run_button, Qt.MouseButton.LeftButton)
    (version,) = added
    assert window.info.model is version.model  # shown everywhere
    assert version.result.op == "quantize" and version.result.options["mode"] == sheet.form.value("mode")
    assert version.model.onnx is not None and version.metrics["size_bytes"] < session.history.versions[0].metrics["size_bytes"]
    assert c.versions.tree.topLevelItem(0).childCount() == 1  # the new version is listed
    if labelled:
        assert "accuracy" in version.metrics

    c.export_action.trigger()
    dialog = c.export_dialog
    path = tmp_path / f"{name}.onnx"
    dialog.path.setText(str(path))
    dialog.zip.setChecked(False)
    with qtbot.waitSignal(dialog.runner.finished, timeout=RUN_TIMEOUT_MS):
        qtbot.mouseClick(dialog.export_button, Qt.MouseButton.LeftButton)
    assert path.is_file() and path.with_name(f"{name}.card.json").is_file()
    text = QTextDocumentFragment.fromHtml(dialog.report.text()).toPlainText()
    assert "Latency, batch 1:" in text and " ms" in text and "Size:" in text
    assert ("Accuracy:" in text) == labelled
