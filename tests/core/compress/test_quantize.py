import re

import numpy as np
import onnx
import pytest

from studio.core.compress.quantize import quantize
from studio.core.compress.quantize_advice import suggest_mode
from studio.core.compress.quantize_sensitivity import quant_sensitivity
from studio.core.errors import StudioError
from studio.core.evaluate.data import load_data
from studio.core.evaluate.metrics import evaluate
from studio.core.evaluate.runtime import ort_session
from studio.core.formats.load import load_model
from studio.core.formats.load_onnx import full_onnx
from studio.core.formats.model import Format
from studio.core.inspect.precision import quantized_ops
from studio.core.process.jobs import Cancelled, CancelToken, run_to_end
from studio.core.project.recipe import parse_recipe, run_recipe

LAYERS = ["node_conv2d", "node_conv2d_1", "node_linear", "node_linear_1"]  # digits-cnn: conv1, conv2, fc1, fc2


@pytest.fixture(scope="module")
def fp32_accuracy(cnn, digits):
    return evaluate(cnn, digits.test())["accuracy"]


def precisions(model) -> dict[str, str]:
    """Layer (float graph's node name) → precision, whatever suffix the quantizer gave the node."""
    rows = quantized_ops(model.onnx)
    return {layer: next(r.precision for r in rows if re.fullmatch(re.escape(layer) + r"(_MatMul)?(_quant|_Q\d)?", r.node))
            for layer in LAYERS}


@pytest.mark.parametrize(
    "mode, max_ratio, expected",
    [
        ("dynamic", 0.35, {"int8"}),
        ("static", 0.35, {"int8"}),
        ("fp16", 0.55, {"fp16"}),
        ("weights-only", 0.35, {"float", "int4"}),  # convolutions stay float: MatMulNBits covers matrix products
    ],
)
def test_every_mode_runs_in_ort_keeps_accuracy_and_shrinks(cnn, digits, fp32_accuracy, mode, max_ratio, expected):
    before = full_onnx(cnn).SerializeToString()
    q = run_to_end(quantize(cnn, digits, mode=mode))
    assert q.format is Format.ONNX and q.module is None
    ort_session(q)  # ONNX Runtime loads it
    result = evaluate(q, digits.test())
    assert result["runtime"].startswith("onnxruntime")
    assert result["accuracy"] >= fp32_accuracy - 0.02
    assert q.size_bytes == len(full_onnx(q).SerializeToString()) < max_ratio * len(before)
    assert set(precisions(q).values()) == expected
    assert any("quantized by ONNX Runtime" in n for n in q.notes)
    assert full_onnx(cnn).SerializeToString() == before  # the version it started from is untouched
    assert [i.type.tensor_type.elem_type for i in q.onnx.graph.input] == [onnx.TensorProto.FLOAT]  # io stays float32


@pytest.mark.parametrize("calibration", ["minmax", "entropy", "percentile"])
def test_static_calibrates_on_unlabeled_data(cnn, fp32_accuracy, calibration):
    unlabeled = load_data({"path": "sample:digits", "labels": "none"})
    q = run_to_end(quantize(cnn, unlabeled, mode="static", calibration=calibration, samples=64))
    assert set(precisions(q).values()) == {"int8"}
    assert evaluate(q, load_data("sample:digits").test())["accuracy"] >= fp32_accuracy - 0.02


def test_static_needs_data(cnn):
    with pytest.raises(StudioError, match="calibrates on data"):
        run_to_end(quantize(cnn, None, mode="static"))


@pytest.mark.parametrize("mode", ["dynamic", "static", "fp16", "weights-only"])
def test_excluded_layers_stay_float(cnn, digits, mode):
    q = run_to_end(quantize(cnn, digits, mode=mode, exclude=["fc1", "Conv"]))  # a layer name and an op type
    p = precisions(q)
    assert p["node_conv2d"] == p["node_conv2d_1"] == p["node_linear"] == "float"
    assert p["node_linear_1"] != "float"


def test_static_says_which_layers_kept_float_still_see_rounded_activations(cnn, digits):
    q = run_to_end(quantize(cnn, digits, mode="static", exclude=["fc1"], tolerance=None, samples=64))
    assert precisions(q)["node_linear"] == "float"
    assert any(n.startswith("only the weights of 1 of the layers kept float are float") and "(node_linear)" in n for n in q.notes), q.notes
    dynamic = run_to_end(quantize(cnn, digits, mode="dynamic", exclude=["fc1"]))  # no activation rounded around it
    assert not any(n.startswith("only the weights of") for n in dynamic.notes)


def test_an_exclusion_that_matches_nothing_is_an_error(cnn, digits):
    with pytest.raises(StudioError, match="'fc9' matches no layer"):
        run_to_end(quantize(cnn, digits, exclude=["fc9"]))


def test_keep_float_keeps_the_most_sensitive_layers_float(cnn, digits):
    ranking = run_to_end(quant_sensitivity(cnn, digits, exclude=["node_conv2d"]))
    worst = ranking.most_sensitive(2)
    q = run_to_end(quantize(cnn, digits, mode="dynamic", exclude=["node_conv2d"], keep_float=2))
    p = precisions(q)
    assert {layer for layer, prec in p.items() if prec == "float"} == {"node_conv2d", *worst}
    assert any(worst[0] in n for n in q.notes)


def test_max_drop_keeps_as_few_layers_float_as_it_can(cnn, digits):
    q = run_to_end(quantize(cnn, digits, mode="static", keep_float=4, max_drop=1.0))  # any drop is allowed
    assert set(precisions(q).values()) == {"int8"}
    with pytest.raises(StudioError, match="needs a budget"):
        run_to_end(quantize(cnn, digits, max_drop=0.01))


def test_cancelling_stops_the_job(cnn, digits):
    token = CancelToken()
    token.cancel()
    with pytest.raises(Cancelled):
        run_to_end(quantize(cnn, digits, mode="static", cancel=token))


def test_quantize_step_through_a_recipe(tmp_path):
    recipe = parse_recipe({"model": "sample:digits-cnn", "data": "sample:digits",
                           "steps": [{"quantize": {"mode": "static", "samples": 128, "exclude": ["fc2"]}}],
                           "export": {"path": str(tmp_path / "q.onnx")}})
    (op, options), = recipe.steps
    assert (options["calibration"], options["per_channel"], options["keep_float"]) == ("minmax", True, 0)
    result = run_to_end(run_recipe(recipe))
    (step,) = result.steps
    assert step.label.startswith("int8 static (minmax, 128 samples")  # ", 7-bit weights)" where int8 kernels saturate
    assert step.metrics["runtime"].startswith("onnxruntime") and step.metrics["accuracy"] > 0.95
    assert step.metrics["agreement"] > 0.97  # fidelity to the PyTorch original
    assert step.model.format is Format.ONNX
    assert result.export["metrics"]["parity"]["max_abs_diff"] == 0.0  # the file is the quantized version itself
    assert load_model(str(tmp_path / "q.onnx")).size_bytes == result.export["size_bytes"] == step.metrics["size_bytes"]


@pytest.mark.parametrize("options, message", [({"mode": "int3"}, "not one of"), ({"bits": 3}, "not one of"),
                                              ({"keep_float": -1}, "outside"), ({"per_channel": "yes"}, "true or false")])
def test_bad_quantize_options_name_the_key(options, message):
    with pytest.raises(StudioError, match=message):
        parse_recipe({"model": "sample:digits-cnn", "steps": [{"quantize": options}]})


def test_a_quantized_model_is_not_quantized_again(cnn, digits):
    q = run_to_end(quantize(cnn, digits, mode="dynamic"))
    for mode in ("dynamic", "static", "fp16"):
        with pytest.raises(StudioError, match=r"already quantized \(it holds .*MatMulInteger.*\): quantize the float original"):
            run_to_end(quantize(q, digits, mode=mode))
    assert suggest_mode(q).mode is None and "already quantized" in suggest_mode(q).reason


def test_a_quantization_that_loses_too_much_keeps_its_worst_layers_float(cnn, digits, monkeypatch):
    from studio.core.compress import quantize as quantize_module
    from studio.core.compress import quantize_sensitivity as qs

    full = run_to_end(quantize(cnn, digits, mode="dynamic", tolerance=0))
    dequantized = sum(n.op_type == "DynamicQuantizeLinear" for n in full.onnx.graph.node)
    real = qs.Probe.outputs

    def lossy(self, proto):  # the fully quantized model answers at random; with a layer kept float it is exact
        out = real(self, proto)
        if sum(n.op_type == "DynamicQuantizeLinear" for n in proto.graph.node) >= dequantized:
            return np.random.default_rng(0).permutation(out)
        return out

    monkeypatch.setattr(qs.Probe, "outputs", lossy)
    kept = run_to_end(quantize(cnn, digits, mode="dynamic"))
    assert any("kept 1 layers float (within it)" in n for n in kept.notes), kept.notes
    assert sum(p == "float" for p in precisions(kept).values()) == 1
    monkeypatch.setattr(quantize_module, "RANKED_LAYERS_MAX", 2)  # too many layers to rank: said, not done
    said = run_to_end(quantize(cnn, digits, mode="dynamic"))
    assert any("too many to rank" in n for n in said.notes) and "float" not in precisions(said).values()


def test_a_max_drop_no_count_of_float_layers_meets_is_said_and_the_least_loss_kept(cnn, digits):
    q = run_to_end(quantize(cnn, digits, mode="static", samples=64, keep_float=2, max_drop=-1.0))  # unreachable
    assert any(n.startswith("max_drop NOT MET:") for n in q.notes)
