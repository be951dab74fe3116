"""Hand-made ONNX models in the shapes converters write."""

from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper


def constant_node_onnx(path) -> int:
    """An MLP whose weights live in Constant nodes, as many converters write them. Returns its parameter count."""
    rng = np.random.default_rng(0)
    w1, b1 = rng.normal(size=(4, 8)).astype(np.float32), np.zeros(8, np.float32)
    w2 = rng.normal(size=(8, 3)).astype(np.float32)
    nodes = [
        helper.make_node("Constant", [], ["w1"], value=numpy_helper.from_array(w1, "w1")),
        helper.make_node("Constant", [], ["b1"], value=numpy_helper.from_array(b1, "b1")),
        helper.make_node("Constant", [], ["w2"], value=numpy_helper.from_array(w2, "w2")),
        helper.make_node("Constant", [], ["shape"], value=numpy_helper.from_array(np.array([-1, 4], np.int64))),
        helper.make_node("Reshape", ["x", "shape"], ["flat"], name="reshape"),
        helper.make_node("MatMul", ["flat", "w1"], ["h"], name="fc1"),
        helper.make_node("Add", ["h", "b1"], ["hb"], name="fc1_bias"),
        helper.make_node("Relu", ["hb"], ["r"], name="relu"),
        helper.make_node("MatMul", ["r", "w2"], ["y"], name="fc2"),
    ]
    graph = helper.make_graph(
        nodes, "constants", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 4])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 3])],
    )
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), path)
    return w1.size + b1.size + w2.size


def if_subgraph_onnx(path) -> int:
    """A model whose weights sit inside the branches of an If node. Returns its parameter count."""
    a = numpy_helper.from_array(np.full((3,), 2.0, np.float32), "a")
    b = numpy_helper.from_array(np.arange(3, dtype=np.float32), "b")
    then_g = helper.make_graph(
        [helper.make_node("Mul", ["x", "a"], ["then_out"], name="scale")], "then", [],
        [helper.make_tensor_value_info("then_out", TensorProto.FLOAT, [3])], initializer=[a],
    )
    else_g = helper.make_graph(
        [helper.make_node("Add", ["x", "b"], ["else_out"], name="shift")], "else", [],
        [helper.make_tensor_value_info("else_out", TensorProto.FLOAT, [3])], initializer=[b],
    )
    graph = helper.make_graph(
        [helper.make_node("If", ["cond"], ["y"], name="branch", then_branch=then_g, else_branch=else_g)],
        "if_model",
        [helper.make_tensor_value_info("cond", TensorProto.BOOL, []), helper.make_tensor_value_info("x", TensorProto.FLOAT, [3])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [3])],
    )
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), path)
    return 6


def rate_branches_onnx(path) -> None:
    """Silero VAD's shape: an If on a scalar sample rate, each branch a layer of its own weights (one an
    initializer of the outer graph, one a Constant inside the branch), reading the audio and a state whose
    batch is on axis 1 from the outer graph, and a computed value from the outer graph."""
    rng = np.random.default_rng(0)
    w16 = numpy_helper.from_array(rng.normal(size=(4, 3)).astype(np.float32), "w16")
    w8 = rng.normal(size=(4, 3)).astype(np.float32)
    rate = numpy_helper.from_array(np.array(16000, np.int64), "rate")

    def branch(name: str, weight_node: list, weight: str):
        nodes = [*weight_node, helper.make_node("MatMul", ["x", weight], [f"{name}_h"], name=f"{name}_fc"),
                 helper.make_node("Add", [f"{name}_h", "state_sum"], [f"{name}_y"], name=f"{name}_plus_state")]
        return helper.make_graph(nodes, name, [], [helper.make_tensor_value_info(f"{name}_y", TensorProto.FLOAT, ["N", 3])])

    then = branch("high", [], "w16")
    other = branch("low", [helper.make_node("Constant", [], ["w8"], value=numpy_helper.from_array(w8, "w8"))], "w8")
    nodes = [helper.make_node("Equal", ["sr", "rate"], ["is16"]),
             helper.make_node("ReduceSum", ["state", "axes"], ["state_sum"], keepdims=0),  # [N, 3] from [2, N, 3]
             helper.make_node("If", ["is16"], ["y"], name="by_rate", then_branch=then, else_branch=other)]
    graph = helper.make_graph(
        nodes, "rates",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 4]), helper.make_tensor_value_info("sr", TensorProto.INT64, []),
         helper.make_tensor_value_info("state", TensorProto.FLOAT, [2, "N", 3])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 3])],
        initializer=[w16, rate, numpy_helper.from_array(np.array([0], np.int64), "axes")],
    )
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), path)


def external_data_onnx(src, path) -> None:
    model = onnx.load(src)
    onnx.save_model(model, path, save_as_external_data=True, all_tensors_to_one_file=True, location=path.name + ".data", size_threshold=0)


def two_layer_onnx(path, external: bool = False):
    """Two Gemm layers: a 1.5 MB weight (over transfer.APART_BYTES) and a 96 kB one; the first in
    external data if asked."""
    rng = np.random.default_rng(0)
    w1, w2 = rng.standard_normal((384, 1024), dtype=np.float32), rng.standard_normal((384, 64), dtype=np.float32)
    graph = helper.make_graph(
        [helper.make_node("Gemm", ["x", "w1"], ["h"], name="fc1", transB=1), helper.make_node("Relu", ["h"], ["r"], name="relu"),
         helper.make_node("Gemm", ["r", "w2"], ["y"], name="fc2")],
        "mlp", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 1024])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", 64])],
        [numpy_helper.from_array(w1, "w1"), numpy_helper.from_array(w2, "w2")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    onnx.save_model(model, str(path), save_as_external_data=external, location=path.name + ".data", size_threshold=1 << 20)
    return path


def tiny_conv_net(path, opset: int = 11, unused: bool = False) -> str:
    """A conv net whose weights live in Constant nodes, as in graphs converted from Paddle or TensorFlow."""
    rng = np.random.default_rng(0)
    shapes = {"w1": (32, 3, 3, 3), "b1": (32,), "w2": (64, 32, 3, 3), "b2": (64,), "fc": (64, 10)}
    nodes = [helper.make_node("Constant", [], [k], value=numpy_helper.from_array(rng.normal(0, 0.1, s).astype(np.float32), k))
             for k, s in shapes.items()]
    nodes += [helper.make_node("Conv", ["x", "w1", "b1"], ["c1"], pads=[1, 1, 1, 1]), helper.make_node("Relu", ["c1"], ["r1"]),
              helper.make_node("Conv", ["r1", "w2", "b2"], ["c2"], pads=[1, 1, 1, 1]), helper.make_node("Relu", ["c2"], ["r2"]),
              helper.make_node("GlobalAveragePool", ["r2"], ["p"]), helper.make_node("Flatten", ["p"], ["f"]),
              helper.make_node("MatMul", ["f", "fc"], ["y"])]
    extra = [numpy_helper.from_array(np.zeros(3, np.float32), "unused")] if unused else []
    graph = helper.make_graph(nodes, "tiny", [helper.make_tensor_value_info("x", onnx.TensorProto.FLOAT, ["n", 3, 8, 8])],
                              [helper.make_tensor_value_info("y", onnx.TensorProto.FLOAT, ["n", 10])], extra)
    proto = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    proto.ir_version = 7
    onnx.save(proto, path)
    return str(path)


LENET5_CHAIN = ["Input", "conv1", "pool1", "conv2", "pool2", "flatten", "fc1", "relu", "fc2", "Output"]


def graph_chain(graph):
    """The nodes of a graph that is one chain, from its first node along its edges."""
    order = [graph.nodes[0]]
    nxt = {e.src: e.dst for e in graph.edges}
    while order[-1].id in nxt:
        order.append(graph.nodes[nxt[order[-1].id]])
    return order


def quantizable_conv_net(folder: Path):
    """A small conv net saved as folder/float.onnx, and an ONNX Runtime calibration reader for it: what
    the tests of quantized models quantize. Returns (path as str, reader class)."""
    import numpy as np
    import torch
    from onnxruntime import quantization

    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Conv2d(1, 4, 3), torch.nn.ReLU(), torch.nn.Flatten(), torch.nn.Linear(144, 10)).eval()
    torch.onnx.export(net, torch.zeros(1, 1, 8, 8), folder / "float.onnx", input_names=["x"], output_names=["y"], dynamo=False)
    rng = np.random.default_rng(0)

    class Reader(quantization.CalibrationDataReader):
        def __init__(self):
            self.batches = iter([{"x": rng.random((1, 1, 8, 8), dtype=np.float32)} for _ in range(4)])

        def get_next(self):
            return next(self.batches, None)

    return str(folder / "float.onnx"), Reader


def one_node_model(tmp_path, nodes, out_shape, initializers=(), opset: int = 13):
    """x float [N, 4, 3, 3] through `nodes` (one operator, or the few that compute its inputs) to y of
    `out_shape`, at `opset`, saved as tmp_path/g.onnx and loaded: what the ONNX → PyTorch tests convert."""
    from studio.core.formats.load import load_model

    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 4, 3, 3])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, out_shape)
    graph = helper.make_graph(nodes, "g", [x], [y], initializer=list(initializers))
    path = tmp_path / "g.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)]), path)
    return load_model(str(path))
