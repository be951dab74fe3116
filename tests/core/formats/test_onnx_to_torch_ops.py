"""onnx_to_torch_ops: the operators the studio adds to onnx2torch (GlobalMaxPool, Clip, LSTM, BatchNormalization
of unknown rank, Softmax before opset 13, MatMul by a constant) compute what ONNX Runtime does, and are registered once."""

from dataclasses import replace

import numpy as np
import onnx
import torch
from onnx import TensorProto, helper
from onnx_cases import one_node_model

from studio.core.evaluate.runtime import predict_outputs
from studio.core.formats.load import load_model
from studio.core.formats.onnx_to_torch import back_to_onnx, importable, onnx_to_torch
from studio.core.formats.onnx_to_torch_ops import Clip, GlobalMaxPool, register


def test_operators_the_studio_adds_compute_what_onnx_runtime_does(tmp_path):
    """GlobalMaxPool, and Clip with a bound computed in the graph and the other one left out."""
    x = {"x": np.random.default_rng(1).normal(size=(3, 4, 3, 3)).astype(np.float32)}
    pool = one_node_model(tmp_path, [helper.make_node("GlobalMaxPool", ["x"], ["y"])], ["N", 4, 1, 1])
    np.testing.assert_allclose(predict_outputs(onnx_to_torch(pool), x)[0], predict_outputs(pool, x)[0], atol=1e-6)
    top = onnx.numpy_helper.from_array(np.array(1.0, np.float32), "one")
    clip = one_node_model(tmp_path, [helper.make_node("ReduceMax", ["x"], ["m"], keepdims=0),
                                     helper.make_node("Sub", ["m", "one"], ["low"]),
                                     helper.make_node("Clip", ["x", "low", ""], ["y"])], ["N", 4, 3, 3], [top])
    np.testing.assert_allclose(predict_outputs(onnx_to_torch(clip), x)[0], predict_outputs(clip, x)[0], atol=1e-6)


def test_the_modules_take_numbers_tensors_or_nothing_as_bounds_and_register_once():
    x = torch.tensor([[-2.0, 0.5, 3.0]])
    assert torch.equal(Clip(-1.0, 1.0)(x), torch.tensor([[-1.0, 0.5, 1.0]]))
    assert torch.equal(Clip(None, 1.0)(x, torch.tensor(0.0)), torch.tensor([[0.0, 0.5, 1.0]]))  # a computed low, a number high
    assert torch.equal(Clip()(x), x)
    assert torch.equal(GlobalMaxPool()(torch.arange(24.0).reshape(1, 2, 3, 4)), torch.tensor([[[[11.0]], [[23.0]]]]))
    importable()  # onnx2torch imported, the converters registered
    from onnx2torch.node_converters.registry import _CONVERTER_REGISTRY, OperationDescription

    batch_norm = OperationDescription(domain="", operation_type="BatchNormalization", version=15)
    wrapped = _CONVERTER_REGISTRY[batch_norm]
    register()
    assert _CONVERTER_REGISTRY[batch_norm] is wrapped  # not wrapped a second time


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


def test_an_old_softmax_over_several_axes_converts_and_exports_at_any_batch(tmp_path):
    """Opsets before 13 take the softmax over every axis from `axis` on. (onnx2torch's own module shapes its
    output by sizes that the export of PP-OCR's recognizer traced as constants; this small graph does not.)"""
    from studio.core.formats.to_onnx import to_onnx

    x = {"x": np.random.default_rng(2).normal(size=(3, 4, 3, 3)).astype(np.float32)}
    for op in ("Softmax", "LogSoftmax"):
        model = one_node_model(tmp_path, [helper.make_node(op, ["x"], ["y"], axis=1)], ["N", 4, 3, 3], opset=11)
        converted = onnx_to_torch(model)
        np.testing.assert_allclose(predict_outputs(converted, x)[0], predict_outputs(model, x)[0], atol=1e-6)
        exported = to_onnx(replace(converted, origin=None), example={"x": x["x"][:2]})  # traced, as after channel pruning
        np.testing.assert_allclose(predict_outputs(exported, x)[0], predict_outputs(model, x)[0], atol=1e-6)


def test_a_matmul_by_a_constant_matrix_becomes_a_linear_layer_that_trains_and_goes_back(tmp_path):
    """x [N, 4, 3, 3] @ W [3, 5], then @ V [5, 2] twice (V read by two nodes, so it stays a constant)."""
    from studio.core.formats.onnx_to_torch_ops import MatMulLinear

    rng = np.random.default_rng(4)
    w = onnx.numpy_helper.from_array(rng.normal(size=(3, 5)).astype(np.float32), "w")
    v = onnx.numpy_helper.from_array(rng.normal(size=(5, 2)).astype(np.float32), "v")
    model = one_node_model(tmp_path, [helper.make_node("MatMul", ["x", "w"], ["h"]), helper.make_node("MatMul", ["h", "v"], ["a"]),
                                      helper.make_node("MatMul", ["h", "v"], ["b"]), helper.make_node("Add", ["a", "b"], ["y"])],
                           ["N", 4, 3, 2], [w, v])
    x = {"x": rng.normal(size=(2, 4, 3, 3)).astype(np.float32)}
    converted = onnx_to_torch(model)
    linears = [m for m in converted.module.modules() if isinstance(m, MatMulLinear)]
    assert len(linears) == 1 and linears[0].weight.requires_grad  # W; V, read twice, stays the graph's constant
    np.testing.assert_allclose(predict_outputs(converted, x)[0], predict_outputs(model, x)[0], atol=1e-5)
    with torch.no_grad():
        linears[0].weight.mul_(2.0)
    back = back_to_onnx(converted)
    written = {i.name: onnx.numpy_helper.to_array(i) for i in back.onnx.graph.initializer}
    np.testing.assert_allclose(written["w"], 2 * onnx.numpy_helper.to_array(w), atol=1e-6)  # transposed back
    np.testing.assert_allclose(predict_outputs(back, x)[0], predict_outputs(converted, x)[0], atol=1e-4)


def _i64(name: str, values) -> onnx.TensorProto:
    return onnx.numpy_helper.from_array(np.array(values, np.int64), name)


def test_opset_18_operators_and_padding_by_reflection_compute_what_onnx_runtime_does(tmp_path):
    """Silero VAD's opset-18 file: Pad in reflect mode on the last axis only (onnx2torch pads only 3-D and
    larger inputs so), Pad with axes, Split into outputs of uneven size, ReduceMean with axes as an input, Size."""
    x = {"x": np.random.default_rng(2).normal(size=(2, 4, 3, 3)).astype(np.float32)}
    cases = [
        ([helper.make_node("Pad", ["x", "pads"], ["y"], mode="reflect")], ["N", 4, 3, 5], [_i64("pads", [0, 0, 0, 1, 0, 0, 0, 1])]),
        ([helper.make_node("Pad", ["x", "pads", "", "axes"], ["y"], mode="edge")], ["N", 4, 5, 3], [_i64("pads", [2, 0]), _i64("axes", [-2])]),
        ([helper.make_node("Pad", ["x", "pads", "value"], ["y"])], ["N", 6, 3, 3],
         [_i64("pads", [0, 1, 0, 0, 0, 1, 0, 0]), onnx.numpy_helper.from_array(np.array(0.5, np.float32), "value")]),
        ([helper.make_node("Split", ["x"], ["y", "rest"], axis=1, num_outputs=2)], ["N", 2, 3, 3], []),
        ([helper.make_node("Split", ["x"], ["a", "y"], axis=2, num_outputs=2)], ["N", 4, 1, 3], []),  # 3 = 2 + 1
        ([helper.make_node("ReduceMean", ["x", "axes"], ["y"], keepdims=1)], ["N", 4, 1, 1], [_i64("axes", [2, 3])]),
        ([helper.make_node("Size", ["x"], ["n"]), helper.make_node("Cast", ["n"], ["nf"], to=TensorProto.FLOAT),
          helper.make_node("Mul", ["x", "nf"], ["y"])], ["N", 4, 3, 3], []),
    ]
    for nodes, shape, inits in cases:
        model = one_node_model(tmp_path, nodes, shape, inits, opset=18)
        np.testing.assert_allclose(predict_outputs(onnx_to_torch(model), x)[0], predict_outputs(model, x)[0], atol=1e-5,
                                   err_msg=nodes[0].op_type)
    flat = one_node_model(tmp_path, [helper.make_node("Reshape", ["x", "shape"], ["audio"]),
                                     helper.make_node("Pad", ["audio", "pads"], ["y"], mode="reflect")], ["N", 40],
                          [_i64("shape", [-1, 36]), _i64("pads", [0, 2, 0, 2])], opset=18)  # audio [N, samples]
    np.testing.assert_allclose(predict_outputs(onnx_to_torch(flat), x)[0], predict_outputs(flat, x)[0], atol=1e-6)


def _lstm_from(tmp_path, weight_nodes: list, w_name: str):
    """An LSTM whose W the graph computes from the stored w by `weight_nodes`."""
    rng = np.random.default_rng(0)
    w = onnx.numpy_helper.from_array(rng.normal(size=(8, 3)).astype(np.float32), "w")  # 4 gates of 2, torch's order i f g o
    r = onnx.numpy_helper.from_array(rng.normal(size=(1, 8, 2)).astype(np.float32), "r")
    nodes = [*weight_nodes, helper.make_node("LSTM", ["x", w_name, "r"], ["y"], hidden_size=2)]
    graph = helper.make_graph(nodes, "lstm", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [5, "N", 3])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [5, 1, "N", 2])],
                              initializer=[w, r, _i64("zero", [0])])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 14)]), tmp_path / "lstm.onnx")
    return load_model(str(tmp_path / "lstm.onnx"))


def test_an_lstm_whose_gates_the_graph_reorders_trains_its_stored_weights(tmp_path):
    """Silero VAD's own file: W is torch's matrix with its gates sliced and joined in ONNX's order (i, o, f+g).
    The converted LSTM computes the same, and trained values go back into the stored matrix, element by element."""
    reorder = [helper.make_node("Slice", ["w", "s0", "e0"], ["i"]), helper.make_node("Slice", ["w", "s1", "e1"], ["o"]),
               helper.make_node("Slice", ["w", "s2", "e2"], ["fg"]), helper.make_node("Concat", ["i", "o", "fg"], ["joined"], axis=0),
               helper.make_node("Unsqueeze", ["joined", "zero"], ["w_onnx"])]
    bounds = [helper.make_node("Constant", [], [n], value=onnx.numpy_helper.from_array(np.array([v], np.int64)))
              for n, v in (("s0", 0), ("e0", 2), ("s1", 6), ("e1", 8), ("s2", 2), ("e2", 6))]
    model = _lstm_from(tmp_path, bounds + reorder, "w_onnx")
    x = {"x": np.random.default_rng(3).normal(size=(4, 5, 3)).astype(np.float32)}  # examples first, as data holds them
    converted = onnx_to_torch(model)
    np.testing.assert_allclose(predict_outputs(converted, x)[0], predict_outputs(model, x)[0], atol=1e-5)
    with torch.no_grad():
        next(m for m in converted.module.modules() if hasattr(m, "sources")).W.mul_(1.5)
    back = back_to_onnx(converted)
    stored = next(t for t in back.onnx.graph.initializer if t.name == "w")
    assert np.allclose(onnx.numpy_helper.to_array(stored), 1.5 * onnx.numpy_helper.to_array(model.onnx.graph.initializer[0]))
    np.testing.assert_allclose(predict_outputs(back, x)[0], predict_outputs(converted, x)[0], atol=1e-5)


def test_an_lstm_whose_weights_the_graph_computes_by_arithmetic_is_refused_in_plain_words(tmp_path):
    import pytest

    from studio.core.errors import StudioError

    two = [helper.make_node("Constant", [], ["two"], value=onnx.numpy_helper.from_array(np.array(2.0, np.float32))),
           helper.make_node("Mul", ["w", "two"], ["w2"]), helper.make_node("Unsqueeze", ["w2", "zero"], ["w_onnx"])]
    with pytest.raises(StudioError, match=r"PyTorch: an LSTM whose weights the graph computes by more than moving stored values"):
        onnx_to_torch(_lstm_from(tmp_path, two, "w_onnx"))
