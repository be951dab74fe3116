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
    on_data = channels(model, 0.5, None, example=data.example_for(model.inputs, 32))
    by_weights = channels(model, 0.5, None)
    assert on_data.notes[-1].endswith("(ranked on 32 examples)") and by_weights.notes[-1].endswith("(ranked by weight norms)")
    assert "heads 2 → 1" in on_data.notes[-1]


# ONNX models that Torch-Pruning cannot follow as onnx2torch converts them (issue 15's real CNNs, in small)

class SplitBlock(torch.nn.Module):
    """YOLOv8's C2f: one convolution's channels split in two, the second part used twice."""

    def __init__(self):
        super().__init__()
        self.cv1, self.m, self.cv2 = torch.nn.Conv2d(3, 32, 1), torch.nn.Conv2d(16, 16, 3, padding=1), torch.nn.Conv2d(48, 16, 1)
        self.head = torch.nn.Conv2d(16, 6, 1)

    def forward(self, x):
        a, b = torch.nn.functional.silu(self.cv1(x)).split((16, 16), 1)
        return self.head(self.cv2(torch.cat([a, b, b + torch.relu(self.m(b))], 1))).reshape(-1, 6, 64)  # [N, rows, anchors]


class ChannelBias(torch.nn.Module):
    """A per-channel constant added after a transposed convolution (PP-OCR's text detector)."""

    def __init__(self):
        super().__init__()
        self.conv, self.up = torch.nn.Conv2d(3, 32, 3, padding=1), torch.nn.ConvTranspose2d(32, 24, 2, stride=2, bias=False)
        self.register_buffer("bias", torch.randn(1, 24, 1, 1))
        self.out = torch.nn.Conv2d(24, 1, 1)

    def forward(self, x):
        return torch.sigmoid(self.out(torch.relu(self.up(torch.relu(self.conv(x))) + self.bias)))


class TransposedFlatten(torch.nn.Module):
    """Channels moved off axis 1 before a flatten (CREPE's classifier): the last convolution's channels
    are interleaved in the classifier's inputs, which Torch-Pruning cannot map."""

    def __init__(self):
        super().__init__()
        self.a, self.b, self.fc = torch.nn.Conv2d(1, 16, (3, 1), padding=(1, 0)), torch.nn.Conv2d(16, 16, (3, 1), padding=(1, 0)), torch.nn.Linear(64, 5)

    def forward(self, x):
        return self.fc(self.b(torch.relu(self.a(x))).permute(0, 2, 1, 3).reshape(-1, 64))


def converted(module: torch.nn.Module, shape: tuple, out: tuple):
    from studio.core.formats.model import Format, Model, TensorSpec, onnx2torch_installed
    from studio.core.formats.onnx_to_torch import onnx_to_torch

    if not onnx2torch_installed():
        pytest.skip("onnx2torch is not installed")
    torch.manual_seed(0)
    module.eval()
    model = Model("net", Format.PICKLED_MODULE, [TensorSpec("x", ("batch", *shape))], [TensorSpec("y", ("batch", *out))], module=module)
    example = {"x": np.random.default_rng(0).normal(size=(2, *shape)).astype(np.float32)}
    return onnx_to_torch(to_onnx(model, example=example)), example


def test_a_channel_split_after_a_convolution_is_pruned_as_one_convolution_per_part():
    torch.manual_seed(0)
    model, example = converted(SplitBlock(), (3, 8, 8), (6, 64))
    pruned = channels(model, 0.5, round_to=None, example=example)
    widths = {m.out_channels for m in pruned.module.modules() if isinstance(m, torch.nn.Conv2d)}
    assert 8 in widths and 32 not in widths  # each part of the split halved
    out = pruned.module(torch.from_numpy(example["x"]))
    assert out.shape == (2, 6, 64)  # the head writes the format's rows: left whole


def test_a_per_channel_constant_is_cut_with_its_channels():
    torch.manual_seed(0)
    model, example = converted(ChannelBias(), (3, 8, 8), (1, 16, 16))
    pruned = channels(model, 0.5, round_to=None, example=example)
    assert [m.out_channels for m in pruned.module.modules() if isinstance(m, torch.nn.ConvTranspose2d)] == [12]
    assert pruned.module(torch.from_numpy(example["x"])).shape == (2, 1, 16, 16)


def test_a_layer_whose_channels_are_moved_off_their_axis_is_left_whole():
    torch.manual_seed(0)
    model, example = converted(TransposedFlatten(), (1, 4, 1), (5,))
    pruned = channels(model, 0.5, round_to=None, example=example)
    assert [m.out_channels for m in pruned.module.modules() if isinstance(m, torch.nn.Conv2d)] == [8, 16]
    x = torch.from_numpy(example["x"])
    with torch.no_grad():  # only the first layer's channels went: the second, with all its inputs, computes on
        assert pruned.module(x).shape == (2, 5)


def test_an_onnx_lstm_is_refused_in_one_line():
    class Recurrent(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.lstm, self.fc = torch.nn.LSTM(8, 16, batch_first=True), torch.nn.Linear(16, 2)

        def forward(self, x):
            return self.fc(self.lstm(x)[0][:, -1])

    model, example = converted(Recurrent(), (5, 8), (2,))
    with pytest.raises(StudioError, match="recurrent layers"):
        channels(model, 0.5, example=example)


def test_a_bias_reshaped_in_the_graph_is_cut_with_its_channels(tmp_path):
    """A Paddle export adds a convolution's bias as Reshape(bias [C], [1, -1, 1, 1]): a constant all the
    same, computed in the graph."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    from studio.core.formats.model import onnx2torch_installed
    from studio.core.formats.onnx_to_torch import onnx_to_torch

    if not onnx2torch_installed():
        pytest.skip("onnx2torch is not installed")
    rng = np.random.default_rng(0)
    tensor = lambda name, a: numpy_helper.from_array(np.asarray(a), name)  # noqa: E731
    nodes = [helper.make_node("Conv", ["x", "w1"], ["c1"], pads=[1, 1, 1, 1]),
             helper.make_node("Constant", [], ["b"], value=tensor("b", rng.normal(size=16).astype(np.float32))),
             helper.make_node("Constant", [], ["shape"], value=tensor("shape", np.array([1, -1, 1, 1], np.int64))),
             helper.make_node("Reshape", ["b", "shape"], ["b4"]),
             helper.make_node("Add", ["c1", "b4"], ["a1"]),
             helper.make_node("Relu", ["a1"], ["r1"]),
             helper.make_node("Conv", ["r1", "w2"], ["y"])]
    graph = helper.make_graph(nodes, "paddle-like", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 3, 8, 8])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", 4, 8, 8])],
                              [tensor("w1", rng.normal(size=(16, 3, 3, 3)).astype(np.float32)),
                               tensor("w2", rng.normal(size=(4, 16, 1, 1)).astype(np.float32))])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)]), tmp_path / "paddle.onnx")
    model = onnx_to_torch(load_model(str(tmp_path / "paddle.onnx")))
    example = {"x": rng.normal(size=(2, 3, 8, 8)).astype(np.float32)}
    pruned = channels(model, 0.5, round_to=None, example=example)
    assert [m.out_channels for m in pruned.module.modules() if isinstance(m, torch.nn.Conv2d)] == [8, 4]
    assert pruned.module(torch.from_numpy(example["x"])).shape == (2, 4, 8, 8)
