"""ONNX → PyTorch by onnx2torch, and trained tensors written back into the graph they came from. The operators
the studio adds to onnx2torch: test_onnx_to_torch_ops."""

import numpy as np
import pytest
import torch
from onnx import helper
from onnx_cases import one_node_model

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


def test_an_operator_without_converter_is_named(tmp_path):
    model = one_node_model(tmp_path, [helper.make_node("Hardmax", ["x"], ["y"])], ["N", 4, 3, 3])
    with pytest.raises(StudioError, match="no converter for Hardmax"):
        onnx_to_torch(model)


def test_reshapes_that_flatten_with_a_written_size_become_flattens(cnn):
    from studio.core.formats.onnx_to_torch import flatten_reshapes

    converted = onnx_to_torch(cnn)
    x = torch.from_numpy(_x()["input"])
    with torch.no_grad():
        before = converted.module(x)
    assert flatten_reshapes(converted.module, (x,)) == 1  # the exporter's Reshape to [-1, 800] before the first Linear
    assert not any(type(m).__name__ == "OnnxReshape" for m in converted.module.modules())
    with torch.no_grad():
        assert torch.equal(converted.module(x), before) and converted.module(x[:3]).shape == (3, 10)
