"""The automatic search (`studio auto`): its goal, its sizing, the search on a small sample, its budget,
cancel, a failing candidate, the runners, and the files it writes."""

import json
import time

import pytest
import yaml

from studio.core.errors import StudioError
from studio.core.process.jobs import CancelToken, Progress, run_to_end
from studio.core.project import steps as steps_module
from studio.core.project.auto import search
from studio.core.project.auto_goal import Goal
from studio.core.project.auto_propose import Family, best_tail, name_of, quantize
from studio.core.project.auto_result import write_best
from studio.core.project.auto_runner import Built, Finished, ForkPool, InProcess, Task
from studio.core.project.recipe import load_recipe, run_recipe

MODEL, DATA = "sample:digits-cnn", "sample:digits"


# ---- the goal ----


@pytest.mark.parametrize("kwargs, message", [
    ({"smaller": 0}, "--smaller: expected a factor of at least 1"),
    ({"faster": 0.5}, "--faster: expected a factor of at least 1"),
    ({}, "say what to aim for"),
    ({"smaller": 4, "max_drop": -1}, "--max-drop"),
    ({"smaller": 4, "budget_s": 0}, "--budget"),
    ({"smaller": 4, "size": "disk"}, "--size"),
])
def test_a_goal_refuses_what_means_nothing(kwargs, message):
    with pytest.raises(StudioError, match=message):
        Goal(**kwargs)


def test_a_goal_judges_and_ranks_candidates():
    goal = Goal(smaller=4, faster=2, max_drop=1)
    met = {"smaller": 4.2, "speedup": 2.5, "drop": 0.5}
    assert goal.met(met) and goal.held_back(met) == ""
    assert goal.met({**met, "drop": 1.0000000001})  # 96.8 % after 97.8 % is 1 pt, whatever the rounding
    short = {"smaller": 3.0, "speedup": 2.5, "drop": 1.4}
    assert not goal.met(short)
    assert goal.held_back(short) == "3.0× smaller of the 4× asked; 1.4 pt lost of the 1 pt allowed"
    closer = {"smaller": 3.9, "speedup": 2.5, "drop": 0.2}
    ranked = sorted([short, met, closer, {**met, "drop": 0.1}], key=goal.key)
    assert ranked == [{**met, "drop": 0.1}, met, closer, short]  # met ones by least lost, then how close the rest came


def test_sizing_bisects_the_ladder_and_takes_the_smallest_amount_that_reaches():
    goal = Goal(smaller=10)
    f = Family("channels", [])
    sizes = {0.25: 2, 0.4: 3, 0.5: 5, 0.6: 8, 0.7: 11, 0.8: 20, 0.9: 40}
    probed = []
    while (amount := f.next_probe()) is not None:
        probed.append(amount)
        f.record(goal, amount, {"smaller": sizes[amount], "drop": 50})
    assert f.amount == 0.7 and f.reachable and len(probed) <= 3


def test_sizing_that_never_reaches_keeps_the_closest_probe():
    goal = Goal(smaller=100)
    f = Family("channels", [])
    sizes = {0.6: 8, 0.8: 24, 0.9: 7}  # rounding to 8 channels makes the top of the ladder larger
    while (amount := f.next_probe()) is not None:
        f.record(goal, amount, {"smaller": sizes.get(amount, 1), "drop": 50})
    assert not f.reachable and f.amount == 0.8


def test_the_tail_after_pruning_is_the_cheap_quantization_that_went_furthest():
    goal = Goal(smaller=8, max_drop=1)
    tried = [([quantize("static", 0.01)], {"smaller": 4.0, "drop": 0.2}),
             ([quantize("dynamic", 0.01)], {"smaller": 4.1, "drop": 0.1}),
             ([quantize("fp16")], {"smaller": 2.0, "drop": 0.0})]
    assert best_tail(goal, tried)[0][1]["mode"] == "dynamic"
    assert best_tail(goal, [(s, {**m, "drop": 3.0}) for s, m in tried]) == []  # int8 costs too much: prune alone


def test_candidates_are_named_in_a_few_words():
    steps = [("prune", {"method": "channels", "ratio": 0.5}), ("finetune", {"epochs": 1}), ("finetune", {"epochs": 2}),
             ("quantize", {"mode": "static"})]
    assert name_of(steps) == "channels −50% + fine-tune 3 ep + static int8"
    assert name_of([("prune", {"sparsity": 0.975, "layers": {"fc1": 0.99}})]) == "sparsity 97.5% by layer sensitivity"
    assert name_of([]) == "original (fp32 ONNX export)"


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


# ---- runners ----


def _toy_build(task, *, cancel):
    yield Progress(0, 1, f"building {task.name}")
    if task.name == "broken":
        raise StudioError("no good")
    cancel.check()
    return Built(None, None, None, {"value": task.body[0][1]["n"]})


@pytest.mark.parametrize("runner", [InProcess(), ForkPool(2)], ids=["in-process", "fork-pool"])
def test_runners_run_every_task_and_survive_a_failure(runner):
    tasks = [Task(None, name, None, [("x", {"n": i})], []) for i, name in enumerate(["a", "broken", "c"])]
    events = list(runner.run(tasks, _toy_build, CancelToken(), lambda t: True))
    done = {e.task.name: e for e in events if isinstance(e, Finished)}
    assert set(done) == {"a", "broken", "c"}
    assert done["a"].built.metrics == {"value": 0} and done["c"].built.metrics == {"value": 2}
    assert done["broken"].status == "failed" and done["broken"].reason == "no good"
    assert any(isinstance(e, Progress) for e in events)


def test_a_runner_starts_nothing_once_out_of_time():
    tasks = [Task(None, name, None, [("x", {"n": 0})], []) for name in "abc"]
    events = list(InProcess().run(tasks, _toy_build, CancelToken(), lambda t: t.name == "a"))
    assert [e.task.name for e in events if isinstance(e, Finished)] == ["a"]


def test_the_search_runs_in_forked_children():
    result = run_to_end(search(MODEL, DATA, Goal(smaller=3, budget_s=60), runner=ForkPool(2)))
    assert result.met and result.best.version is not None and result.best.version.model.onnx is not None
