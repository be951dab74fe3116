"""4-bit weights after QAT: ONNX Runtime's static QDQ quantizer given the trained per-channel scales,
INT4 DequantizeLinear at opset 21."""

import numpy as np
import onnx
import pytest
import torch
from onnx import numpy_helper

from studio.core.compress.int4 import OPSET, int4_opset, quantize_int4, weight_overrides
from studio.core.compress.qat import WeightFakeQuant, _input_fake_quant, _input_ranges
from studio.core.errors import StudioError
from studio.core.evaluate.runtime import predict, predict_module
from studio.core.formats.model import Format, Model, TensorSpec
from studio.core.inspect.precision import quantized_ops
from studio.core.process.jobs import run_to_end


def stored(proto: onnx.ModelProto) -> dict[str, np.ndarray]:
    """Each weight read by a DequantizeLinear, dequantized in numpy: {weight initializer: (type, float values)}."""
    inits = {t.name: t for t in proto.graph.initializer}
    out = {}
    for n in proto.graph.node:
        if n.op_type == "DequantizeLinear" and n.input[0] in inits and len(inits[n.input[0]].dims) >= 2:
            q = numpy_helper.to_array(inits[n.input[0]]).astype(np.float32)
            scale = numpy_helper.to_array(inits[n.input[1]]).reshape(-1, *([1] * (q.ndim - 1)))
            out[n.input[0].removesuffix("_quantized")] = (inits[n.input[0]].data_type, q * scale)
    return out


def mlp(grid: tuple[bool, bool]) -> Model:
    """An 8×8-digits MLP whose layers are on the 4-bit grid where `grid` says so."""
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(64, 32), torch.nn.ReLU(), torch.nn.Linear(32, 10))
    with torch.no_grad():
        for layer, on in zip((net[1], net[3]), grid):
            layer.weight[layer.weight.abs() < 0.05] = 0.0  # pruned
            if on:
                layer.weight.copy_(WeightFakeQuant(4)(layer.weight))
    return Model("mlp", Format.PICKLED_MODULE, [TensorSpec("input", ("batch", 1, 8, 8))], [TensorSpec("logits", ("batch", 10))],
                 module=net.eval())


def test_int4_weights_lose_nothing_more_than_the_fake_quantized_module(digits):
    model = mlp((True, True))
    q = run_to_end(quantize_int4(model, digits, samples=64))
    assert next(o.version for o in q.onnx.opset_import if o.domain == "") == OPSET
    weights = stored(q.onnx)
    assert len(weights) == 2 and {t for t, _ in weights.values()} == {onnx.TensorProto.INT4}
    net = model.module
    for (_, (_, values)), layer in zip(sorted(weights.items()), (net[1], net[3])):  # the very grid it was trained on
        np.testing.assert_allclose(values, layer.weight.detach().numpy(), rtol=1e-6, atol=1e-7)
    # ORT's output against the module with its inputs rounded as in training (uint8 over the calibrated ranges)
    x = next(iter(digits.train().x.values()))
    layers = [net[1], net[3]]
    hooks = [layer.register_forward_pre_hook(_input_fake_quant(*r))
             for layer, r in zip(layers, _input_ranges(net, layers, [x[:64]]).values())]
    test = digits.test()
    try:
        torch_out = predict_module(net, list(test.x.values()))
    finally:
        for hook in hooks:
            hook.remove()
    ort_out = predict(q, test.shaped_for(q.inputs).x)
    assert (ort_out.argmax(1) == torch_out.argmax(1)).mean() >= 0.99
    span = torch_out.max() - torch_out.min()  # what is left: ORT's uint8 rounding of the hidden layer and logits
    assert np.abs(ort_out - torch_out).max() < 0.05 * span and np.abs(ort_out - torch_out).mean() < 0.01 * span
    assert any(n.startswith("int4 weights (INT4 DequantizeLinear") for n in q.notes)
    assert any(n.startswith("activations uint8 per tensor") and n.endswith("biases float") for n in q.notes), q.notes


def test_a_layer_off_the_4bit_grid_stays_int8_and_the_notes_say_so(digits):
    q = run_to_end(quantize_int4(mlp((True, False)), digits, samples=64))
    types = sorted(t for t, _ in stored(q.onnx).values())
    assert types == sorted([onnx.TensorProto.INT4, onnx.TensorProto.INT8])
    precisions = sorted(p.precision for p in quantized_ops(q.onnx) if p.op_type in ("Gemm", "MatMul"))
    assert precisions == ["int4", "int8"]  # the precision table names each by its weights, not its uint8 input
    assert any(n.startswith("int8 weights (run in int8)") and "not on a 4-bit grid" in n for n in q.notes), q.notes


def test_no_layer_on_the_grid_is_refused_in_one_line(digits):
    with pytest.raises(StudioError, match="no layer's weights are on a 4-bit grid") as e:
        run_to_end(quantize_int4(mlp((False, False)), digits, samples=64))
    assert "\n" not in str(e.value)


def test_overrides_give_ort_the_trained_scales_per_output_channel():
    w = WeightFakeQuant(4)(torch.randn(6, 5)).numpy()
    graph = onnx.helper.make_graph([onnx.helper.make_node("Gemm", ["x", "w"], ["y"], transB=1)], "g",
                                   [onnx.helper.make_tensor_value_info("x", onnx.TensorProto.FLOAT, [1, 5])],
                                   [onnx.helper.make_tensor_value_info("y", onnx.TensorProto.FLOAT, [1, 6])],
                                   [numpy_helper.from_array(w, "w")])
    overrides, int8 = weight_overrides(onnx.helper.make_model(graph))
    assert not int8 and [c["axis"] for c in overrides["w"]] == [0] * 6
    np.testing.assert_allclose([c["scale"] for c in overrides["w"]], np.abs(w).max(1) / 7, rtol=1e-6)


def test_a_graph_that_cannot_reach_opset_21_is_refused_in_one_line(monkeypatch):
    def cannot(proto, version):
        raise RuntimeError("No Adapter For Upsample\nmore detail")

    monkeypatch.setattr(onnx.version_converter, "convert_version", cannot)
    proto = onnx.helper.make_model(onnx.helper.make_graph([], "g", [], []), opset_imports=[onnx.helper.make_opsetid("", 9)])
    with pytest.raises(StudioError, match="4-bit weights need ONNX opset 21.*from opset 9") as e:
        int4_opset(proto)
    assert "\n" not in str(e.value)
