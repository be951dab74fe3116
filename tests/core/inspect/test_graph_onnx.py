"""The layer graph of an ONNX model: one node per operator, weights and constants folded into the
layers that use them, quantized graphs shown as their float originals, shapes inferred."""

import numpy as np
from onnx import TensorProto, helper, numpy_helper
from onnx_cases import constant_node_onnx, if_subgraph_onnx, rate_branches_onnx

from studio.core.formats.load import load_model
from studio.core.inspect.graph_onnx import light_copy, onnx_graph
from studio.core.inspect.model_graph import graph_of


def edges(graph) -> set[tuple[str, str]]:
    return {(graph.nodes[e.src].name, graph.nodes[e.dst].name) for e in graph.edges}


def test_onnx_control_flow_bodies_are_subgraphs(tmp_path):
    if_subgraph_onnx(tmp_path / "if.onnx")
    graph = graph_of(load_model(str(tmp_path / "if.onnx")))
    branch = next(n for n in graph.nodes if n.type == "If")
    assert set(branch.subgraphs) == {"then_branch", "else_branch"}
    assert [n.type for n in branch.subgraphs["then_branch"].nodes] == ["Input", "Mul", "Output"]
    assert graph.node_count() == len(graph.nodes) + 6  # x (read from around the If) + Mul + Output, x + Add + Output
    assert ("x", "branch") in edges(graph)  # read inside both branches only: drawn into the If, not left apart


def test_a_branch_shows_what_it_reads_from_around_it_as_inputs_but_not_outer_weights(tmp_path):
    rate_branches_onnx(tmp_path / "rates.onnx")
    graph = graph_of(load_model(str(tmp_path / "rates.onnx")))
    branches = next(n for n in graph.nodes if n.type == "If").subgraphs
    for branch in branches.values():
        assert sorted(n.name for n in branch.nodes if n.type == "Input") == ["state_sum", "x"]  # w16 is a weight, not an input
    assert ("x", "high_fc") in edges(branches["then_branch"])



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


def test_constants_fold_into_the_layers_that_use_them(tmp_path):
    constant_node_onnx(tmp_path / "c.onnx")
    graph = graph_of(load_model(str(tmp_path / "c.onnx")))
    assert [n.type for n in graph.nodes] == ["Input", "Reshape", "MatMul", "Add", "Relu", "MatMul", "Output"]
    layers = {n.name: n.layer for n in graph.nodes if n.layer}
    assert {"fc1": "fc1", "fc1_bias": "fc1_bias", "fc2": "fc2"}.items() <= layers.items()
    assert edges(graph) == {("x", "reshape"), ("reshape", "fc1"), ("fc1", "fc1_bias"), ("fc1_bias", "relu"), ("relu", "fc2"), ("fc2", "y")}


def test_a_dynamically_quantized_layer_shows_as_the_float_layer(tmp_path):
    """DynamicQuantizeLinear → MatMulInteger → Cast → Mul by the scales: one MatMul between input and output."""
    inits = [numpy_helper.from_array(np.ones((4, 3), np.int8), "w_q"), numpy_helper.from_array(np.array(0, np.int8), "w_zp"),
             numpy_helper.from_array(np.array(0.1, np.float32), "w_scale")]
    nodes = [
        helper.make_node("DynamicQuantizeLinear", ["x"], ["x_q", "x_scale", "x_zp"], name="quantize_x"),
        helper.make_node("MatMulInteger", ["x_q", "w_q", "x_zp", "w_zp"], ["mm"], name="fc_quant"),
        helper.make_node("Cast", ["mm"], ["mm_f"], to=TensorProto.FLOAT, name="cast"),
        helper.make_node("Mul", ["x_scale", "w_scale"], ["scale"], name="scales"),
        helper.make_node("Mul", ["mm_f", "scale"], ["y"], name="rescale"),
    ]
    graph = helper.make_graph(nodes, "q", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["n", 4])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["n", 3])], inits)
    shown = onnx_graph(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]))
    assert [(n.name, n.type) for n in shown.nodes] == [("x", "Input"), ("fc", "MatMul"), ("y", "Output")]  # named as the float layer
    assert edges(shown) == {("x", "fc"), ("fc", "y")}
    assert shown.nodes[1].layer is not None and shown.nodes[2].shape == ("n", 3)


def test_light_copy_keeps_integer_and_small_initializers_and_types_the_rest():
    big = numpy_helper.from_array(np.ones((64, 64), np.float32), "big")
    small = numpy_helper.from_array(np.ones(4, np.float32), "small")
    ints = numpy_helper.from_array(np.ones((64, 64), np.int64), "ints")
    graph = helper.make_graph([helper.make_node("Add", ["x", "small"], ["y"])], "g",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, [4])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [4])], [big, small, ints])
    light = light_copy(helper.make_model(graph))
    assert sorted(t.name for t in light.graph.initializer) == ["ints", "small"]
    typed = {v.name: [d.dim_value for d in v.type.tensor_type.shape.dim] for v in light.graph.input}
    assert typed == {"x": [4], "big": [64, 64]}
