"""The operations a recipe step or a window action performs: options checked, a label, and a job
that returns a new version and leaves the one it started from as it was."""

import pytest
import torch

from studio.core.compress import quantize_ort
from studio.core.errors import StudioError
from studio.core.evaluate.data import load_data
from studio.core.formats.load import load_model
from studio.core.formats.model import Format, Model
from studio.core.inspect.precision import quantized_ops
from studio.core.inspect.prunable import weight_sparsity
from studio.core.process.jobs import CancelToken, run_to_end
from studio.core.project.steps import OPS, Context


@pytest.fixture(scope="module")
def mlp():
    return load_model("sample:lenet-300-100")


@pytest.fixture(scope="module")
def digits():
    return load_data("sample:digits").subset(slice(0, 400))


def run(op: str, options: dict, model: Model, data=None, events=None):
    ctx = Context(data, "cpu", CancelToken(), model)
    return run_to_end(OPS[op].run(model, OPS[op].validate(op, options), ctx), events.append if events is not None else None)


def describe(op: str, options: dict) -> str:
    return OPS[op].describe(OPS[op].validate(op, options))


def test_every_operation_validates_its_defaults_and_says_whether_it_needs_data():
    for name, op in OPS.items():
        assert op.name == name and op.validate(name, {}).keys() == op.fields.keys()
    assert {name for name, op in OPS.items() if op.needs_data} == {"finetune", "distill"}


@pytest.mark.parametrize("op, options, label", [
    ("prune", {"sparsity": 0.5}, "pruned 50%"),
    ("prune", {"sparsity": 0.9, "schedule": "gradual"}, "pruned 90% (gradual)"),
    ("prune", {"method": "channels", "ratio": 0.25}, "25% of channels removed"),
    ("finetune", {"epochs": 2}, "fine-tuned 2 epochs"),
    ("finetune", {"epochs": 1}, "fine-tuned 1 epoch"),
    ("distill", {}, "distilled into width 0.25"),
    ("distill", {"student": {"sample": "digits-cnn"}}, "distilled into digits-cnn"),
    ("distill", {"student": {"model": "small.pt"}}, "distilled into small.pt"),
    ("quantize", {}, "int8 dynamic"),
    ("quantize", {"mode": "static", "samples": 64, "keep_float": 2}, "int8 static (minmax, 64 samples), up to 2 layers float"),
])
def test_each_version_is_labelled_by_what_made_it(op, options, label, monkeypatch):
    monkeypatch.setattr(quantize_ort, "saturates", lambda: False)  # labels as on a CPU whose int8 kernels do not saturate
    assert describe(op, options) == label


def test_magnitude_pruning_makes_a_new_version(mlp):
    events = []
    pruned = run("prune", {"sparsity": 0.7}, mlp, events=events)
    assert weight_sparsity(pruned) == pytest.approx(0.7, abs=1e-6) and weight_sparsity(mlp) == 0.0
    assert pruned.module is not mlp.module and events and "70%" in events[0].message


def test_pruning_without_a_sparsity_or_on_bare_weights_is_refused(mlp):
    with pytest.raises(StudioError, match="needs a 'sparsity'"):
        run("prune", {}, mlp)
    weights = Model("w.pt", Format.STATE_DICT, state_dict={"fc.weight": torch.ones(2, 2)})
    with pytest.raises(StudioError, match="no architecture"):
        run("prune", {"sparsity": 0.5}, weights)


def test_gradual_pruning_raises_the_sparsity_epoch_by_epoch(digits):
    model = load_model("sample:digits-cnn")
    with pytest.raises(StudioError, match="needs data"):
        run("prune", {"sparsity": 0.8, "schedule": "gradual", "epochs": 2}, model)
    events = []
    pruned = run("prune", {"sparsity": 0.8, "schedule": "gradual", "epochs": 2}, model, digits, events)
    targets = sorted({e.message.split(",")[0] for e in events if e.message.startswith("sparsity")})
    assert targets == ["sparsity 70.0%", "sparsity 80.0%"]  # 0.8 · (1 − (1 − t/2)³) after epochs 1 and 2
    assert weight_sparsity(pruned) == pytest.approx(0.8, abs=1e-6) and weight_sparsity(model) == 0.0


def test_the_channels_method_removes_channels():
    lenet = load_model("sample:lenet-5")
    narrow = run("prune", {"method": "channels", "ratio": 0.5, "round_to": 1}, lenet)
    assert (narrow.module.conv1.out_channels, narrow.module.conv2.out_channels) == (10, 25)
    assert lenet.module.conv1.out_channels == 20


def test_quantizing_makes_an_onnx_version_with_int8_layers(digits):
    model = load_model("sample:digits-cnn")
    quantized = run("quantize", {"mode": "dynamic"}, model, digits)
    assert quantized.format is Format.ONNX and model.format is Format.SAMPLE
    assert {r.precision for r in quantized_ops(quantized.onnx)} == {"int8"}


def test_fine_tuning_trains_a_copy(digits):
    model = load_model("sample:digits-cnn")
    before = model.module.fc2.weight.detach().clone()
    tuned = run("finetune", {"epochs": 1, "lr": 0.01}, model, digits)
    assert not torch.equal(tuned.module.fc2.weight, before) and torch.equal(model.module.fc2.weight, before)


def test_a_slimmer_student_of_an_onnx_teacher_is_made_from_its_checked_conversion(digits):
    from studio.core.formats.to_onnx import to_onnx

    teacher = to_onnx(load_model("sample:digits-cnn"))
    student = run("distill", {"student": {"width": 0.5}, "epochs": 1}, teacher, digits)
    assert student.module is not None and any("converted to PyTorch by onnx2torch" in n for n in student.notes)
    conv = next(m for m in student.module.modules() if isinstance(m, torch.nn.Conv2d))
    teacher_channels = next(t for t in teacher.onnx.graph.initializer if len(t.dims) == 4).dims[0]
    assert conv.out_channels < teacher_channels


def test_a_sample_student_of_an_onnx_teacher_needs_no_conversion(digits, monkeypatch):
    from studio.core.formats.to_onnx import to_onnx
    from studio.core.project import steps

    monkeypatch.setattr(steps, "trainable_version", lambda *a, **k: pytest.fail("the teacher was converted"))
    teacher = to_onnx(load_model("sample:digits-cnn"))
    student = run("distill", {"student": {"sample": "digits-cnn", "width": 0.5}, "epochs": 1}, teacher, digits)
    assert student.module is not None and not any("onnx2torch" in n for n in student.notes)
