"""PyTorch files: state_dicts and checkpoints load safely, a pickled module only with trust, TorchScript
and torch.export archives with their signatures."""

import pickle
from pathlib import Path

import pytest
import torch
from torch import nn

from studio.core.errors import StudioError, TrustRequired
from studio.core.formats import load_torch
from studio.core.formats.load import load_model
from studio.core.formats.model import STATE_DICT_NOTE, Format, Model, TensorSpec
from studio.core.formats.samples import build_sample

LENET5_PARAMS = sum(p.numel() for p in build_sample("lenet-5").parameters())


def test_pt2_signature_comes_from_the_file(files):
    model = load_model(str(files["pt2"]))
    assert model.inputs[0].shape == (2, 1, 28, 28)
    assert model.capabilities()["prune_structured"].allowed is False


def test_pickled_module_is_refused_without_trust(files):
    with pytest.raises(TrustRequired, match="runs code"):
        load_model(str(files["pickled"]))
    model = load_model(str(files["pickled"]), trust=True)
    assert model.format is Format.PICKLED_MODULE
    assert sum(p.numel() for p in model.module.parameters()) == LENET5_PARAMS


class _Payload:
    def __init__(self, target):
        self.target = target

    def __reduce__(self):
        return (Path.write_text, (Path(self.target), "pwned"))


def test_malicious_pickle_never_runs_without_trust(tmp_path):
    target = tmp_path / "created-by-payload.txt"
    bad = tmp_path / "evil.pt"
    torch.save({"model": _Payload(target)}, bad)
    with pytest.raises(TrustRequired):
        load_model(str(bad))
    legacy = tmp_path / "evil-legacy.pkl"
    legacy.write_bytes(pickle.dumps(_Payload(target), protocol=2))
    with pytest.raises(TrustRequired):
        load_model(str(legacy))
    assert not target.exists()


def test_trusted_pickle_whose_class_is_missing_names_the_class(tmp_path):
    src = tmp_path / "m.pt"
    torch.save(build_sample("digits-cnn"), src)
    data = src.read_bytes().replace(b"DigitsCNN", b"GoneAwayX")  # same length: the zip stays valid
    patched = tmp_path / "patched.pt"
    patched.write_bytes(data)
    with pytest.raises(StudioError, match="GoneAwayX"):
        load_model(str(patched), trust=True)


def test_a_checkpoint_loads_as_the_weights_inside_it(tmp_path):
    weights = nn.Linear(4, 3).state_dict()
    path = tmp_path / "checkpoint.pt"
    torch.save({"epoch": 7, "model_state_dict": weights, "lr": 0.1}, path)
    model = load_torch.load_pickle(path, "checkpoint.pt", trust=False)
    assert model.format is Format.STATE_DICT and model.module is None
    assert model.state_dict.keys() == weights.keys()
    assert all(torch.equal(model.state_dict[k], weights[k]) for k in weights)
    assert model.notes == [STATE_DICT_NOTE] and model.size_bytes == path.stat().st_size


def test_an_object_that_is_no_model_is_named(tmp_path):
    torch.save([1, 2, 3], tmp_path / "list.pt")
    with pytest.raises(StudioError, match="holds a list, not a model or a state_dict"):
        load_torch.load_pickle(tmp_path / "list.pt", "list.pt", trust=False)


def test_damaged_archives_are_one_line_errors(tmp_path):
    (tmp_path / "bad.safetensors").write_bytes(b"\x10" + bytes(7) + b"{not json at all}")
    (tmp_path / "bad.zip").write_bytes(b"PK\x03\x04" + bytes(100))
    cases = [(load_torch.load_safetensors, "bad.safetensors", "damaged safetensors file"),
             (load_torch.load_torchscript, "bad.zip", "damaged TorchScript archive"),
             (load_torch.load_exported, "bad.zip", "damaged torch.export archive")]
    for load, name, words in cases:
        with pytest.raises(StudioError, match=words) as error:
            load(tmp_path / name, name)
        assert "\n" not in str(error.value) and str(error.value).startswith(f"{name}: ")


class Typed(nn.Module):
    def forward(self, x, sr: int, gain: float, flag: bool):
        return x * sr * gain if flag else x


def test_torchscript_inputs_keep_their_python_number_types(tmp_path):
    torch.jit.save(torch.jit.script(Typed()), tmp_path / "typed.pt")
    model = load_torch.load_torchscript(tmp_path / "typed.pt", "typed.pt")
    assert [(s.name, s.shape, s.dtype) for s in model.inputs] == [
        ("x", None, "float32"), ("sr", None, "int64"), ("gain", None, "float64"), ("flag", None, "bool")]
    assert not model.module.training


def test_a_program_module_switches_between_train_and_eval(files):
    model = load_torch.load_exported(files["pt2"], "program.pt2")
    module = model.module
    module.train()
    assert module.training
    module.eval()
    assert not module.training
    x = torch.randn(2, 1, 28, 28)
    with torch.no_grad():
        assert torch.allclose(module(x), build_sample("lenet-5")(x), atol=1e-5)
    assert model.inputs[0].dtype == "float32" and model.outputs[0].shape == (2, 10)


class TwoOutputs(nn.Module):
    def forward(self, x):
        return x.sum(1), x * 2


def test_outputs_are_learned_by_running_the_module_once():
    model = Model("two", Format.PICKLED_MODULE, inputs=[TensorSpec("x", ("batch", 3))], module=TwoOutputs())
    outputs = load_torch.infer_outputs(model)
    assert [(s.name, s.shape) for s in outputs] == [("output0", (1,)), ("output1", (1, 3))]  # a dynamic axis runs as 1
    single = Model("one", Format.PICKLED_MODULE, inputs=[TensorSpec("x", (2, 4))], module=nn.Linear(4, 3))
    assert [(s.name, s.shape) for s in load_torch.infer_outputs(single)] == [("output", (2, 3))]


def test_an_input_shape_the_module_refuses_is_a_note_not_an_error():
    model = Model("linear", Format.PICKLED_MODULE, inputs=[TensorSpec("x", (2, 5))], module=nn.Linear(4, 3))
    assert load_torch.infer_outputs(model) == []
    assert len(model.notes) == 1 and "does not run on input shape [(2, 5)]" in model.notes[0]
