"""Quantization-aware training of an ONNX model at exactly the tensors ONNX Runtime rounds (qat_graph)."""

import numpy as np
import pytest
from torch.nn.utils import parametrize

from studio.core.compress import qat_graph
from studio.core.compress.conversion import trainable
from studio.core.compress.qat import QUANTIZED, WeightFakeQuant, qat
from studio.core.compress.quantize import quantize
from studio.core.compress.saturation import saturates
from studio.core.compress.train import copy_module
from studio.core.evaluate.runtime import predict, predict_module
from studio.core.process.jobs import run_to_end


@pytest.fixture(scope="module")
def static_int8(cnn, digits):
    return run_to_end(quantize(cnn, digits, mode="static", tolerance=None, samples=64))


def sqnr_db(out: np.ndarray, reference: np.ndarray) -> float:
    return float(10 * np.log10(np.sum(reference.astype(np.float64) ** 2) / np.sum((out - reference).astype(np.float64) ** 2)))


def test_the_grids_are_read_from_onnx_runtimes_own_static_int8(cnn, static_int8):
    grids = qat_graph.activation_grids(static_int8.onnx)
    tensors = {t for n in cnn.onnx.graph.node for t in n.output} | {i.name for i in cnn.onnx.graph.input}
    assert grids and set(grids) <= tensors  # named as in the float graph
    assert all(scale > 0 and 0 <= zero <= 255 for scale, zero in grids.values())


def test_the_converted_module_rounds_as_onnx_runtime_runs_the_quantized_file(cnn, digits, static_int8):
    grids = qat_graph.activation_grids(static_int8.onnx)
    converted = trainable(cnn, digits)
    module = copy_module(converted.module).eval()
    assert sorted(qat_graph.insert(module, converted.origin.proto.graph, grids)) == sorted(grids)
    for layer in [m for m in module.modules() if isinstance(m, QUANTIZED)]:
        parametrize.register_parametrization(layer, "weight", WeightFakeQuant(8, reduced=saturates()))  # as static int8 rounds them here
    x = digits.test().shaped_for(cnn.inputs).x
    int8, float_ = predict(static_int8, x), predict(cnn, x)
    simulated = predict_module(module, list(x.values()))
    # what training sees is ORT's int8 up to its integer arithmetic, far closer than the float model is
    assert sqnr_db(simulated, int8) > 45 and sqnr_db(simulated, int8) > sqnr_db(float_, int8) + 15


def test_removing_the_fake_quantization_gives_the_float_module_back(cnn, digits, static_int8):
    converted = trainable(cnn, digits)
    module = copy_module(converted.module).eval()
    x = list(digits.test().shaped_for(cnn.inputs).x.values())
    before = predict_module(module, x)
    qat_graph.insert(module, converted.origin.proto.graph, qat_graph.activation_grids(static_int8.onnx))
    assert not np.array_equal(predict_module(module, x), before)
    qat_graph.remove(module)
    assert np.array_equal(predict_module(module, x), before)
    assert not any(isinstance(m, qat_graph.TensorFakeQuant) for m in module.modules())


def test_qat_of_an_onnx_model_quantizes_on_the_grids_it_trained_with(cnn, digits, static_int8):
    steps = []
    q = run_to_end(qat(cnn, digits, epochs=1, lr=1e-4, samples=64), steps.append)
    # the live size curve shows the result, not the untrained static int8 that gave the grids
    sizes = [p for p in steps if "size_bytes" in p.metrics]
    assert sizes and all(p.message.startswith("static int8: ") for p in sizes)
    grids = qat_graph.activation_grids(static_int8.onnx)
    assert qat_graph.activation_grids(q.onnx) == grids  # not calibrated again on the trained model
    assert any(f"rounding the {len(grids)} activations ONNX Runtime rounds" in n for n in q.notes)


def test_without_labels_qat_keeps_the_untrained_rounding_when_training_only_takes_it_further(cnn):
    from studio.core.evaluate.data import load_data

    unlabeled = load_data({"path": "sample:digits", "labels": "none"})
    q = run_to_end(qat(cnn, unlabeled, epochs=2, lr=1.0, samples=64))  # a rate that wrecks the weights
    assert any("training did not bring the rounded model closer to the float one" in n for n in q.notes)
    reference = predict(cnn, unlabeled.test().x)
    assert (predict(q, unlabeled.test().x).argmax(1) == reference.argmax(1)).mean() > 0.9
