import pytest
import yaml

from studio.core.errors import StudioError
from studio.core.process.jobs import run_to_end
from studio.core.project.recipe import load_recipe, parse_recipe, run_recipe

BASE = {"model": "sample:digits-cnn", "data": "sample:digits"}


def test_a_valid_recipe_fills_defaults():
    r = parse_recipe({**BASE, "steps": [{"prune": {"sparsity": 0.9}}, {"finetune": None}]})
    (op1, o1), (op2, o2) = r.steps
    assert (op1, o1["method"], o1["scope"], o1["sparsity"]) == ("prune", "magnitude", "global", 0.9)
    assert (op2, o2["epochs"], o2["lr"]) == ("finetune", 3, 1e-3)


@pytest.mark.parametrize(
    "raw, message",
    [
        ({**BASE, "steps": [{"prune": {"sparsity": "high"}}]}, r"steps\[0\].prune.sparsity: expected a number"),
        ({**BASE, "steps": [{"prune": {"sparsty": 0.9}}]}, r"unknown key 'sparsty'"),
        ({**BASE, "steps": [{"prune": {"sparsity": 1.5}}]}, r"outside"),
        ({**BASE, "steps": [{"prune": {"sparsity": float("nan")}}]}, r"expected a number"),
        ({**BASE, "steps": [{"squash": {}}]}, r"unknown operation 'squash'"),
        ({**BASE, "steps": [{"prune": {"method": "random"}}]}, r"not one of"),
        ({**BASE, "steps": [{"finetune": {"epochs": 2.5}}]}, r"whole number"),
        ({"model": "sample:digits-cnn", "steps": [{"finetune": {}}]}, r"needs data"),
        ({**BASE, "colour": "red"}, r"unknown key 'colour'"),
        ({**BASE, "device": "tpu"}, r"device"),
        ({"steps": []}, r"model"),
        ({**BASE, "steps": {"prune": {}}}, r"steps: expected a list"),
        ({**BASE, "export": {"path": "a.onnx", "opset": "new"}}, r"export.opset"),
        ([1, 2], r"mapping"),
    ],
)
def test_invalid_recipes_name_the_key_and_the_problem(raw, message):
    with pytest.raises(StudioError, match=message):
        parse_recipe(raw)


def test_recipe_round_trips_through_yaml(tmp_path):
    r = parse_recipe({**BASE, "steps": [{"prune": {"sparsity": 0.5, "exclude": ["fc2"]}}], "export": {"path": "m.onnx"}})
    path = tmp_path / "r.yaml"
    path.write_text(r.to_yaml())
    again = load_recipe(str(path))
    assert again.steps == r.steps and again.model == r.model
    assert again.export["path"] == str(tmp_path / "m.onnx")  # relative to the recipe's folder


def test_broken_yaml_is_one_line(tmp_path):
    (tmp_path / "bad.yaml").write_text("model: [unclosed\n")
    with pytest.raises(StudioError, match="not valid YAML"):
        load_recipe(str(tmp_path / "bad.yaml"))


def test_running_a_recipe_prunes_finetunes_and_exports(tmp_path):
    r = parse_recipe({**BASE, "steps": [{"prune": {"sparsity": 0.8}}, {"finetune": {"epochs": 1}}],
                      "export": {"path": str(tmp_path / "out" / "m.onnx"), "zip": True}})
    result = run_to_end(run_recipe(r))
    prune, tune = result.steps
    assert prune.metrics["weight_sparsity"] == pytest.approx(0.8, abs=1e-6)
    assert tune.metrics["weight_sparsity"] == pytest.approx(0.8, abs=1e-6)
    assert tune.metrics["accuracy"] > 0.8
    assert {"agreement", "cosine", "sqnr_db", "size_bytes", "zip_bytes", "nonzero_parameters"} <= set(tune.metrics)
    e = result.export
    assert (tmp_path / "out" / "m.onnx").stat().st_size == e["size_bytes"]
    assert e["zip_bytes"] < e["size_bytes"]
    assert e["metrics"]["runtime"].startswith("onnxruntime")
    assert abs(e["metrics"]["accuracy"] - tune.metrics["accuracy"]) < 0.01
    assert [lat["batch"] for lat in e["metrics"]["latency"]] == [1, 256]
    assert yaml.safe_load(r.to_yaml())["steps"][0]["prune"]["sparsity"] == 0.8


def test_gradual_pruning_reaches_the_target_while_finetuning():
    r = parse_recipe({**BASE, "steps": [{"prune": {"sparsity": 0.9, "schedule": "gradual", "epochs": 3}}]})
    events = []
    result = run_to_end(run_recipe(r), events.append)
    assert result.steps[0].metrics["weight_sparsity"] == pytest.approx(0.9, abs=1e-6)
    assert result.steps[0].metrics["accuracy"] > 0.85
    assert sum("sparsity" in e.message for e in events) >= 3


def test_shipped_recipes_are_valid():
    from pathlib import Path

    folder = Path(__file__).resolve().parents[3] / "resources" / "recipes"
    recipes = sorted(folder.glob("*.yaml"))
    assert recipes
    for path in recipes:
        recipe = load_recipe(str(path))
        assert recipe.steps and recipe.export


def test_every_version_is_timed_and_compared_with_the_original_in_the_same_runtime():
    recipe = parse_recipe({"model": "sample:digits-cnn", "data": "sample:digits",
                           "steps": [{"prune": {"method": "magnitude", "sparsity": 0.5}}, {"quantize": {"mode": "dynamic"}}]})
    pruned, quantized = run_to_end(run_recipe(recipe)).steps
    assert pruned.metrics["latency_ms"] > 0 and pruned.metrics["batch"] == 1 and pruned.metrics["speedup"] > 0  # both in PyTorch
    assert quantized.metrics["latency_ms"] > 0 and "speedup" not in quantized.metrics  # ONNX Runtime against PyTorch: not compared


def test_a_step_notes_only_what_the_version_before_it_did_not_say():
    from types import SimpleNamespace

    from studio.core.project.recipe import RunResult, StepResult

    said = lambda *notes: StepResult("prune", {}, "", SimpleNamespace(notes=list(notes)), {})  # noqa: E731
    result = RunResult([said("loaded with a warning", "pruned"), said("loaded with a warning", "pruned", "quantized")], None,
                       source_notes=["loaded with a warning"])
    assert result.notes(0) == ["pruned"] and result.notes(1) == ["quantized"]
