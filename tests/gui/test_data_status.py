"""What the data picker says of the chosen data, before any run and without a dialog nobody asked for:
that it does not suit the model just opened (the whole sentence), or that it has one class only."""

import numpy as np
import onnx
from conftest import LOAD_TIMEOUT_MS
from onnx import TensorProto, helper
from PySide6.QtCore import QPoint


def rgb_model(path):
    """A tiny ONNX model of 3-channel images of any size: sample:digits' 1-channel 8×8 examples pass the
    studio's own shape check (height and width are free) and are refused by ONNX Runtime itself."""
    weight = helper.make_tensor("w", TensorProto.FLOAT, [4, 3, 3, 3], np.ones(108, np.float32).tolist())
    nodes = [helper.make_node("Conv", ["x", "w"], ["c"]), helper.make_node("ReduceMean", ["c"], ["y"], axes=[2, 3], keepdims=0)]
    graph = helper.make_graph(nodes, "rgb", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 3, "h", "w"])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 4])], [weight])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), path)
    return path


def fits_whole(label) -> bool:
    return label.isVisible() and label.height() >= label.heightForWidth(label.width())


def test_data_that_does_not_fit_a_model_opened_is_a_whole_line_not_a_dialog(studio, load, qtbot, tmp_path):
    """The issue saw an "Unexpected error" dialog, its sentence cut at "…for the following indices"."""
    window = studio
    status = window.compression.picker.status
    assert not status.isVisible()
    load(window, rgb_model(tmp_path / "rgb.onnx"))  # sample:digits stays chosen; any dialog fails the test
    qtbot.waitUntil(lambda: status.isVisible() and not window.compression.session.running, timeout=LOAD_TIMEOUT_MS)
    assert "Not measured on sample:digits: the data does not fit the model: input x: axis 1 is 3 in the model, " \
           "1 in the data. Choose other data to measure it." in status.text()
    qtbot.waitUntil(lambda: fits_whole(status))
    assert status.mapTo(window, QPoint(0, 0)).y() < window.tabs.mapTo(window, QPoint(0, 0)).y()  # a banner above the graph
    load(window, "sample:digits-cnn")  # a model the data suits: nothing to say any more
    qtbot.waitUntil(lambda: not status.isVisible() and bool(window.compression.session.version.metrics), timeout=LOAD_TIMEOUT_MS)


def test_data_with_one_class_is_said_before_a_run(studio, qtbot, tmp_path):
    from studio.core.formats.samples import load_sample_data

    window = studio
    session, status = window.compression.session, window.compression.picker.status
    x, _ = load_sample_data("digits")
    np.savez(tmp_path / "sevens.npz", x=x[:200], y=np.full(200, 7))
    session.set_data(str(tmp_path / "sevens.npz"))
    qtbot.waitUntil(lambda: status.isVisible(), timeout=LOAD_TIMEOUT_MS)
    assert "sevens.npz has one class only (7): accuracy on it means nothing" in status.text()
    assert "accuracy" in session.version.metrics  # measured all the same: the words say what the number is worth
    qtbot.waitUntil(lambda: fits_whole(status))
    session.set_data({"path": str(tmp_path / "sevens.npz"), "labels": "none"})  # agreement instead: nothing to say
    qtbot.waitUntil(lambda: not session.running and not status.isVisible(), timeout=LOAD_TIMEOUT_MS)
    session.set_data("sample:digits")
    qtbot.waitUntil(lambda: not session.running and bool(session.version.metrics), timeout=LOAD_TIMEOUT_MS)
    assert not status.isVisible()
