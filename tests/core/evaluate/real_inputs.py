"""Tiny ONNX models with the inputs and outputs real models have: int64 token ids with a scalar, an RNN
state whose batch is its second axis, a fixed batch of 1, two outputs."""

from __future__ import annotations

import onnx
from onnx import TensorProto, helper

from studio.core.formats.load_onnx import load_onnx


def _save(tmp_path, name, graph, opset=17):
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    onnx.checker.check_model(model)
    path = tmp_path / f"{name}.onnx"
    onnx.save(model, path)
    return load_onnx(path, str(path))


def tokens_and_scalar(tmp_path):
    """ids int64 [batch, seq] and scale int64 [] → float [batch, seq]: ids * scale as floats."""
    nodes = [helper.make_node("Mul", ["ids", "scale"], ["m"]), helper.make_node("Cast", ["m"], ["out"], to=TensorProto.FLOAT)]
    graph = helper.make_graph(nodes, "tokens", [helper.make_tensor_value_info("ids", TensorProto.INT64, ["batch", "seq"]),
                                                helper.make_tensor_value_info("scale", TensorProto.INT64, [])],
                              [helper.make_tensor_value_info("out", TensorProto.FLOAT, ["batch", "seq"])])
    return _save(tmp_path, "tokens", graph)


def state_on_axis_one(tmp_path):
    """x [batch, 4] and state [2, batch, 4] → y [batch, 4] = x + state[0] + state[1], and the state back."""
    nodes = [helper.make_node("ReduceSum", ["state", "axes"], ["s"], keepdims=0), helper.make_node("Add", ["x", "s"], ["y"]),
             helper.make_node("Identity", ["state"], ["state_out"])]
    axes = helper.make_tensor("axes", TensorProto.INT64, [1], [0])
    graph = helper.make_graph(nodes, "state", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 4]),
                                               helper.make_tensor_value_info("state", TensorProto.FLOAT, [2, "batch", 4])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", 4]),
                               helper.make_tensor_value_info("state_out", TensorProto.FLOAT, [2, "batch", 4])], [axes])
    return _save(tmp_path, "state", graph)


def fixed_batch_of_one(tmp_path):
    """x [1, 3] → y [1, 3] = 2x: ONNX Runtime takes one example at a time."""
    two = helper.make_tensor("two", TensorProto.FLOAT, [], [2.0])
    graph = helper.make_graph([helper.make_node("Mul", ["x", "two"], ["y"])], "one",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 3])], [two])
    return _save(tmp_path, "one", graph)


def two_outputs(tmp_path, classes=(4, 4)):
    """x [batch, 4] → boxes [batch, classes[0]] (x·A) and scores [batch, classes[1]] (x·B)."""
    import numpy as np

    a = helper.make_tensor("A", TensorProto.FLOAT, [4, classes[0]], np.eye(4, classes[0], dtype=np.float32).ravel())
    b = helper.make_tensor("B", TensorProto.FLOAT, [4, classes[1]], np.eye(4, classes[1], k=1, dtype=np.float32).ravel())
    nodes = [helper.make_node("MatMul", ["x", "A"], ["boxes"]), helper.make_node("MatMul", ["x", "B"], ["scores"])]
    graph = helper.make_graph(nodes, "two", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 4])],
                              [helper.make_tensor_value_info("boxes", TensorProto.FLOAT, ["batch", classes[0]]),
                               helper.make_tensor_value_info("scores", TensorProto.FLOAT, ["batch", classes[1]])], [a, b])
    return _save(tmp_path, "two", graph)


def embedding(tmp_path, name="sentence_embedding"):
    """x [batch, 4] → an output named `name` [batch, 4], x itself (Identity): a sentence embedding by its name."""
    graph = helper.make_graph([helper.make_node("Identity", ["x"], [name])], "embedding",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 4])],
                              [helper.make_tensor_value_info(name, TensorProto.FLOAT, ["batch", 4])])
    return _save(tmp_path, name, graph)
