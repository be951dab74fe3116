"""Two versions' profiles compared layer by layer: real profiles of the digits CNN and its int8 versions
(the layers found in both, the quantizer's conversions counted with their layers, times that add up), and
hand-made profiles for each matching rule and for the wording. No timing direction is asserted on real
profiles: on a shared machine microsecond nodes vary. The keys nodes are matched by: test_profile_match; the
wording alone: test_profile_compare_text."""

import json
import math
import re
from types import SimpleNamespace

import pytest
from onnx import TensorProto, helper

from studio.core.compress.quantize import quantize
from studio.core.evaluate.data import load_data
from studio.core.evaluate.profile import NodeTime, Profile, profile
from studio.core.evaluate.profile_compare import compare
from studio.core.evaluate.profile_compare_text import format_compare
from studio.core.formats.load import load_model
from studio.core.formats.to_onnx import to_onnx
from studio.core.process.jobs import run_to_end

LAYERS = {"conv1", "conv2", "fc1", "fc2"}  # digits-cnn's weight layers, named after their weights


@pytest.fixture(scope="module")
def digits():
    data = load_data("sample:digits")
    source = load_model("sample:digits-cnn")
    model = to_onnx(source, example=data.example_for(source.inputs))
    profiles = {"original": profile(model, data, runs=5)}
    for mode in ("dynamic", "static"):
        quantized = run_to_end(quantize(model, data, mode=mode, tolerance=None), lambda _: None)
        profiles[mode] = profile(quantized, data, runs=5)
    return profiles


def _adds_up(c):
    rows = [*c.layers, *c.only_before, *c.only_after]
    assert sum(r.before_ms or 0.0 for r in rows) == pytest.approx(c.before_nodes_ms)
    assert sum(r.after_ms or 0.0 for r in rows) == pytest.approx(c.after_nodes_ms)


def test_dynamic_int8_layers_are_found_under_their_float_names_with_the_conversions_the_quantizer_added(digits):
    c = compare(digits["original"], digits["dynamic"], "v0 original", "v1 int8 dynamic")
    rows = {r.name: r for r in c.layers}
    assert LAYERS <= set(rows)
    assert "ConvInteger" in rows["conv2"].after_ops and "node_conv2d_1_quant" in rows["conv2"].after_nodes
    assert "node_conv2d_1" in rows["conv2"].before_nodes
    # the input's DynamicQuantizeLinear and the Mul, Cast and Add that rescale the integer result count with the layer
    assert {"DynamicQuantizeLinear", "Mul", "Cast"} <= {op for name in ("conv1", "conv2") for op in rows[name].after_ops}
    assert not c.only_after and not c.only_before, (c.only_before, c.only_after)
    _adds_up(c)
    assert c.by_op["ConvInteger"][0] == 0 and c.by_op["ConvInteger"][1] > 0 and c.by_op["Conv"][1] == 0
    text = c.summary()
    # faster, slower or "about as fast": the direction is the machine's, the sentence's shape is not
    assert re.match(r"v1 int8 dynamic runs (about as fast as|[\d.]+× (faster|slower) than) v0 original \([\d.]+ → [\d.]+ ms\)", text), text
    json.loads(json.dumps(c.to_json()))


def test_static_int8_layers_match_their_float_originals(digits):
    c = compare(digits["original"], digits["static"])
    rows = {r.name: r for r in c.layers}
    assert LAYERS <= set(rows) and "QLinearConv" in rows["conv1"].after_ops and "QGemm" in rows["fc1"].after_ops
    assert not c.only_after and not c.only_before
    _adds_up(c)
    assert c.before == digits["original"].source  # no labels: the profiles' sources
    table = format_compare(c)
    assert "conv1" in table and "time by operator" in table and "QLinearConv" in table


# ---- hand-made profiles: each matching rule -------------------------------------------------------

def _profile(nodes, latency_ms=None, graph=None, source="m.onnx", overhead=None) -> Profile:
    """nodes: (name, op, ms[, fused[, added]])."""
    times = [NodeTime(n[0], n[1], n[2], 0.0, "CPUExecutionProvider", list(n[3]) if len(n) > 3 else [n[0]], n[0], "",
                      n[4] if len(n) > 4 else False) for n in nodes]
    total = sum(n.ms for n in times)
    by_op: dict[str, float] = {}
    for n in times:
        by_op[n.op] = by_op.get(n.op, 0.0) + n.ms
    model = None if graph is None else SimpleNamespace(onnx=helper.make_model(graph))
    return Profile(source, "CPUExecutionProvider", 1, 1, "data", 5, latency_ms or total, total, total, times, by_op, 0.1,
                   node_overhead_ms=overhead, model=model)


def _graph(nodes, weights=()):
    inits = [helper.make_tensor(name, TensorProto.FLOAT, dims, [0.0] * math.prod(dims)) for name, dims in weights]
    return helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, None)],
                             [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)], initializer=inits)


def test_quantized_names_fused_activations_and_added_conversions_count_with_their_layer():
    before = _profile([("conv1", "FusedConv", 2.0, ["conv1", "relu1"]), ("conv1", "ReorderOutput", 0.5, [], True),
                       ("fc", "Gemm", 1.0), ("pool", "MaxPool", 0.5)], latency_ms=4.0)
    after = _profile([("conv1_quant", "ConvInteger", 1.0), ("relu1", "Relu", 0.25), ("fc_MatMul_quant", "MatMulInteger", 1.5),
                      ("pool", "MaxPool", 0.5), ("extra", "Softmax", 0.25)], latency_ms=2.0)
    c = compare(before, after, "v0 original", "v1 int8")
    rows = {r.name: r for r in c.layers}
    assert set(rows) == {"conv1", "fc", "pool"}
    assert rows["conv1"].before_ms == 2.5 and rows["conv1"].after_ms == 1.25  # the Relu ran apart: counted with its conv
    assert rows["conv1"].after_nodes == ["conv1_quant", "relu1"] and rows["conv1"].speedup == 2.0
    assert rows["fc"].change_ms == 0.5 and rows["fc"].before_ops == ["Gemm"] and rows["fc"].after_ops == ["MatMulInteger"]
    assert [r.name for r in c.layers] == ["conv1", "pool", "fc"]  # most gained first
    assert [r.name for r in c.only_after] == ["extra"] and not c.only_before
    assert c.speedup == 2.0 and [r.name for r in c.faster()] == ["conv1"] and [r.name for r in c.slower()] == ["fc"]
    assert c.verdict(rows["pool"]) == 0
    assert c.summary() == ("v1 int8 runs 2.0× faster than v0 original (4 → 2 ms); conv1 gained most (−1.25 ms); "
                           "1 layer got slower: fc (+0.5 ms). Only in v1 int8: 1 node (Softmax), 0.25 ms.")


def test_changes_within_what_profiling_varies_are_not_called_faster_or_slower():
    before = _profile([("a", "Conv", 1.0), ("b", "Conv", 0.02), ("c", "Conv", 0.1)], overhead=0.005)
    after = _profile([("a", "Conv", 1.15), ("b", "Conv", 0.024), ("c", "Conv", 0.2)], overhead=0.005)
    c = compare(before, after, "v0", "v1")
    verdicts = {r.name: c.verdict(r) for r in c.layers}
    assert verdicts == {"a": 0, "b": 0, "c": 1}  # a: 15 %; b: 4 µs, not 2 % of the nodes' time; c: twice as slow
    assert "1 layer got slower: c (+0.1 ms)" in c.summary() and "about" not in c.summary()


def test_a_layer_run_as_more_nodes_is_not_charged_the_profilers_cost_of_each():
    # dynamic int8: the ConvInteger and the three conversions it needs, each timed with 5 µs of the profiler's own
    before = _profile([("conv1", "Conv", 0.025), ("idle", "Identity", 0.005)], overhead=0.005)
    after = _profile([("conv1_quant", "ConvInteger", 0.011), ("conv1_quant", "DynamicQuantizeLinear", 0.007, [], True),
                      ("conv1_quant", "Mul", 0.007, [], True), ("conv1_quant", "Cast", 0.007, [], True),
                      ("idle", "Identity", 0.005)], overhead=0.005)
    c = compare(before, after, "v0", "v1")
    rows = {r.name: r for r in c.layers}
    assert rows["conv1"].before_ms == pytest.approx(0.02) and rows["conv1"].after_ms == pytest.approx(0.012)
    assert [r.name for r in c.faster()] == ["conv1"] and not c.slower()  # 0.025 → 0.032 ms as profiled: it would read slower
    assert rows["idle"].before_ms == rows["idle"].after_ms == 0 and rows["idle"].speedup == 1.0
    assert c.before_nodes_ms == pytest.approx(0.02) and c.by_op["Mul"] == (0.0, pytest.approx(0.002))


def test_renamed_layers_are_matched_by_their_weights_and_other_nodes_by_their_place():
    """Another exporter's names (/conv1/Conv against node_conv2d): the weights they read, through a
    dequantization in the int8 one; a weightless node is the k-th of its operator in both."""
    f32 = _graph([helper.make_node("Conv", ["x", "conv1.weight"], ["c"], name="node_conv2d"),
                  helper.make_node("MaxPool", ["c"], ["p"], name="node_max_pool2d"),
                  helper.make_node("Relu", ["p"], ["r"], name="node_relu"),
                  helper.make_node("Gemm", ["r", "fc.weight"], ["y"], name="node_linear")],
                 [("conv1.weight", [4, 1, 3, 3]), ("fc.weight", [10, 4])])
    int8 = _graph([helper.make_node("DequantizeLinear", ["conv1.weight_quantized", "s"], ["w"], name="conv1.weight_DequantizeLinear"),
                   helper.make_node("Conv", ["x", "w"], ["c"], name="/conv1/Conv"),
                   helper.make_node("MaxPool", ["c"], ["p"], name="/pool/MaxPool"),
                   helper.make_node("Relu", ["p"], ["r"], name="/relu/Relu"),
                   helper.make_node("Gemm", ["r", "fc.weight_quantized"], ["y"], name="/fc/Gemm")],
                  [("conv1.weight_quantized", [4, 1, 3, 3]), ("s", [1]), ("fc.weight_quantized", [10, 4])])
    before = _profile([("node_conv2d", "Conv", 2.0), ("node_max_pool2d", "MaxPool", 0.5),
                       ("node_linear", "FusedGemm", 1.0, ["node_linear", "node_relu"])], graph=f32)
    after = _profile([("/conv1/Conv", "QLinearConv", 1.0, ["/conv1/Conv", "conv1.weight_DequantizeLinear"]),
                      ("/pool/MaxPool", "MaxPool", 0.5), ("/relu/Relu", "Relu", 0.25), ("/fc/Gemm", "QGemm", 0.5)], graph=int8)
    c = compare(before, after)
    rows = {r.name: r for r in c.layers}
    assert set(rows) == {"conv1", "fc", "/pool/MaxPool"} and not c.only_before and not c.only_after
    assert rows["conv1"].before_nodes == ["node_conv2d"] and rows["conv1"].after_nodes == ["/conv1/Conv"]
    assert rows["fc"].after_ms == 0.75  # its Relu, fused into the Gemm before, ran apart after
    assert rows["/pool/MaxPool"].before_nodes == ["node_max_pool2d"]


def test_conversions_a_quantizer_added_go_with_the_layer_they_serve():
    """Named after it (conv1_quant_scales_mul), or found in the graph: the input's quantization with the
    layer it feeds, a Cast after the integer result with the layer it follows."""
    f32 = _graph([helper.make_node("Conv", ["x", "w1"], ["c"], name="conv1"), helper.make_node("Conv", ["c", "w2"], ["y"], name="conv2")],
                 [("w1", [4, 1, 3, 3]), ("w2", [4, 4, 3, 3])])
    int8 = _graph([helper.make_node("DynamicQuantizeLinear", ["x"], ["xq", "xs", "xz"], name="x_QuantizeLinear"),
                   helper.make_node("ConvInteger", ["xq", "w1_quantized", "xz"], ["ci"], name="conv1_quant"),
                   helper.make_node("Cast", ["ci"], ["cf"], name="c_output_quantized_cast"),
                   helper.make_node("Mul", ["xs", "w1_scale"], ["s"], name="conv1_quant_scales_mul"),
                   helper.make_node("Mul", ["cf", "s"], ["c"], name="conv1_quant_output_scale_mul"),
                   helper.make_node("Conv", ["c", "w2"], ["y"], name="conv2")],
                  [("w1_quantized", [4, 1, 3, 3]), ("w1_scale", [1]), ("w2", [4, 4, 3, 3])])
    before = _profile([("conv1", "Conv", 2.0), ("conv2", "Conv", 2.0)], graph=f32)
    after = _profile([("conv1_quant", "ConvInteger", 1.0), ("x_QuantizeLinear", "DynamicQuantizeLinear", 0.25),
                      ("c_output_quantized_cast", "Cast", 0.125), ("conv1_quant_scales_mul", "Mul", 0.125),
                      ("conv1_quant_output_scale_mul", "Mul", 0.125), ("conv2", "Conv", 2.0)], graph=int8)
    c = compare(before, after)
    rows = {r.name: r for r in c.layers}
    assert not c.only_after and set(rows) == {"conv1", "conv2"}
    assert rows["conv1"].after_ms == 1.625 and rows["conv2"].after_ms == 2.0
    assert rows["conv1"].after_ops == ["ConvInteger", "DynamicQuantizeLinear", "Cast", "Mul"]
