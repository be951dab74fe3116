"""What a search found, in words and JSON, without running one (test_auto runs real searches)."""

from studio.core.project.auto_goal import Goal
from studio.core.project.auto_result import AutoResult, Candidate


def result(best_status: str, stopped: str) -> AutoResult:
    original = Candidate(0, "original", [], {"accuracy": 0.98}, "missed", "not smaller")
    pruned = Candidate(1, "sparsity 80% + static int8", [("prune", {"sparsity": 0.8}), ("quantize", {"mode": "static"})],
                       {"accuracy": 0.975, "smaller": 6.2}, best_status, "" if best_status == "met" else "6.2× of 8× smaller",
                       seconds=3.14159)
    return AutoResult(Goal(smaller=8 if best_status != "met" else 6, max_drop=1, budget_s=60), "accuracy", "sample:lenet-5",
                      "sample:mnist5k", "cpu", {"accuracy": 0.98}, [original, pruned], pruned, stopped, 12.3, ["a note"])


def test_a_met_goal_is_said_with_its_best_and_the_recipe_replays_its_steps():
    r = result("met", "met")
    assert r.met and r.summary() == "goal met: sparsity 80% + static int8; 1 candidates in 12 s"
    assert r.recipe(r.best).steps == [("prune", {"sparsity": 0.8}), ("quantize", {"mode": "static"})]


def test_a_missed_goal_names_the_closest_what_held_it_back_and_why_the_search_stopped():
    r = result("missed", "budget")
    assert not r.met
    assert r.summary() == ("goal NOT met: the closest is sparsity 80% + static int8 (6.2× of 8× smaller); "
                           "1 candidates in 12 s; the time budget ran out")
    out = r.to_json()
    assert out["met"] is False and out["best"]["held_back"] == "6.2× of 8× smaller" and out["best"]["path"] is None
    assert [c["status"] for c in out["candidates"]] == ["missed", "missed"] and out["candidates"][1]["seconds"] == 3.14
    assert out["stopped"] == "budget" and out["notes"] == ["a note"]
