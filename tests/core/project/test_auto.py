"""The automatic search (`studio auto`): the search on a small sample, its budget, cancel, a failing
candidate, forked children, and the files it writes. Its goal, its proposals, its measurements and its
runners alone: test_auto_goal, test_auto_propose, test_auto_measure, test_auto_runner."""

import json
import time

import pytest
import yaml

from studio.core.process.jobs import CancelToken, run_to_end
from studio.core.project import steps as steps_module
from studio.core.project.auto import search
from studio.core.project.auto_goal import Goal
from studio.core.project.auto_result import write_best
from studio.core.project.auto_runner import ForkPool
from studio.core.project.recipe import load_recipe, run_recipe

MODEL, DATA = "sample:digits-cnn", "sample:digits"


# ---- the search ----


@pytest.fixture(scope="module")
def met_search(tmp_path_factory):
    """An easy goal on the small sample: met by a one-shot quantization within seconds, then written."""
    out = tmp_path_factory.mktemp("auto")
    seen = []
    result = run_to_end(search(MODEL, DATA, Goal(smaller=3, max_drop=1, budget_s=120), on_candidate=seen.append))
    written = run_to_end(write_best(result, out))
    return result, written, out, seen


def test_an_easy_goal_is_met_and_written(met_search):
    result, written, out, seen = met_search
    assert result.met and result.stopped == "met" and result.best.status == "met"
    assert result.best.metrics["smaller"] >= 3 and result.best.metrics["drop"] <= 1
    assert seen == result.candidates  # every candidate was told as it finished
    for name in ("best.onnx", "best.onnx.zip", "best.card.json", "best.card.md", "best.yaml", "auto.json"):
        assert (out / name).is_file(), name
    card = json.loads((out / "best.card.json").read_text())
    assert card["size_bytes"] == (out / "best.onnx").stat().st_size == result.best.metrics["size_bytes"]
    assert json.loads((out / "auto.json").read_text())["best"]["path"] == written["path"]


def test_best_yaml_replays_to_the_same_model(met_search, tmp_path):
    result, written, out, _ = met_search
    raw = yaml.safe_load((out / "best.yaml").read_text())
    assert set(raw) == {"model", "data", "device", "steps", "export"}  # the stable recipe keys, nothing else
    recipe = load_recipe(str(out / "best.yaml"))
    recipe.export["path"] = str(tmp_path / "again.onnx")
    again = run_to_end(run_recipe(recipe)).export
    assert abs(again["size_bytes"] / (out / "best.onnx").stat().st_size - 1) < 0.05


def test_the_json_contract(met_search):
    result, written, _, _ = met_search
    out = json.loads(json.dumps(result.to_json(), default=str))
    assert isinstance(out["goal"], dict) and out["goal"]["smaller"] == 3 and out["goal"]["metric"] == "accuracy"
    assert out["met"] is True
    assert isinstance(out["best"]["path"], str) and out["best"]["path"].endswith("best.onnx")
    assert isinstance(out["best"]["recipe"], dict) and out["best"]["recipe"]["steps"] == [{op: o} for op, o in result.best.steps]
    assert isinstance(out["best"]["metrics"], dict)
    assert isinstance(out["candidates"], list) and out["candidates"]
    for c in out["candidates"]:
        assert isinstance(c["recipe"], dict) and isinstance(c["metrics"], dict) and c["status"] in ("met", "missed", "failed", "stopped")
        assert {"model", "data", "device", "steps"} <= set(c["recipe"])
    m = out["best"]["metrics"]
    assert all(isinstance(m[k], (int, float)) for k in ("size_bytes", "zip_bytes", "smaller", "speedup", "drop", "accuracy"))


def test_an_impossible_goal_says_so_and_keeps_the_closest():
    result = run_to_end(search(MODEL, DATA, Goal(smaller=1000, max_drop=1, budget_s=25)))
    assert not result.met and result.best.status == "missed"
    assert "smaller of the 1000× asked" in result.best.reason
    scored = [c for c in result.candidates if c.metrics]
    assert result.best is min(scored, key=lambda c: result.goal.key(c.metrics))
    assert result.best.version is not None  # it can be written
    assert "NOT met" in result.summary() and result.to_json()["met"] is False


def test_a_budget_of_seconds_ends_with_an_answer():
    start = time.monotonic()
    result = run_to_end(search(MODEL, DATA, Goal(smaller=1000, budget_s=3)))
    assert result.best is not None and result.best.metrics
    assert time.monotonic() - start < 3 + 20  # setup, then at most one candidate's evaluation past the budget
    assert result.stopped in ("budget", "searched")


def test_cancel_keeps_the_best_so_far():
    cancel = CancelToken()

    def after_one(c):
        if c.index >= 1:
            cancel.cancel()

    result = run_to_end(search(MODEL, DATA, Goal(smaller=1000, budget_s=60), cancel=cancel, on_candidate=after_one))
    assert result.stopped == "cancelled" and len(result.candidates) <= 3
    assert result.best.metrics


def test_a_failing_candidate_is_marked_and_the_search_goes_on(monkeypatch):
    real = steps_module.OPS["quantize"]

    def broken(model, options, ctx):
        if options["mode"] == "static":
            raise RuntimeError("the quantizer fell over")
        return (yield from real.run(model, options, ctx))

    monkeypatch.setitem(steps_module.OPS, "quantize", steps_module.Op("quantize", real.fields, broken, real.describe))
    result = run_to_end(search(MODEL, DATA, Goal(smaller=3, budget_s=60)))
    failed = [c for c in result.candidates if c.status == "failed"]
    assert failed and "RuntimeError: the quantizer fell over" in failed[0].reason
    assert result.met and result.best.name == "dynamic int8"


def test_the_search_runs_in_forked_children():
    result = run_to_end(search(MODEL, DATA, Goal(smaller=3, budget_s=60), runner=ForkPool(2)))
    assert result.met and result.best.version is not None and result.best.version.model.onnx is not None


def test_a_hugging_face_folder_is_searched_on_text_its_tokenizer_reads(tmp_path):
    pytest.importorskip("transformers")
    from hf_folders import sentences, tiny_bert

    folder = tiny_bert(tmp_path / "bert", head="sentence")
    (tmp_path / "lines.txt").write_text("\n".join(sentences(30)[0]) + "\n")
    result = run_to_end(search(str(folder), str(tmp_path / "lines.txt"), Goal(smaller=1000, budget_s=3)))
    assert result.data["tokenizer"] == str(folder) and result.best is not None  # its recipes name the tokenizer
    assert result.data_set.x["input_ids"].dtype.kind == "i"
