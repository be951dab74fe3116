"""Which operations of an ONNX model run in int8 / 4 bits / fp16 and which stayed float, and whether a
model is quantized already."""

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper
from onnx_cases import quantizable_conv_net

from studio.core.inspect.precision import already_quantized, quantized_ops, rounded_around


@pytest.fixture(scope="module")
def quantized(tmp_path_factory):
    """A small conv net and ONNX Runtime's dynamic and static (QDQ) int8 quantizations of it."""
    quantization = pytest.importorskip("onnxruntime.quantization")
    folder = tmp_path_factory.mktemp("precision")
    src, Reader = quantizable_conv_net(folder)
    quantization.quantize_dynamic(src, str(folder / "dynamic.onnx"), op_types_to_quantize=["Conv", "MatMul", "Gemm"])
    quantization.quantize_static(src, str(folder / "qdq.onnx"), Reader(), quant_format=quantization.QuantFormat.QDQ)
    return {kind: onnx.load(folder / f"{kind}.onnx") for kind in ("float", "dynamic", "qdq")}


def test_a_float_model_runs_every_layer_in_float(quantized):
    rows = quantized_ops(quantized["float"])
    assert [(r.op_type, r.precision) for r in rows] == [("Conv", "float"), ("Gemm", "float")]  # Relu and Flatten compute nothing
    assert already_quantized(quantized["float"]) == ""


def test_dynamic_int8_layers_are_integer_ops(quantized):
    rows = quantized_ops(quantized["dynamic"])
    assert {r.op_type for r in rows} == {"ConvInteger", "MatMulInteger"} and {r.precision for r in rows} == {"int8"}
    assert len(rows) == 2
    reason = already_quantized(quantized["dynamic"])
    assert reason.startswith("already quantized (it holds ConvInteger, DynamicQuantizeLinear, MatMulInteger")


def test_qdq_layers_fed_by_dequantized_weights_are_int8(quantized):
    rows = quantized_ops(quantized["qdq"])
    assert [(r.op_type, r.precision) for r in rows] == [("Conv", "int8"), ("Gemm", "int8")]
    assert "DequantizeLinear" in already_quantized(quantized["qdq"])


def model(nodes, inits, inputs=("x",)) -> onnx.ModelProto:
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info(i, TensorProto.FLOAT, None) for i in inputs],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)], inits)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 21), helper.make_opsetid("com.microsoft", 1)])


def test_a_layer_kept_float_stays_float_even_when_its_input_was_dequantized():
    inits = [numpy_helper.from_array(np.ones((4, 4), np.int8), "w_q"), numpy_helper.from_array(np.array(0.1, np.float32), "s"),
             numpy_helper.from_array(np.ones((4, 4), np.float32), "w_float")]
    nodes = [helper.make_node("DequantizeLinear", ["w_q", "s"], ["w"]),
             helper.make_node("MatMul", ["x", "w"], ["h"], name="quantized_fc"),
             helper.make_node("QuantizeLinear", ["h", "s"], ["h_q"]), helper.make_node("DequantizeLinear", ["h_q", "s"], ["h_dq"]),
             helper.make_node("MatMul", ["h_dq", "w_float"], ["y"], name="float_fc")]
    assert {r.node: r.precision for r in quantized_ops(model(nodes, inits))} == {"quantized_fc": "int8", "float_fc": "float"}


def test_four_bit_weights_and_fp16_layers_are_named():
    int4 = helper.make_tensor("w4", TensorProto.INT4, [4, 4], np.zeros(16, np.int8))
    packed = numpy_helper.from_array(np.zeros((4, 1, 16), np.uint8), "packed")
    scales = numpy_helper.from_array(np.ones(4, np.float32), "scales")
    half = numpy_helper.from_array(np.ones((4, 4), np.float16), "half")
    nodes = [helper.make_node("DequantizeLinear", ["w4", "scales"], ["w"], axis=0),
             helper.make_node("MatMul", ["x", "w"], ["a"], name="dq_int4"),
             helper.make_node("MatMulNBits", ["a", "packed", "scales"], ["b"], name="nbits4", domain="com.microsoft", K=4, N=4, bits=4, block_size=32),
             helper.make_node("MatMulNBits", ["b", "packed", "scales"], ["c"], name="nbits8", domain="com.microsoft", K=4, N=4, bits=8, block_size=32),
             helper.make_node("MatMul", ["c", "half"], ["y"], name="fp16_fc")]
    rows = {r.node: r.precision for r in quantized_ops(model(nodes, [int4, packed, scales, half]))}
    assert rows == {"dq_int4": "int4", "nbits4": "int4", "nbits8": "int8", "fp16_fc": "fp16"}


def test_an_embedding_is_a_compute_op_but_indexing_a_computed_tensor_is_not():
    emb = numpy_helper.from_array(np.ones((10, 4), np.float32), "emb")
    ids = numpy_helper.from_array(np.array([1, 2], np.int64), "ids")
    nodes = [helper.make_node("Gather", ["emb", "ids"], ["e"], name="embed"),
             helper.make_node("Add", ["e", "x"], ["s"]), helper.make_node("Gather", ["s", "ids"], ["y"], name="pick")]
    assert [(r.node, r.precision) for r in quantized_ops(model(nodes, [emb, ids]))] == [("embed", "float")]


def test_fp16_weights_are_already_converted_but_mixed_ones_are_not():
    half = numpy_helper.from_array(np.ones((4, 4), np.float16), "half")
    single = numpy_helper.from_array(np.ones((4, 4), np.float32), "single")
    fp16 = model([helper.make_node("MatMul", ["x", "half"], ["y"])], [half])
    assert already_quantized(fp16) == "already in fp16: quantize the float32 original instead"
    mixed = model([helper.make_node("MatMul", ["x", "half"], ["h"]), helper.make_node("MatMul", ["h", "single"], ["y"])], [half, single])
    assert already_quantized(mixed) == ""


def test_a_long_list_of_integer_ops_is_shortened():
    nodes = [helper.make_node(op, ["x"], [f"o{i}"]) for i, op in
             enumerate(["ConvInteger", "MatMulInteger", "QLinearConv", "QLinearMatMul", "QGemm", "QLinearAdd"])]
    reason = already_quantized(model(nodes, []))
    assert reason == "already quantized (it holds ConvInteger, MatMulInteger, QGemm, QLinearAdd, …): quantize the float original instead"


def test_a_layer_kept_float_between_quantized_ones_is_found_still_rounded(tmp_path):
    quantization = pytest.importorskip("onnxruntime.quantization")
    src, Reader = quantizable_conv_net(tmp_path)
    for kept, rounded in (("/3/Gemm", ["/3/Gemm"]), ("/0/Conv", [])):  # the Gemm's input is quantized by its neighbours; the Conv's is not
        out = str(tmp_path / "q.onnx")
        quantization.quantize_static(src, out, Reader(), quant_format=quantization.QuantFormat.QDQ, nodes_to_exclude=[kept])
        q = onnx.load(out)
        assert next(r.precision for r in quantized_ops(q) if r.node == kept) == "float"
        assert rounded_around(q, [kept]) == rounded
