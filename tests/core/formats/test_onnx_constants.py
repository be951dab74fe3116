import onnx
from onnx_cases import constant_node_onnx

from studio.core.formats.onnx_constants import constants_to_initializers


def test_weights_in_constant_nodes_become_initializers_and_shape_constants_stay(tmp_path):
    constant_node_onnx(tmp_path / "m.onnx")
    proto = onnx.load(tmp_path / "m.onnx")
    assert constants_to_initializers(proto) == 2  # w1 and w2 feed MatMul; b1 feeds an Add, the shape a Reshape
    assert sorted(t.name for t in proto.graph.initializer) == ["w1", "w2"]
    assert [n.op_type for n in proto.graph.node].count("Constant") == 2
    onnx.checker.check_model(proto)
