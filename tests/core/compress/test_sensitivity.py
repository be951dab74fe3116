import pytest

from studio.core.compress.sensitivity import Sensitivity, sensitivity
from studio.core.evaluate.data import load_data
from studio.core.formats.load import load_model
from studio.core.formats.to_onnx import to_onnx
from studio.core.process.jobs import run_to_end


def test_sensitivity_scores_every_layer_at_every_level_and_leaves_the_model():
    model = load_model("sample:digits-cnn")
    before = {k: v.clone() for k, v in model.module.state_dict().items()}
    s = run_to_end(sensitivity(model, load_data("sample:digits"), levels=(0.0, 0.5, 0.95)))
    assert set(s.scores) == {"conv1", "conv2", "fc1", "fc2"}
    assert all(row[0] == pytest.approx(s.baseline) for row in s.scores.values())
    assert min(row[-1] for row in s.scores.values()) < s.baseline  # pruning 95 % of some layer hurts
    assert all((before[k] == v).all() for k, v in model.module.state_dict().items())


def test_sensitivity_of_onnx_without_labels_uses_agreement():
    model = to_onnx(load_model("sample:digits-cnn"))
    s = run_to_end(sensitivity(model, load_data({"path": "sample:digits", "labels": "none"}), levels=(0.0, 0.9)))
    assert s.metric == "agreement" and s.baseline == 1.0 and len(s.scores) == 4


def test_suggestion_spares_the_sensitive_layer_and_meets_the_target():
    s = Sensitivity("accuracy", 0.9, (0.0, 0.5, 0.9), {"big": [0.9, 0.9, 0.89], "touchy": [0.9, 0.5, 0.1]}, {"big": 900, "touchy": 100})
    plan = s.suggest(0.8)
    assert plan["touchy"] < plan["big"]
    overall = (900 * plan["big"] + 100 * plan["touchy"]) / 1000
    assert overall == pytest.approx(0.8, abs=0.01)
