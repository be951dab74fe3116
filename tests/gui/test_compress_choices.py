"""What the toolbar offers: the data (a sample's own, a file, no labels), the device, and actions a
model cannot do, disabled with the reason."""

import numpy as np
import pytest
import torch
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QFileDialog

from studio.core.errors import StudioError
from studio.core.formats.samples import load_sample_data


def test_a_sample_opens_with_its_own_data_and_actions_follow_capabilities(studio):
    window = studio
    c = window.compression
    assert c.picker.spec() == "sample:digits" == c.session.data
    assert c.session.version.metrics["accuracy"] > 0.9
    assert all(a.isEnabled() for a in [*c.actions.values(), c.export_action, c.save_recipe_action])
    assert [c.picker.device.itemData(i) for i in range(c.picker.device.count())] == ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])


def test_without_a_model_nothing_can_run(make_window):
    window = make_window()
    for action in window.compression.actions.values():
        assert not action.isEnabled() and "Open a model first" in action.toolTip()
    assert not window.compression.export_action.isEnabled()
    assert "Choose Prune, Quantize or Distill" in window.compression.sheet_holder.message
    assert "Versions you make show here" in window.compression.versions._placeholder.message


def test_an_onnx_model_with_a_fixed_batch_needs_data_and_cannot_be_fine_tuned_or_slimmed(make_window, load, model_files, qtbot, monkeypatch, tmp_path):
    window = make_window()
    load(window, model_files["onnx"])
    c = window.compression
    assert c.picker.spec() is None and c.session.data is None
    assert c.actions["prune"].isEnabled()  # weights pruned in place
    prune = c.open_sheet("prune")
    assert not prune.finetune.isEnabled() and "fixes the batch to 1" in prune.finetune_note.text()
    assert not prune.form.widgets["method"].model().item(1).isEnabled()  # no channel pruning for ONNX
    distill = c.open_sheet("distill")  # no slimmer copy: said beside it, and no other student chosen in its place
    assert not distill.slim.isEnabled() and distill.kind.checkedButton() is None
    assert distill.slim_note.isVisibleTo(window) and "fixes the batch to 1" in distill.slim_note.text()
    assert "Choose another model file" in distill.slim_note.text()
    with pytest.raises(StudioError, match="choose the student"):
        distill.steps()

    x, y = load_sample_data("digits")
    path = tmp_path / "digits.npz"
    np.savez(path, x=x, y=y)
    monkeypatch.setattr(QFileDialog, "getOpenFileName", lambda *a, **k: (str(path), ""))
    picker = c.picker
    with qtbot.waitSignal(c.session.versionsChanged, timeout=60_000):  # the original is measured on the new data
        picker.data.activated.emit(picker.data.findData("open-file"))
    assert c.session.data == str(path) and picker.data.currentText() == f"{path.parent.name}/digits.npz"  # not a whole path, cut
    assert picker.data.itemData(picker.data.currentIndex(), Qt.ItemDataRole.ToolTipRole) == str(path)
    assert c.session.version.metrics["accuracy"] > 0.9

    with qtbot.waitSignal(c.session.versionsChanged, timeout=60_000):
        picker.unlabeled.setChecked(True)
    assert c.session.data == {"path": str(path), "labels": "none"}
    assert "accuracy" not in c.session.version.metrics


def test_cuda_is_listed_when_torch_sees_a_gpu(make_window, load, monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    window = make_window()
    load(window, "sample:digits-cnn")
    picker = window.compression.picker
    assert [picker.device.itemText(i) for i in range(picker.device.count())] == ["CPU", "CUDA (GPU)"]
    picker.device.setCurrentIndex(1)
    picker.device.activated.emit(1)
    assert window.compression.session.device == "cuda"


def test_a_float_onnx_model_teaches_a_slimmer_copy_of_itself(make_window, load, tmp_path):
    from studio.core.formats.samples import build_sample, sample_input

    path = tmp_path / "digits-dynamic.onnx"
    torch.onnx.export(build_sample("digits-cnn"), (sample_input("digits-cnn", 1),), path, dynamo=False,
                      input_names=["x"], dynamic_axes={"x": {0: "batch"}})
    window = make_window()
    load(window, str(path))
    distill = window.compression.open_sheet("distill")  # cut from its checked conversion, the teacher in ONNX Runtime
    assert distill.slim.isEnabled() and distill.slim.isChecked() and not distill.slim_note.isVisibleTo(window)
    assert distill.steps()[0][1]["student"] == {"width": 0.25}
