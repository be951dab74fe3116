"""profile_match: what two profiles' nodes are matched by (float names, the layer a conversion serves, the
weight read, the place), kept as plain values that travel without the model."""

import pickle
from types import SimpleNamespace

import pytest
from onnx import TensorProto, helper

from studio.core.evaluate.profile import NodeTime, Profile, profile
from studio.core.evaluate.profile_compare import compare
from studio.core.evaluate.profile_match import key, timings


@pytest.fixture(scope="module")
def digits(digits):
    """The float export's profile (conftest's digits: the model and its data), keyed as in test_profile_compare."""
    model, data = digits
    return {"original": profile(model, data, runs=5)}


def test_the_same_model_profiled_twice_is_within_noise_and_timings_travel_without_the_model(digits):
    t = timings(digits["original"], "v0")
    again = pickle.loads(pickle.dumps(t))  # what the window's child process sends back
    assert again.entries and again.places and all(e.weight for e in again.entries if e.key in {"node_conv2d", "node_linear"})
    c = compare(t, again)
    assert not c.faster() and not c.slower() and c.speedup == 1.0
    assert "about as fast as" in c.summary() and "no layer changed" in c.summary()


def test_quantized_nodes_are_keyed_by_their_float_name_and_conversions_by_the_layer_they_serve():
    assert key("conv1_quant") == "conv1" and key("fc1_MatMul_quant") == "fc1" and key("conv", "If_0/then_branch") == "If_0/then_branch/conv"
    nodes = [helper.make_node("DynamicQuantizeLinear", ["x"], ["xq", "xs", "xz"], name="x_QuantizeLinear"),
             helper.make_node("ConvInteger", ["xq", "conv1.weight_quantized", "xz"], ["ci"], name="conv1_quant"),
             helper.make_node("Cast", ["ci"], ["cf"], name="c_cast"),
             helper.make_node("Mul", ["xs", "scale"], ["s"], name="conv1_quant_scales_mul"),
             helper.make_node("Mul", ["cf", "s"], ["c"], name="rescale"),
             helper.make_node("DequantizeLinear", ["fc.weight_Transposed_quantized", "scale"], ["w"], name="w_dq"),
             helper.make_node("Gemm", ["c", "w"], ["y"], name="fc")]
    weights = [helper.make_tensor(name, TensorProto.FLOAT, dims, [0.0] * (dims[0] * dims[-1]))
               for name, dims in (("conv1.weight_quantized", [2, 1, 1, 1]), ("fc.weight_Transposed_quantized", [2, 3]), ("scale", [1]))]
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, None)],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)], initializer=weights)
    ran = [NodeTime(n.name, n.op_type, 0.25, 0.0, "CPUExecutionProvider", [n.name], n.name) for n in nodes if n.name != "w_dq"]
    p = Profile("m.onnx", "CPUExecutionProvider", 1, 1, "data", 5, 2.0, 2.0, 1.5, ran, {}, 0.1,
                model=SimpleNamespace(onnx=helper.make_model(graph)))
    t = timings(p)
    entries = {e.name: e for e in t.entries}
    assert t.label == "m.onnx" and entries["conv1_quant"].key == "conv1"
    assert entries["conv1_quant"].weight == "conv1.weight" and entries["fc"].weight == "fc.weight"  # through the DequantizeLinear
    assert entries["x_QuantizeLinear"].near == "conv1"  # a quantization: the layer it feeds
    assert entries["c_cast"].near == "conv1" and entries["rescale"].near == "conv1"  # other conversions: the layer they follow
    assert entries["conv1_quant_scales_mul"].near == "conv1"  # named after it
    assert entries["fc"].near == "" and t.places["fc"] == ("Gemm", 0, 1) and t.places["rescale"] == ("Mul", 1, 2)
