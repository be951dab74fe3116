"""Structured pruning: whole channels removed with Torch-Pruning, the classes kept."""

import numpy as np
import onnxruntime as ort
import pytest
import torch

from studio.core.compress.channels import channels, output_layers
from studio.core.errors import StudioError
from studio.core.formats.examples import example_inputs
from studio.core.formats.load import load_model
from studio.core.formats.load_onnx import full_onnx
from studio.core.formats.to_onnx import to_onnx


@pytest.fixture(scope="module")
def lenet():
    return load_model("sample:lenet-5")


def out_channels(model) -> list[int]:
    return [m.out_channels for m in model.module.modules() if isinstance(m, torch.nn.Conv2d)]


def test_channel_pruning_makes_a_narrower_model_that_exports_and_runs():
    lenet = load_model("sample:lenet-5")
    pruned = channels(lenet, 0.5)
    convs = [m for m in pruned.module.modules() if isinstance(m, torch.nn.Conv2d)]
    assert [c.out_channels for c in convs] == [8, 24]  # 20→10→8 and 50→25→24: multiples of 8
    assert pruned.module.fc2.out_features == 10
    assert sum(p.numel() for p in pruned.module.parameters()) < 0.3 * 431_080
    exported = to_onnx(pruned)
    sess = ort.InferenceSession(full_onnx(exported).SerializeToString())
    out = sess.run(None, {sess.get_inputs()[0].name: np.zeros((5, 1, 28, 28), np.float32)})[0]
    assert out.shape == (5, 10)
    assert sum(p.numel() for p in lenet.module.parameters()) == 431_080  # untouched


def test_channel_pruning_is_refused_for_fixed_graphs(files):
    with pytest.raises(StudioError, match="TorchScript"):
        channels(load_model(str(files["torchscript"]), input_shape="1,1,28,28"), 0.5)


def test_the_layer_that_writes_the_classes_keeps_its_outputs(lenet):
    assert output_layers(lenet.module, example_inputs(lenet)) == [lenet.module.fc2]


def test_without_rounding_the_ratio_is_exact_and_kept_channels_are_unchanged(lenet):
    pruned = channels(lenet, 0.5, round_to=None)
    assert out_channels(pruned) == [10, 25]
    kept, original = pruned.module.conv1.weight.detach(), lenet.module.conv1.weight.detach()
    assert all(any(torch.equal(row, o) for o in original) for row in kept)  # channels removed, none changed
    assert pruned.notes == lenet.notes and pruned.notes is not lenet.notes


def test_excluded_layers_keep_their_channels(lenet):
    pruned = channels(lenet, 0.5, round_to=None, exclude=["conv1"])
    assert out_channels(pruned) == [20, 25]
    assert channels(lenet, 0.5, round_to=None, exclude=["Conv2d"]).module.fc1.out_features == 250  # by type


@pytest.mark.parametrize("ratio", [0.0, 1.0, 1.5])
def test_a_ratio_outside_zero_to_one_is_refused(lenet, ratio):
    with pytest.raises(StudioError, match="between 0 and 1"):
        channels(lenet, ratio)


def test_an_onnx_model_is_converted_first(lenet):
    with pytest.raises(StudioError, match="an ONNX model is converted first"):
        channels(to_onnx(lenet), 0.5)


def test_the_prune_step_removes_channels_from_an_onnx_model_through_pytorch_and_exports_it_again():
    from studio.core.evaluate.data import load_data
    from studio.core.evaluate.runtime import predict
    from studio.core.process.jobs import NO_CANCEL, run_to_end
    from studio.core.project.recipe import StepResult, run_step
    from studio.core.project.steps import OPS, Context

    data = load_data("sample:digits")
    onnx_model = to_onnx(load_model("sample:digits-cnn"))
    start = StepResult("load", {}, "original", onnx_model, {})
    pruned = run_to_end(run_step(start, "prune", OPS["prune"].validate("prune", {"method": "channels", "ratio": 0.5}),
                                 Context(data, "cpu", NO_CANCEL, original=onnx_model))).model
    assert pruned.origin is None and any("exported by torch.onnx" in n for n in pruned.notes)
    widths = [m.out_channels for m in pruned.module.modules() if isinstance(m, torch.nn.Conv2d)]
    assert widths == [8, 16]  # half of 16 and 32, in multiples of 8
    exported = to_onnx(pruned, example=data.example_for(pruned.inputs))
    x = data.test().shaped_for(pruned.inputs).x
    assert [i.name for i in exported.onnx.graph.input] == [i.name for i in onnx_model.onnx.graph.input]
    assert abs(predict(exported, x) - predict(pruned, x)).max() < 1e-4


def test_the_output_keeps_its_dynamic_batch_axis(lenet):
    assert channels(lenet, 0.5).outputs[0].shape == ("batch", 10)


def test_a_transformers_heads_are_ranked_on_the_data_when_the_prune_step_has_it(tmp_path):
    pytest.importorskip("transformers")
    from hf_folders import sentences, tiny_bert

    from studio.core.evaluate.data import load_data

    folder = tiny_bert(tmp_path / "bert", head="sentence")
    (tmp_path / "lines.txt").write_text("\n".join(sentences(40)[0]) + "\n")
    model = load_model(str(folder))
    data = load_data(str(tmp_path / "lines.txt"), tokenizer=model.tokenizer)
    on_data = channels(model, 0.5, None, example=data.example_for(model.inputs, 40))
    by_weights = channels(model, 0.5, None)
    assert "(ranked on 32 examples); output projections refitted on 40 examples" in on_data.notes[-1]  # ranked on the first 32
    assert by_weights.notes[-1].endswith("(ranked by weight norms)")
    assert "heads 2 → 1" in on_data.notes[-1]


# ONNX models that Torch-Pruning cannot follow as onnx2torch converts them (issue 15's real CNNs, in small)
