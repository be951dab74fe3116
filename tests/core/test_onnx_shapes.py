"""Shape inference of an ONNX graph never serialises its weights (that holds the GIL for seconds)."""

import numpy as np
from onnx import TensorProto, helper, numpy_helper

from studio.core.inspect.graph_onnx import light_copy, onnx_graph


def test_shapes_are_inferred_from_the_structure_without_weight_data():
    w = numpy_helper.from_array(np.ones((300, 200), np.float32), "w")
    shape = numpy_helper.from_array(np.array([0, 20, 10], np.int64), "shape")
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["x", "w"], ["y"], name="mm"), helper.make_node("Reshape", ["y", "shape"], ["z"], name="rs"),
         helper.make_node("Relu", ["z"], ["out"], name="relu")],
        "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 300])],
        [helper.make_tensor_value_info("out", TensorProto.FLOAT, None)], [w, shape],
    )
    model = helper.make_model(graph)
    light = light_copy(model)
    assert [t.name for t in light.graph.initializer] == ["shape"]  # the reshape target keeps its values
    assert light.ByteSize() < 2000 < model.ByteSize()
    nodes = {n.name: n for n in onnx_graph(model).nodes}
    assert nodes["mm"].shape == ("batch", 200) and nodes["rs"].shape == ("batch", 20, 10)
