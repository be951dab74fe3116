"""Quantization-aware training: fake-quantized training, then ONNX Runtime's static int8."""

import numpy as np
import pytest
import torch

from studio.core.compress.qat import WeightFakeQuant, qat
from studio.core.errors import StudioError
from studio.core.evaluate.metrics import evaluate
from studio.core.formats.load import load_model
from studio.core.inspect.precision import quantized_ops
from studio.core.process.jobs import run_to_end


def test_weights_are_rounded_to_the_int8_grid_per_channel_with_a_straight_through_gradient():
    w = torch.randn(4, 3, 3, 3, requires_grad=True)
    q = WeightFakeQuant(8)(w)
    scale = w.detach().abs().amax(dim=(1, 2, 3), keepdim=True) / 127
    steps = q.detach() / scale
    assert torch.allclose(steps, steps.round(), atol=1e-4) and steps.abs().max() <= 127 + 1e-4
    q.sum().backward()
    assert torch.equal(w.grad, torch.ones_like(w))
    steps = WeightFakeQuant(8, reduced=True)(w).detach() / (scale * 127 / 64)  # ORT's 7-bit int8 weights: ±64
    assert torch.allclose(steps, steps.round(), atol=1e-4) and steps.abs().max() <= 64 + 1e-4


def test_qat_trains_then_quantizes_in_onnx_runtime(digits):
    model = load_model("sample:digits-cnn")
    steps = []
    q = run_to_end(qat(model, digits, epochs=1, lr=1e-4, samples=64), steps.append)
    assert q.onnx is not None and {op.precision for op in quantized_ops(q.onnx) if op.op_type == "Conv"} == {"int8"}
    assert any(n.startswith("quantization-aware training: 1 epochs") for n in q.notes)
    assert any("epoch 1/1" in p.message and "accuracy" in p.metrics for p in steps)  # live curves, like fine-tuning
    assert evaluate(q, digits)["accuracy"] > evaluate(model, digits)["accuracy"] - 0.02
    assert not any("learnt from only" in n for n in q.notes)


def test_qat_on_few_examples_says_it_can_fit_them(digits):
    few = digits.subset(slice(0, 40))  # 32 to train: QAT fitted a text recogniser's 13 and lost on its others
    q = run_to_end(qat(load_model("sample:digits-cnn"), few, epochs=1, samples=32))
    assert any("learnt from only 32 examples, which it can fit and lose on others" in n for n in q.notes)


def test_qat_of_an_onnx_model_converts_it_first(cnn, digits):
    q = run_to_end(qat(cnn, digits, epochs=1, samples=64))
    assert any(n.startswith("converted to PyTorch by onnx2torch") for n in q.notes)
    assert [i.name for i in q.onnx.graph.input] == [i.name for i in cnn.onnx.graph.input]


def test_an_onnx_model_trains_on_the_grids_of_the_calibration_asked_for(cnn, digits, monkeypatch):
    from studio.core.compress import qat as qat_module

    asked = []
    quantize, quantize_prepared = qat_module.quantize, qat_module.quantize_prepared
    monkeypatch.setattr(qat_module, "quantize_prepared", lambda prep, s, *a: asked.append(s.calibration) or quantize_prepared(prep, s, *a))
    monkeypatch.setattr(qat_module, "quantize", lambda *a, **k: asked.append(k["calibration"]) or quantize(*a, **k))
    q = run_to_end(qat(cnn, digits, epochs=1, samples=64, calibration="percentile"))
    assert asked == ["percentile", "percentile"]  # the grids it trains on; those ORT's pre-processing made, after
    assert any("int8 static (percentile, 64 samples" in n for n in q.notes)


def test_four_bit_qat_calibrates_its_other_activations_as_asked(digits, monkeypatch):
    from studio.core.compress import int4

    asked = []
    settings = int4.Settings
    monkeypatch.setattr(int4, "Settings", lambda *a, **k: asked.append(a[1]) or settings(*a, **k))
    run_to_end(qat(load_model("sample:digits-cnn"), digits, bits=4, epochs=1, samples=32, calibration="entropy"))
    assert asked == ["entropy"]


def test_three_bit_qat_is_refused_in_one_line(digits):
    with pytest.raises(StudioError, match="bits: 8 or 4") as e:
        run_to_end(qat(load_model("sample:digits-cnn"), digits, bits=3))
    assert "\n" not in str(e.value)


def test_an_unknown_calibration_is_refused_before_training(digits, monkeypatch):
    from studio.core.compress import qat as qat_module

    monkeypatch.setattr(qat_module, "train", lambda *a, **k: pytest.fail("trained before refusing"))
    with pytest.raises(StudioError, match="quantize.calibration: 'kl' is not one of minmax, entropy, percentile") as e:
        run_to_end(qat(load_model("sample:digits-cnn"), digits, bits=4, calibration="kl"))
    assert "\n" not in str(e.value)


@pytest.fixture(scope="module")
def pruned_and_qat4(digits):
    from studio.core.compress.prune import magnitude

    pruned = magnitude(load_model("sample:digits-cnn"), 0.8)
    return pruned, run_to_end(qat(pruned, digits, bits=4, epochs=1, lr=1e-4, samples=64))


def int4_weights(proto) -> dict[str, np.ndarray]:
    from onnx import TensorProto, numpy_helper

    return {t.name.removesuffix("_quantized"): numpy_helper.to_array(t) for t in proto.graph.initializer
            if t.data_type == TensorProto.INT4 and len(t.dims) >= 2}


def test_four_bit_qat_writes_int4_weights_that_onnx_runtime_runs(pruned_and_qat4, digits):
    pruned, q = pruned_and_qat4
    assert next(o.version for o in q.onnx.opset_import if o.domain in ("", "ai.onnx")) == 21
    assert sorted(int4_weights(q.onnx)) == ["conv1.weight", "conv2.weight", "fc1.weight", "fc2.weight"]
    assert any("1 epochs, lr 0.0001, 4-bit weights, rounding" in n for n in q.notes)
    assert any(n.startswith("int4 weights (INT4 DequantizeLinear, opset 21") and "conv1, conv2, fc1, fc2" in n for n in q.notes)
    assert evaluate(q, digits)["accuracy"] > evaluate(pruned, digits)["accuracy"] - 0.03  # measured in ONNX Runtime


def test_pruned_weights_stay_exactly_zero_through_four_bit_qat(pruned_and_qat4):
    pruned, q = pruned_and_qat4
    stored = int4_weights(q.onnx)
    zeros = {name: (w == 0).numpy() for name, w in pruned.module.state_dict().items() if name in stored}
    assert sum(z.sum() for z in zeros.values()) > 0.75 * sum(z.size for z in zeros.values())  # pruned 80 %, globally
    for name, z in zeros.items():
        assert not stored[name][z].any(), name


def test_without_labels_non_class_outputs_are_learnt_by_their_error():
    from studio.core.compress.train import distillation_loss

    teacher = torch.randn(5, 1, 4, 4)  # a map, not class scores: a softmax over one channel is constant
    near, far = teacher + 0.01 * torch.randn_like(teacher), torch.zeros_like(teacher)
    assert distillation_loss(near, teacher, None, 2.0, 0.0)[0] < distillation_loss(far, teacher, None, 2.0, 0.0)[0]
    assert np.isclose(float(distillation_loss(far, teacher, None, 2.0, 0.0)[0]), 1.0)


def test_a_recipe_step_asks_for_qat_with_additive_keys(digits):
    from studio.core.process.jobs import NO_CANCEL
    from studio.core.project.recipe import StepResult, run_step, step_metrics
    from studio.core.project.steps import OPS, Context

    model = load_model("sample:digits-cnn")
    options = OPS["quantize"].validate("quantize", {"mode": "qat", "epochs": 1, "lr": 1e-4, "samples": 64})
    assert OPS["quantize"].describe(options) == "int8 after quantization-aware training (1 epoch)"
    ranged = OPS["quantize"].validate("quantize", {"mode": "qat", "epochs": 3, "calibration": "entropy"})
    assert OPS["quantize"].describe(ranged) == "int8 after quantization-aware training (3 epochs, entropy ranges)"
    metrics, outputs = step_metrics(model, digits, None, "cpu")
    base = StepResult("load", {}, "original", model, metrics, outputs)
    result = run_to_end(run_step(base, "quantize", options, Context(digits, "cpu", NO_CANCEL, original=model)))
    assert result.model.onnx is not None and result.metrics["size_bytes"] < 0.5 * metrics["size_bytes"]


def test_a_recipe_step_asks_for_four_bit_qat_and_refuses_three():
    from studio.core.project.steps import OPS

    options = OPS["quantize"].validate("quantize", {"mode": "qat", "bits": 4, "epochs": 1})
    assert OPS["quantize"].describe(options) == "int4 weights after quantization-aware training (1 epoch)"
    with pytest.raises(StudioError, match="bits") as e:
        OPS["quantize"].validate("quantize", {"mode": "qat", "bits": 3})
    assert "\n" not in str(e.value)


def test_qat_beats_static_int8_on_a_model_built_to_need_it(digits):
    """A weight of 150 on a pixel that is always blank changes nothing in float, but it sets its rows'
    int8 step to 1.2, which rounds every other weight of the layer to zero: static int8 loses most of the
    accuracy; training with the int8 grid in the loop grows the weights that matter past it."""
    from studio.core.compress.quantize import quantize
    from studio.core.compress.train import train
    from studio.core.formats.model import Format, Model, TensorSpec
    from studio.core.process.jobs import NO_CANCEL

    torch.manual_seed(0)
    train_set = digits.train()
    x = next(iter(train_set.x.values()))
    net = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(64, 32), torch.nn.ReLU(), torch.nn.Linear(32, 10))
    run_to_end(train(net, [x], train_set.y, None, epochs=30, lr=3e-3, cancel=NO_CANCEL, evaluate=lambda m: {}))
    blank = int(np.flatnonzero(x.reshape(len(x), -1).max(0) == 0)[0])
    with torch.no_grad():
        net[1].weight[:, blank] = 150.0
    model = Model("outlier", Format.PICKLED_MODULE, [TensorSpec("input", ("batch", 1, 8, 8))], [TensorSpec("logits", ("batch", 10))],
                  module=net.eval())
    float_accuracy = evaluate(model, digits)["accuracy"]
    static = evaluate(run_to_end(quantize(model, digits, mode="static", tolerance=None)), digits)["accuracy"]
    trained = evaluate(run_to_end(qat(model, digits, epochs=5, lr=1e-2)), digits)["accuracy"]
    assert float_accuracy > 0.95 and static < 0.6 and trained > static + 0.3, (float_accuracy, static, trained)


def test_qat_rounds_only_the_layers_activations_when_rounding_every_one_loses_too_much(digits):
    """An 11th score of −10,000 added after the last layer costs nothing in float, but rounding that sum to
    256 steps makes every real score one value: static int8 of every activation loses most of the accuracy,
    which no training wins back; rounding only the layers' activations leaves the sum float."""
    from studio.core.compress.train import train
    from studio.core.formats.model import Format, Model, TensorSpec
    from studio.core.formats.to_onnx import to_onnx
    from studio.core.process.jobs import NO_CANCEL

    class Scores(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.net = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(64, 32), torch.nn.ReLU(), torch.nn.Linear(32, 10))
            self.register_buffer("offset", torch.tensor([0.0] * 10 + [-1e4]))

        def forward(self, x):
            logits = self.net(x)
            return torch.cat([logits, logits[:, :1]], 1) + self.offset

    torch.manual_seed(0)
    train_set = digits.train()
    scores = Scores()
    run_to_end(train(scores.net, [next(iter(train_set.x.values()))], train_set.y, None, epochs=30, lr=3e-3, cancel=NO_CANCEL,
                     evaluate=lambda m: {}))
    model = to_onnx(Model("offset", Format.PICKLED_MODULE, [TensorSpec("input", ("batch", 1, 8, 8))],
                          [TensorSpec("scores", ("batch", 11))], module=scores.eval()))
    float_accuracy = evaluate(model, digits)["accuracy"]
    q = run_to_end(qat(model, digits, epochs=1, samples=64))
    said = next(n for n in q.notes if n.startswith("quantization-aware training"))
    assert "only the activations of layers with weights, the others float: static int8 of every activation lost" in said
    assert any("only the activations of layers with weights" in n for n in q.notes if n.startswith("quantized by ONNX Runtime"))
    assert {op.precision for op in quantized_ops(q.onnx) if op.op_type in ("Gemm", "MatMul")} == {"int8"}
    assert evaluate(q, digits)["accuracy"] > float_accuracy - 0.02, (float_accuracy, evaluate(q, digits)["accuracy"])


def test_qat_is_refused_before_training_when_static_int8_rounds_no_layer(tmp_path):
    """Silero VAD's layers all sit in If branches, which ORT's QDQ quantizer leaves float: training for
    int8 would cost minutes and change nothing."""
    from onnx_cases import rate_branches_onnx

    from studio.core.evaluate.data import DataSet

    rate_branches_onnx(tmp_path / "rates.onnx")
    rng = np.random.default_rng(0)
    data = DataSet("rates", {"x": rng.normal(size=(40, 4)).astype(np.float32), "sr": np.array(16000, np.int64),
                             "state": rng.normal(size=(40, 2, 3)).astype(np.float32)}, None)
    with pytest.raises(StudioError, match="rounds none of this model's layers .*If, Loop or Scan branches"):
        run_to_end(qat(load_model(str(tmp_path / "rates.onnx")), data, epochs=1))
