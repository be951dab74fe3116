"""ONNX → PyTorch by onnx2torch, and trained tensors written back into the graph they came from."""

import numpy as np
import onnx
import pytest
import torch
from onnx import TensorProto, helper

from studio.core.errors import StudioError
from studio.core.evaluate.runtime import predict_outputs
from studio.core.formats.load import load_model
from studio.core.formats.model import Format
from studio.core.formats.onnx_to_torch import back_to_onnx, onnx_to_torch
from studio.core.formats.to_onnx import to_onnx


@pytest.fixture(scope="module")
def cnn():
    return to_onnx(load_model("sample:digits-cnn"))


def _x(n=5):
    return {"input": np.random.default_rng(0).random((n, 1, 8, 8), dtype=np.float32)}


def test_the_module_computes_what_onnx_runtime_does(cnn):
    converted = onnx_to_torch(cnn)
    assert converted.format is Format.CONVERTED and converted.onnx is None
    assert [s.name for s in converted.inputs] == [s.name for s in cnn.inputs]
    ours, theirs = predict_outputs(converted, _x()), predict_outputs(cnn, _x())
    assert np.abs(ours[0] - theirs[0]).max() < 1e-4
    assert all(p.requires_grad for p in converted.module.parameters())


def test_trained_weights_go_back_into_the_original_graph(cnn):
    converted = onnx_to_torch(cnn)
    with torch.no_grad():
        for p in converted.module.parameters():
            p.mul_(0.5)  # any change a training makes
    back = back_to_onnx(converted)
    assert back.format is Format.ONNX
    assert [n.op_type for n in back.onnx.graph.node] == [n.op_type for n in cnn.onnx.graph.node]
    assert [i.name for i in back.onnx.graph.input] == [i.name for i in cnn.onnx.graph.input]
    assert np.abs(predict_outputs(back, _x())[0] - predict_outputs(converted, _x())[0]).max() < 1e-4
    assert np.abs(predict_outputs(back, _x())[0] - predict_outputs(cnn, _x())[0]).max() > 1e-2


def test_to_onnx_of_a_converted_model_is_the_write_back(cnn):
    converted = onnx_to_torch(cnn)
    assert [n.op_type for n in to_onnx(converted).onnx.graph.node] == [n.op_type for n in cnn.onnx.graph.node]


def _one_node(tmp_path, nodes, out_shape, initializers=()):
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 4, 3, 3])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, out_shape)
    graph = helper.make_graph(nodes, "g", [x], [y], initializer=list(initializers))
    path = tmp_path / "g.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)]), path)
    return load_model(str(path))


def test_an_operator_without_converter_is_named(tmp_path):
    model = _one_node(tmp_path, [helper.make_node("Hardmax", ["x"], ["y"])], ["N", 4, 3, 3])
    with pytest.raises(StudioError, match="no converter for Hardmax"):
        onnx_to_torch(model)


def test_operators_the_studio_adds_compute_what_onnx_runtime_does(tmp_path):
    """GlobalMaxPool, and Clip with a bound computed in the graph and the other one left out."""
    x = {"x": np.random.default_rng(1).normal(size=(3, 4, 3, 3)).astype(np.float32)}
    pool = _one_node(tmp_path, [helper.make_node("GlobalMaxPool", ["x"], ["y"])], ["N", 4, 1, 1])
    np.testing.assert_allclose(predict_outputs(onnx_to_torch(pool), x)[0], predict_outputs(pool, x)[0], atol=1e-6)
    top = onnx.numpy_helper.from_array(np.array(1.0, np.float32), "one")
    clip = _one_node(tmp_path, [helper.make_node("ReduceMax", ["x"], ["m"], keepdims=0),
                                helper.make_node("Sub", ["m", "one"], ["low"]),
                                helper.make_node("Clip", ["x", "low", ""], ["y"])], ["N", 4, 3, 3], [top])
    np.testing.assert_allclose(predict_outputs(onnx_to_torch(clip), x)[0], predict_outputs(clip, x)[0], atol=1e-6)


class _Recurrent(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.lstm = torch.nn.LSTM(6, 5, bidirectional=True)
        self.head = torch.nn.Linear(10, 3)

    def forward(self, x):
        y, _ = self.lstm(x.transpose(0, 1))
        return self.head(y[-1])


def test_an_lstm_converts_exactly_and_its_trained_weights_go_back(tmp_path):
    path = tmp_path / "lstm.onnx"
    torch.onnx.export(_Recurrent().eval(), (torch.ones(2, 7, 6),), str(path), input_names=["x"], output_names=["y"],
                      dynamic_axes={"x": {0: "batch"}, "y": {0: "batch"}}, dynamo=False, opset_version=17)  # the LSTM operator
    model = load_model(str(path))
    assert "LSTM" in [n.op_type for n in model.onnx.graph.node]
    x = {"x": np.random.default_rng(2).normal(size=(4, 7, 6)).astype(np.float32)}
    converted = onnx_to_torch(model)
    np.testing.assert_allclose(predict_outputs(converted, x)[0], predict_outputs(model, x)[0], atol=1e-5)
    with torch.no_grad():
        for p in converted.module.parameters():
            p.add_(0.1)
    back = back_to_onnx(converted)
    np.testing.assert_allclose(predict_outputs(back, x)[0], predict_outputs(converted, x)[0], atol=1e-5)


def test_batch_normalization_of_an_input_of_unknown_rank_converts(tmp_path):
    rng = np.random.default_rng(3)
    stats = [onnx.numpy_helper.from_array(rng.random(4).astype(np.float32) + 0.5, n) for n in ("scale", "b", "mean", "var")]
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, None)  # rank unknown: onnx2torch alone refuses it
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, None)
    graph = helper.make_graph([helper.make_node("BatchNormalization", ["x", "scale", "b", "mean", "var"], ["y"])], "g", [x], [y],
                              initializer=stats)
    path = tmp_path / "bn.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 15)]), path)
    model = load_model(str(path))
    feed = {"x": rng.normal(size=(3, 4, 5)).astype(np.float32)}
    converted = onnx_to_torch(model)
    np.testing.assert_allclose(predict_outputs(converted, feed)[0], predict_outputs(model, feed)[0], atol=1e-5)
    assert set(converted.origin.places) == {"scale", "b", "mean", "var"}  # trained statistics go back too
