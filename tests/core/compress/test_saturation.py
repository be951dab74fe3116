"""saturation.saturates: its answer, asked of a MatMulInteger, holds for the QLinearMatMul ORT runs in a
quantized file (another operator on the same kernels)."""

import numpy as np
import onnxruntime as ort
from onnx import TensorProto, helper, numpy_helper

from studio.core.compress.saturation import saturates

SCALE = 2100.0  # the output's step: 255 × 127 × 16 = 518160 is step 247, saturated pairs (8 × 32767) step 125


def test_the_answer_holds_for_a_quantized_matmul_as_a_quantized_file_runs_it():
    inits = [numpy_helper.from_array(a, name) for name, a in [
        ("b", np.full((16, 4), 127, np.int8)), ("one", np.array(1.0, np.float32)), ("y_scale", np.array(SCALE, np.float32)),
        ("zero_u8", np.array(0, np.uint8)), ("zero_s8", np.array(0, np.int8))]]
    node = helper.make_node("QLinearMatMul", ["a", "one", "zero_u8", "b", "one", "zero_s8", "y_scale", "zero_u8"], ["y"])
    graph = helper.make_graph([node], "q", [helper.make_tensor_value_info("a", TensorProto.UINT8, [1, 16])],
                              [helper.make_tensor_value_info("y", TensorProto.UINT8, [1, 4])], initializer=inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    y = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"]).run(
        None, {"a": np.full((1, 16), 255, np.uint8)})[0]
    assert (y == 125).all() if saturates() else (y == 247).all(), (saturates(), y)


def test_eight_bit_weights_are_told_from_seven_bit_ones_and_from_a_float_file(monkeypatch):
    from studio.core.compress import quantize_ort
    from studio.core.compress.quantize import quantize
    from studio.core.compress.saturation import eight_bit_weights
    from studio.core.evaluate.data import load_data
    from studio.core.formats.load import load_model
    from studio.core.formats.to_onnx import to_onnx
    from studio.core.process.jobs import run_to_end

    data = load_data("sample:digits").subset(slice(0, 200))
    model = load_model("sample:digits-cnn")
    made = {}
    for seven in (False, True):
        monkeypatch.setattr(quantize_ort, "saturates", lambda seven=seven: seven)
        made[seven] = run_to_end(quantize(model, data, mode="static", samples=32, tolerance=None)).onnx
    assert eight_bit_weights(made[False]) and not eight_bit_weights(made[True])
    assert not eight_bit_weights(to_onnx(model, example=data.example_for(model.inputs)).onnx)
