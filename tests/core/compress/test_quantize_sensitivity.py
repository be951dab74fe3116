"""Layers ranked by the error each adds when quantized alone, and the worst of them kept float."""

import pytest

from studio.core.compress.quantize_ort import Settings, prepared
from studio.core.compress.quantize_sensitivity import LayerSensitivity, QuantSensitivity, keep_sensitive_float, quant_sensitivity
from studio.core.evaluate.data import load_data
from studio.core.inspect.precision import quantized_ops
from studio.core.process.jobs import Cancelled, CancelToken, run_to_end

LAYERS = ["node_conv2d", "node_conv2d_1", "node_linear", "node_linear_1"]  # digits-cnn: conv1, conv2, fc1, fc2


def test_sensitivity_ranks_every_layer_worst_first(cnn, digits):
    ranking = run_to_end(quant_sensitivity(cnn, digits))
    assert sorted(r.layer for r in ranking.layers) == sorted(LAYERS)
    sqnr = [r.sqnr_db for r in ranking.layers]
    assert sqnr == sorted(sqnr) and all(s > 10 for s in sqnr)
    assert ranking.metric == "accuracy" and 0.9 < ranking.quantized_score <= 1.0
    assert ranking.rows()[0]["layer"] == ranking.most_sensitive(1)[0]


def test_without_labels_the_float_model_is_the_reference(cnn):
    unlabeled = load_data({"path": "sample:digits", "labels": "none"})
    ranking = run_to_end(quant_sensitivity(cnn, unlabeled, exclude=["fc2"]))
    assert ranking.metric == "agreement" and ranking.float_score == 1.0  # the float model agrees with itself
    assert 0.9 < ranking.quantized_score <= 1.0
    assert all(r.accuracy is None for r in ranking.layers)
    assert "node_linear_1" not in [r.layer for r in ranking.layers]  # excluded layers are not ranked


def test_the_ranking_reports_progress_per_layer_and_stops_when_cancelled(cnn, digits):
    events = []
    run_to_end(quant_sensitivity(cnn, digits), events.append)
    per_layer = [e for e in events if "sqnr_db" in e.metrics]
    assert len(per_layer) == len(LAYERS) and events[-1].fraction == 1.0
    token = CancelToken()
    token.cancel()
    with pytest.raises(Cancelled):
        run_to_end(quant_sensitivity(cnn, digits, cancel=token))


def test_most_sensitive_and_rows_follow_the_order():
    rows = [LayerSensitivity("a", "Conv", 12.0, 0.99, 0.9, None), LayerSensitivity("b", "Gemm", 30.0, 1.0, 1.0, None)]
    ranking = QuantSensitivity("dynamic", "agreement", 1.0, 0.9, rows)
    assert ranking.most_sensitive(1) == ["a"] and ranking.most_sensitive(5) == ["a", "b"]
    assert [r["layer"] for r in ranking.rows()] == ["a", "b"] and ranking.rows()[0]["sqnr_db"] == 12.0


def _float_layers(proto) -> set[str]:
    return {r.node for r in quantized_ops(proto) if r.precision == "float"}


def test_keep_sensitive_float_keeps_the_worst_layers_float(cnn, digits):
    with prepared(cnn, "dynamic") as prep:
        proto, kept = run_to_end(keep_sensitive_float(prep, digits, Settings("dynamic"), [], keep_float=2))
    assert len(kept) == 2 and set(kept) <= set(LAYERS)
    float_nodes = _float_layers(proto)
    assert all(any(node.startswith(layer) for node in float_nodes) for layer in kept)
    assert len(float_nodes) == 2  # the two others run in int8


def test_with_a_loose_budget_no_layer_is_kept_float(cnn, digits):
    with prepared(cnn, "dynamic") as prep:
        proto, kept = run_to_end(keep_sensitive_float(prep, digits, Settings("dynamic"), [], keep_float=3, max_drop=1.0))
    assert kept == [] and _float_layers(proto) == set()
