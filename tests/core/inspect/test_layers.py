"""Which ONNX tensors are weights, and quantized models shown as their float originals."""

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper
from onnx_cases import quantizable_conv_net

from studio.core.formats.load import load_model
from studio.core.inspect.layers import layers_of
from studio.core.inspect.model_graph import graph_of
from studio.core.inspect.stats import layer_stats, model_stats


def _attention_like(path, weight_value=None) -> int:
    """A MatMul + bias with the constants an exported transformer carries: a -inf mask, a huge negative
    fill, an int64 shape, a scalar divisor, a float Resize-style scale. Returns its parameter count."""
    rng = np.random.default_rng(0)
    w = rng.normal(size=(4, 4)).astype(np.float32)
    if weight_value is not None:
        w[0, 0] = weight_value
    b = np.zeros(4, np.float32)
    mask = np.triu(np.full((4, 4), -np.inf, np.float32), 1)
    const = lambda name, a: helper.make_node("Constant", [], [name], value=numpy_helper.from_array(a, name))
    nodes = [
        const("w", w), const("b", b), const("mask", mask), const("fill", np.array(-3.4e38, np.float32)),
        const("shape", np.array([-1, 4], np.int64)), const("div", np.array([8.0], np.float32)),
        helper.make_node("Reshape", ["x", "shape"], ["flat"], name="reshape"),
        helper.make_node("MatMul", ["flat", "w"], ["h"], name="fc"),
        helper.make_node("Add", ["h", "b"], ["hb"], name="fc_bias"),
        helper.make_node("Div", ["hb", "div"], ["hd"], name="scale"),
        helper.make_node("Add", ["hd", "mask"], ["hm"], name="masked"),
        helper.make_node("Max", ["hm", "fill"], ["y"], name="floor"),
    ]
    graph = helper.make_graph(nodes, "attention", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [4, 4])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [4, 4])])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), path)
    return w.size + b.size


def test_masks_shapes_and_scalars_are_not_weights(tmp_path):
    expected = _attention_like(tmp_path / "a.onnx")
    layers = layers_of(load_model(str(tmp_path / "a.onnx")))
    total = model_stats(layers)
    assert total.parameters == expected and total.nonfinite == 0
    assert {layer.name for layer in layers} == {"fc", "fc_bias"}


def test_a_broken_weight_is_still_reported(tmp_path):
    _attention_like(tmp_path / "a.onnx", weight_value=np.nan)
    assert model_stats(layers_of(load_model(str(tmp_path / "a.onnx")))).nonfinite == 1


def test_a_one_element_bias_of_a_layer_is_a_weight(tmp_path):
    w, b = np.ones((3, 1), np.float32), np.array([0.5], np.float32)
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["x", "w"], ["h"], name="dense"), helper.make_node("Add", ["h", "b"], ["y"], name="dense_bias")],
        "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3])], [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 1])],
        initializer=[numpy_helper.from_array(w, "w"), numpy_helper.from_array(b, "b")],
    )
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), tmp_path / "d.onnx")
    assert model_stats(layers_of(load_model(str(tmp_path / "d.onnx")))).parameters == 4


@pytest.fixture(scope="module")
def quantized(tmp_path_factory):
    """A float model and ONNX Runtime's QDQ (per channel), QOperator and dynamic quantizations of it."""
    quantization = pytest.importorskip("onnxruntime.quantization")
    folder = tmp_path_factory.mktemp("quantized")
    src, Reader = quantizable_conv_net(folder)
    fmt = quantization.QuantFormat
    quantization.quantize_static(src, str(folder / "qdq.onnx"), Reader(), quant_format=fmt.QDQ, per_channel=True)
    quantization.quantize_static(src, str(folder / "qop.onnx"), Reader(), quant_format=fmt.QOperator)
    quantization.quantize_dynamic(src, str(folder / "dynamic.onnx"), op_types_to_quantize=["Conv", "MatMul", "Gemm"])
    return folder


@pytest.mark.parametrize("kind", ["qdq", "qop", "dynamic"])
def test_quantized_layers_keep_their_names_counts_and_values(quantized, kind):
    original = {layer.name: layer for layer in layers_of(load_model(str(quantized / "float.onnx")))}
    layers = {layer.name: layer for layer in layers_of(load_model(str(quantized / f"{kind}.onnx")))}
    assert set(layers) == set(original) == {"/0/Conv", "/3/Gemm"}
    assert model_stats(layers.values()).parameters == model_stats(original.values()).parameters == 1490
    conv = layers["/0/Conv"]
    weight = next(k for k in conv.weights if k.startswith("0.weight"))
    q = conv.quantized[weight]
    assert q.bits == 8 and q.dtype in ("int8", "uint8") and (q.axis == 0) == (kind == "qdq")
    want = original["/0/Conv"].weights["0.weight"]
    assert np.abs(conv.weights[weight] - want).max() <= np.max(q.scale) / 2 + 1e-6  # within half a step of the grid
    assert layer_stats(conv).bytes_by_dtype[q.dtype] == want.size  # a byte per int8 weight, not four


@pytest.mark.parametrize("kind", ["qdq", "qop", "dynamic"])
def test_quantized_graph_looks_like_the_float_one(quantized, kind):
    def shape(path):
        g = graph_of(load_model(str(path)))
        return [(n.name, n.layer) for n in g.nodes if n.type not in ("Relu",)], len(g.edges)

    nodes, _ = shape(quantized / f"{kind}.onnx")
    assert nodes == shape(quantized / "float.onnx")[0]  # the QDQ quantizer fuses Relu into the Conv


CORPUS = __import__("pathlib").Path(__file__).resolve().parents[3] / "corpus"


@pytest.mark.skipif(not (CORPUS / "ddddocr-common-old-int8").is_dir(), reason="the real-model corpus is not here")
def test_corpus_dynamic_int8_model_shows_float_layers():
    layers = layers_of(load_model(str(CORPUS / "ddddocr-common-old-int8" / "common_old.onnx")))
    by_name = {layer.name: layer for layer in layers}
    assert by_name["Conv_0"].type == "Conv" and set(by_name["Conv_0"].weights) == {"391_quantized", "392"}
    assert any(layer.type == "LSTM" and len(layer.quantized) == 2 for layer in layers)
    assert all(np.isfinite(w).all() and w.dtype == np.float32 for layer in layers for w in layer.weights.values())
    assert model_stats(layers).parameters == 13_520_258  # no scale or zero point among them


@pytest.mark.skipif(not (CORPUS / "minilm-l6-v2").is_dir(), reason="the real-model corpus is not here")
def test_corpus_transformer_counts_no_mask_constant():
    layers = layers_of(load_model(str(CORPUS / "minilm-l6-v2" / "all-MiniLM-L6-v2.onnx")))
    stats = model_stats(layers)
    assert stats.parameters == 22_565_376 and stats.nonfinite == 0 and stats.min > -1e30
