"""The small models of the real-model corpus (scripts/make_corpus.py) through every operation the
command line runs: inspect, measure on their own data, magnitude pruning, quantization in the mode the
studio suggests, and the export with its latency timed on the data. The whole corpus, with fp16, static
and dynamic int8 on every model, is benchmarks/bench_real_models.py."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from studio.core.compress.quantize_advice import suggest_mode
from studio.core.deliver import deploy
from studio.core.errors import StudioError
from studio.core.evaluate.data import load_data
from studio.core.formats.load import load_model
from studio.core.inspect.summary import summarize
from studio.core.process.jobs import NO_CANCEL, run_to_end
from studio.core.project.recipe import StepResult, run_step, step_metrics
from studio.core.project.steps import OPS, Context

CORPUS = Path(__file__).resolve().parents[2] / "corpus"
MANIFEST = json.loads((CORPUS / "manifest.json").read_text()) if (CORPUS / "manifest.json").is_file() else []
SMALL = [e for e in MANIFEST if e["small"] and not e.get("trust")]  # pickles need their package's torchvision

NO_EXPORTER_TAKES = {"silero-vad-jit"}  # a script that sets its LSTM state inside an `if`

pytestmark = pytest.mark.skipif(not SMALL, reason="the real-model corpus is not built: python scripts/make_corpus.py")


@pytest.mark.parametrize("entry", SMALL, ids=[e["name"] for e in SMALL])
def test_a_real_model_goes_through_every_operation(entry, tmp_path, monkeypatch):
    monkeypatch.setattr(deploy, "LATENCY_BATCHES", (1,))
    monkeypatch.setattr(deploy, "BUDGET_S", 0.5)
    model = load_model(str(CORPUS / entry["file"]), input_shape=entry.get("input_shape"))
    assert summarize(model)["parameters"] > 0
    with np.load(CORPUS / entry["data"]) as f:
        labeled = "y" in f.files
    data = load_data({"path": str(CORPUS / entry["data"]), "labels": "yes" if labeled else "none", "output": entry.get("class_output")})
    metrics, outputs = step_metrics(model, data, None, "cpu")
    assert not labeled or metrics["accuracy"] > 0.5  # the shipped model, on its own data
    base = StepResult("load", {}, "original", model, metrics, outputs)
    ctx = Context(data, "cpu", NO_CANCEL, original=model)
    pruned = run_to_end(run_step(base, "prune", OPS["prune"].validate("prune", {"method": "magnitude", "sparsity": 0.5}), ctx))
    assert pruned.metrics["weight_sparsity"] >= 0.49  # pesto's CQT kernels are two-thirds zeros already
    mode = suggest_mode(model).mode
    if mode is not None:
        try:
            quantized = run_to_end(run_step(base, "quantize", OPS["quantize"].validate("quantize", {"mode": mode, "samples": 32}), ctx))
            assert quantized.metrics["cosine"] > 0.8, quantized.metrics  # measured and reported: a spectrogram loses most
        except StudioError as e:  # a clear one-line refusal is an answer; anything else fails the test
            assert "\n" not in str(e)
    try:
        out = run_to_end(deploy.export_version(model, tmp_path / "m.onnx", data, original=model))
    except StudioError as e:
        assert entry["name"] in NO_EXPORTER_TAKES and "\n" not in str(e), e
        return
    lat = out["metrics"]["latency"][0]
    shapes = data.test().shaped_for(model.inputs).x
    for name, shape in lat["input_shapes"].items():  # real shapes: the data's, at the timed batch (on its batch axis)
        assert sorted(shape) == sorted([lat["batch"], *shapes[name].shape[1:]]) or shapes[name].ndim == 0
    assert out["metrics"]["source_latency"][0]["latency_ms"] > 0


def _corpus(name: str):
    entry = next((e for e in MANIFEST if e["name"] == name), None)
    if entry is None or not (CORPUS / entry["file"]).is_file():
        pytest.skip(f"{name} is not in the corpus")
    model = load_model(str(CORPUS / entry["file"]))
    return model, load_data({"path": str(CORPUS / entry["data"]), "labels": "none", "output": entry.get("class_output")})


def test_static_int8_that_loses_in_activations_keeps_those_of_weightless_operators_float():
    """The wake-word head loses a third of its answers in static int8, in the activations of operators
    without weights; keeping those float holds it within the tolerance, with every layer still int8."""
    from studio.core.compress.quantize import quantize
    from studio.core.inspect.precision import quantized_ops

    model, data = _corpus("oww-hey-mycroft")
    q = run_to_end(quantize(model, data, mode="static", samples=32))
    assert any("kept the activations of operators without weights float" in n and "within it" in n for n in q.notes), q.notes
    _, reference = step_metrics(model, data, None, "cpu")
    assert step_metrics(q, data, reference, "cpu")[0]["agreement"] == 1.0
    assert {op.precision for op in quantized_ops(q.onnx) if op.op_type in ("MatMul", "Gemm", "Conv")} == {"int8"}
