"""profile_nodes: the nodes ONNX Runtime ran matched to the model's graph by the names its optimisers give."""

from onnx import TensorProto, helper

from studio.core.evaluate.profile_nodes import attribute


def test_fused_and_renamed_nodes_are_matched_to_the_graph_by_how_ort_names_them():
    """The names ONNX Runtime's optimisers give (no timing: the two graphs as ORT would write them)."""
    def graph(nodes):
        return helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, None)],
                                 [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)])

    original = graph([
        helper.make_node("Conv", ["x", "w"], ["c"], name="conv"), helper.make_node("Relu", ["c"], ["r"], name="act"),
        helper.make_node("DequantizeLinear", ["wq", "s"], ["w2"], name="w2_dq"),
        helper.make_node("DequantizeLinear", ["rq", "s"], ["rd"], name="r_dq"),
        helper.make_node("Conv", ["rd", "w2"], ["c2"], name="conv2"),
        helper.make_node("QuantizeLinear", ["c2", "s"], ["c2q"], name="c2_q"),
        helper.make_node("Gemm", ["c2q", "wf"], ["g"], name="fc"), helper.make_node("Relu", ["g"], ["y"], name="act3")])
    optimized = graph([
        helper.make_node("Conv", ["x", "w"], ["reorder_token_0"], name="r_nchwc", domain="com.microsoft.nchwc"),
        helper.make_node("ReorderOutput", ["reorder_token_0"], ["r"], name="ReorderOutput", domain="com.microsoft.nchwc"),
        helper.make_node("QLinearConv", ["rq", "wq"], ["conv2"], name="conv2_token_7", domain="com.microsoft"),
        helper.make_node("FusedGemm", ["conv2", "wf"], ["y"], name="fused fc", domain="com.microsoft")])
    origins = attribute(original, optimized)
    assert origins["r_nchwc"].name == "conv" and origins["r_nchwc"].nodes == ["conv", "act"]  # "<output>_nchwc"
    assert origins["ReorderOutput"].name == "conv" and origins["ReorderOutput"].added  # a layout change for it
    assert origins["conv2_token_7"].name == "conv2"  # "<name>_token_N", with its Q/DQ nodes
    assert set(origins["conv2_token_7"].nodes) == {"conv2", "w2_dq", "r_dq", "c2_q"}
    assert origins["fused fc"].name == "fc" and origins["fused fc"].nodes == ["fc", "act3"]  # "fused <name>"
