"""compress/channel_graph: a converted ONNX model prepared for Torch-Pruning, through channels(): a split
becomes one convolution per part, per-channel constants are cut with their channels, layers whose channel
count the output's format fixes stay whole, recurrent layers are refused."""

import numpy as np
import pytest
import torch

from studio.core.compress.channels import channels
from studio.core.errors import StudioError
from studio.core.formats.load import load_model
from studio.core.formats.to_onnx import to_onnx


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
