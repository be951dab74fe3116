"""An ONNX file pruned and fine-tuned through the window: converted to PyTorch, checked, trained, and
exported back as its own graph."""

import onnx
from conftest import LOAD_TIMEOUT_MS

from studio.core.formats.load import load_model
from studio.core.formats.model import Format
from studio.core.formats.to_onnx import to_onnx


def _open_digits_onnx(make_window, load, qtbot, tmp_path):
    """The digits CNN as an ONNX file, open in a window with its data chosen and the original measured."""
    path = tmp_path / "digits.onnx"
    onnx.save(to_onnx(load_model("sample:digits-cnn")).onnx, path)
    window = make_window()
    info = load(window, path)
    c, session = window.compression, window.compression.session
    c.picker.data.activated.emit(c.picker.data.findData("sample:digits"))
    qtbot.waitUntil(lambda: bool(session.version.metrics) and not session.running, timeout=LOAD_TIMEOUT_MS)
    return window, info


def test_prune_and_fine_tune_an_onnx_file(make_window, load, run_sheet, qtbot, tmp_path):
    window, info = _open_digits_onnx(make_window, load, qtbot, tmp_path)
    assert info.model.format is Format.ONNX

    def configure(sheet):
        assert sheet.finetune.isEnabled() and not sheet.finetune_note.isVisibleTo(window)
        sheet.form.set_value("sparsity", 0.8)
        sheet.finetune.set_value("epochs", 1)

    pruned, tuned = run_sheet(window, "prune", configure)
    assert pruned.model.format is Format.ONNX and tuned.model.format is Format.CONVERTED
    assert any(n.startswith("converted to PyTorch by onnx2torch: max difference") for n in tuned.model.notes)
    assert tuned.metrics["accuracy"] > pruned.metrics["accuracy"]
    assert abs(tuned.metrics["weight_sparsity"] - 0.8) < 1e-3


def test_remove_channels_from_an_onnx_file_and_export_it(make_window, load, run_sheet, qtbot, tmp_path):
    window, info = _open_digits_onnx(make_window, load, qtbot, tmp_path)

    def configure(sheet):
        method = sheet.form.widgets["method"]
        assert method.model().item(1).isEnabled()  # whole channels, through the conversion
        sheet.form.set_value("method", "channels")
        sheet.form.set_value("ratio", 0.5)
        sheet.finetune.set_value("epochs", 1)

    pruned, tuned = run_sheet(window, "prune", configure)
    assert pruned.model.format is Format.CONVERTED and pruned.model.origin is None
    assert pruned.metrics["parameters"] < info.total.parameters / 2
    assert tuned.metrics["accuracy"] > 0.8
    assert tuned.metrics["latency_ms"] > 0
