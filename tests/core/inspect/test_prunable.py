"""Which weights pruning may touch: weight matrices and kernels, never biases, norms, statistics or
masks; and the share of them that is zero."""

import numpy as np
import onnx
import pytest
import torch
from onnx import TensorProto, helper, numpy_helper
from onnx_cases import if_subgraph_onnx
from torch import nn

from studio.core.formats.load import load_model
from studio.core.formats.model import Format, Model
from studio.core.inspect.prunable import excluded, prunable_onnx, prunable_torch, weight_sparsity


@pytest.mark.parametrize("layer, layer_type, patterns, hit", [
    ("conv1", "Conv2d", ["conv*"], True),  # a glob
    ("encoder.layer.0.fc", "Linear", ["encoder.layer"], True),  # a prefix matches its sublayers
    ("encoder2.fc", "Linear", ["encoder"], False),  # but only at a dot
    ("head", "Linear", ["Linear"], True),  # a type
    ("head", "Linear", ["Conv2d", "body"], False),
    ("head", "Linear", [], False),
])
def test_a_pattern_matches_a_layers_name_its_sublayers_or_its_type(layer, layer_type, patterns, hit):
    assert excluded(layer, layer_type, patterns) is hit


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.embed = nn.Embedding(10, 4)
        self.conv = nn.Conv1d(4, 8, 3)
        self.bn = nn.BatchNorm1d(8)
        self.norm = nn.LayerNorm(8)
        self.head = nn.Sequential(nn.Linear(8, 8), nn.ReLU(), nn.Linear(8, 2))


def test_pytorch_weights_of_two_or_more_dimensions_are_prunable():
    net = Net()
    assert sorted(prunable_torch(net)) == ["conv.weight", "embed.weight", "head.0.weight", "head.2.weight"]
    assert sorted(prunable_torch(net, ["head", "Embedding"])) == ["conv.weight"]
    assert prunable_torch(net)["conv.weight"] is net.conv.weight  # the parameter itself, to prune in place


def test_a_scripted_module_is_excluded_by_its_original_class_names():
    scripted = torch.jit.script(nn.Sequential(nn.Linear(4, 4), nn.ReLU(), nn.Conv1d(1, 2, 3)))
    assert list(prunable_torch(scripted, ["Linear"])) == ["2.weight"]


def onnx_net() -> onnx.ModelProto:
    """A conv with BatchNormalization, a MatMul, an attention-style -inf mask and int64 and fp16 tensors."""
    rng = np.random.default_rng(0)
    f32 = lambda name, *shape: numpy_helper.from_array(rng.normal(size=shape).astype(np.float32), name)  # noqa: E731
    inits = [f32("conv.w", 4, 1, 3, 3), f32("conv.b", 4), f32("bn.scale", 4), f32("bn.bias", 4), f32("bn.mean", 4),
             f32("bn.var", 4), f32("fc.w", 16, 4), numpy_helper.from_array(np.array([-1, 16], np.int64), "shape"),
             numpy_helper.from_array(np.triu(np.full((4, 4), -np.inf, np.float32), 1), "mask"),
             numpy_helper.from_array(np.ones((4, 4), np.float16), "half")]
    nodes = [helper.make_node("Conv", ["x", "conv.w", "conv.b"], ["c"], name="conv"),
             helper.make_node("BatchNormalization", ["c", "bn.scale", "bn.bias", "bn.mean", "bn.var"], ["b"], name="bn"),
             helper.make_node("Reshape", ["b", "shape"], ["flat"], name="flatten"),
             helper.make_node("MatMul", ["flat", "fc.w"], ["h"], name="fc"),
             helper.make_node("Add", ["h", "mask"], ["m"], name="masked"),
             helper.make_node("Cast", ["half"], ["half32"], to=TensorProto.FLOAT),
             helper.make_node("MatMul", ["m", "half32"], ["y"], name="fp16_fc")]
    graph = helper.make_graph(nodes, "net", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 1, 4, 4])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4])], inits)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


def test_onnx_prunable_weights_are_the_float_matrices_of_weight_layers():
    """Biases, BatchNormalization's scale, shift and running statistics, an -inf mask, shapes: none of them."""
    assert prunable_onnx(onnx_net()) == {"conv.w": "conv", "fc.w": "fc"}
    assert prunable_onnx(onnx_net(), ["Conv"]) == {"fc.w": "fc"}
    assert prunable_onnx(onnx_net(), ["f*"]) == {"conv.w": "conv"}


def test_weights_inside_control_flow_are_prunable(tmp_path):
    rng = np.random.default_rng(0)
    w = numpy_helper.from_array(rng.normal(size=(4, 4)).astype(np.float32), "w_then")
    then = helper.make_graph([helper.make_node("MatMul", ["x", "w_then"], ["t"], name="fc_then")], "then", [],
                             [helper.make_tensor_value_info("t", TensorProto.FLOAT, [1, 4])], [w])
    other = helper.make_graph([helper.make_node("Identity", ["x"], ["e"])], "else", [],
                              [helper.make_tensor_value_info("e", TensorProto.FLOAT, [1, 4])])
    graph = helper.make_graph([helper.make_node("If", ["cond"], ["y"], then_branch=then, else_branch=other)], "g",
                              [helper.make_tensor_value_info("cond", TensorProto.BOOL, []),
                               helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4])])
    assert prunable_onnx(helper.make_model(graph)) == {"w_then": "fc_then"}
    if_subgraph_onnx(tmp_path / "if.onnx")  # only 1-D weights in its branches
    assert prunable_onnx(onnx.load(tmp_path / "if.onnx")) == {}


def test_sparsity_counts_zeros_among_prunable_weights_only():
    net = nn.Sequential(nn.Linear(4, 4), nn.ReLU(), nn.Linear(4, 2))
    with torch.no_grad():
        net[0].weight[:2] = 0  # 8 of 24 prunable weights
        net[0].bias.zero_()  # biases do not count
    model = Model("net", Format.PICKLED_MODULE, module=net)
    assert weight_sparsity(model) == pytest.approx(8 / 24)
    assert weight_sparsity(model, ["2"]) == pytest.approx(8 / 16)
    assert weight_sparsity(model, ["Linear"]) == 0.0  # nothing prunable: no zeros to count


def test_onnx_sparsity_reads_weights_kept_apart_from_the_proto(tmp_path):
    proto = onnx_net()
    fc = next(t for t in proto.graph.initializer if t.name == "fc.w")
    values = numpy_helper.to_array(fc).copy()
    values[:8] = 0  # 32 of the 64 fc weights; conv's 36 stay
    fc.CopyFrom(numpy_helper.from_array(values, "fc.w"))
    onnx.save_model(proto, str(tmp_path / "net.onnx"), save_as_external_data=True, location="net.onnx.data", size_threshold=0)
    model = load_model(str(tmp_path / "net.onnx"))
    assert model.external  # not read into the proto
    assert weight_sparsity(model) == pytest.approx(32 / (64 + 36))


def test_recurrent_biases_are_not_prunable():
    rng = np.random.default_rng(0)
    weights = [numpy_helper.from_array(rng.normal(size=s).astype(np.float32), n)
               for n, s in (("W", (1, 32, 4)), ("R", (1, 32, 8)), ("B", (1, 64)))]
    graph = helper.make_graph([helper.make_node("LSTM", ["x", "W", "R", "B"], ["y"], hidden_size=8, name="lstm")], "g",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, [5, 1, 4])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)], weights)
    assert prunable_onnx(helper.make_model(graph)) == {"W": "lstm", "R": "lstm"}  # as PyTorch: weight_ih and weight_hh
