"""A model with several outputs that could each hold the classes: the window asks which (or none),
keeps the answer in the data spec, and measuring, quantizing and exporting use it. One output: no question."""

import numpy as np
import onnx
import pytest
from conftest import LOAD_TIMEOUT_MS
from onnx import TensorProto, helper, numpy_helper
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QFileDialog, QLabel

from studio.gui.common.dialogs import NO_CLASSES

RNG = np.random.default_rng(0)
W = {"a": RNG.normal(size=(8, 10)).astype(np.float32), "b": RNG.normal(size=(8, 10)).astype(np.float32)}


def tiny_model(path, outputs=("a", "b")):
    """x [N, 8] → one MatMul per output, each [N, 10]."""
    nodes = [helper.make_node("MatMul", ["x", f"w_{o}"], [o], name=f"fc_{o}") for o in outputs]
    graph = helper.make_graph(
        nodes, "two_heads",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 8])],
        [helper.make_tensor_value_info(o, TensorProto.FLOAT, ["N", 10]) for o in outputs],
        [numpy_helper.from_array(W[o], f"w_{o}") for o in outputs],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    onnx.save(model, path)
    return path


@pytest.fixture
def labelled(tmp_path):
    """200 examples whose labels are output b's answers (output a agrees on about one in ten)."""
    x = RNG.normal(size=(200, 8)).astype(np.float32)
    path = tmp_path / "heads.npz"
    np.savez(path, x=x, y=(x @ W["b"]).argmax(1))
    return path


def choose_data(window, path, monkeypatch):
    picker = window.compression.picker
    monkeypatch.setattr(QFileDialog, "getOpenFileName", lambda *a, **k: (str(path), ""))
    picker.data.activated.emit(picker.data.findData("open-file"))


def test_the_window_asks_which_output_holds_the_classes_and_keeps_the_answer(make_window, load, labelled, tmp_path, qtbot, monkeypatch):
    window = make_window()
    window.resize(1366, 768)  # a laptop's width: a narrower window puts the toolbar's last items behind its » button
    load(window, tiny_model(tmp_path / "heads.onnx"))
    c, session = window.compression, window.compression.session
    assert c.picker.output.isVisibleTo(window) and c.picker.output.itemText(2) == "b [N, 10]"
    choose_data(window, labelled, monkeypatch)
    qtbot.waitUntil(lambda: c.output_dialog is not None and c.output_dialog.isVisible(), timeout=LOAD_TIMEOUT_MS)
    dialog = c.output_dialog
    assert [b.text() for b in dialog.options.values()] == ["a  [N, 10]", "b  [N, 10]", NO_CLASSES]
    assert any("could each hold the classes" in label.text() for label in dialog.findChildren(QLabel))
    assert not session.version.metrics.get("accuracy")  # nothing measured, no error dialog: a question
    dialog.choose("b")
    with qtbot.waitSignal(session.versionsChanged, timeout=LOAD_TIMEOUT_MS):  # measured again, on output b
        dialog.accept()
    assert session.data == {"path": str(labelled), "output": "b"} == c.picker.spec()
    assert c.picker.output.currentData() == "b"
    assert session.version.metrics["accuracy"] == 1.0

    sheet = c.open_sheet("quantize")  # compressing measures on output b too
    sheet.form.set_value("mode", "dynamic")
    with qtbot.waitSignal(session.runFinished, timeout=LOAD_TIMEOUT_MS) as ran:
        qtbot.mouseClick(sheet.run_button, Qt.MouseButton.LeftButton)
    assert ran.args[0][-1].metrics["accuracy"] > 0.9

    c.export_action.trigger()  # and so does the export
    export = c.export_dialog
    export.path.setText(str(tmp_path / "out" / "heads.onnx"))
    export.zip.setChecked(False)
    with qtbot.waitSignal(export.runner.finished, timeout=LOAD_TIMEOUT_MS):
        qtbot.mouseClick(export.export_button, Qt.MouseButton.LeftButton)
    assert export.result["metrics"]["accuracy"] > 0.9
    assert c.output_dialog is dialog  # asked once


def test_none_sets_the_labels_aside(make_window, load, labelled, tmp_path, qtbot, monkeypatch):
    window = make_window()
    load(window, tiny_model(tmp_path / "heads.onnx"))
    c, session = window.compression, window.compression.session
    choose_data(window, labelled, monkeypatch)
    qtbot.waitUntil(lambda: c.output_dialog is not None and c.output_dialog.isVisible(), timeout=LOAD_TIMEOUT_MS)
    c.output_dialog.choose(None)
    with qtbot.waitSignal(session.versionsChanged, timeout=LOAD_TIMEOUT_MS):
        c.output_dialog.accept()
    assert session.data == {"path": str(labelled), "labels": "none"}
    assert c.picker.unlabeled.isChecked() and "accuracy" not in session.version.metrics
    assert "size_bytes" in session.version.metrics

    asked = c.output_dialog
    c.picker.output.setCurrentIndex(c.picker.output.findData("a"))  # named in the toolbar later on
    c.picker.output.activated.emit(c.picker.output.currentIndex())
    with qtbot.waitSignal(session.versionsChanged, timeout=LOAD_TIMEOUT_MS):
        c.picker.unlabeled.setChecked(False)
    qtbot.waitUntil(lambda: "accuracy" in session.version.metrics and not session.running, timeout=LOAD_TIMEOUT_MS)
    assert session.data == {"path": str(labelled), "output": "a"} and c.output_dialog is asked  # not asked again
    assert session.version.metrics["accuracy"] < 0.5


def test_a_model_with_one_output_never_asks(make_window, load, labelled, tmp_path, qtbot, monkeypatch):
    window = make_window()
    load(window, tiny_model(tmp_path / "one.onnx", outputs=("b",)))
    c, session = window.compression, window.compression.session
    assert not c.picker.output.isVisibleTo(window)
    with qtbot.waitSignal(session.versionsChanged, timeout=LOAD_TIMEOUT_MS):
        choose_data(window, labelled, monkeypatch)
    qtbot.waitUntil(lambda: "accuracy" in session.version.metrics, timeout=LOAD_TIMEOUT_MS)
    assert session.version.metrics["accuracy"] == 1.0 and c.output_dialog is None and session.data == str(labelled)
