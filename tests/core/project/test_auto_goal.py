"""auto_goal: what a goal of `studio auto` accepts, how it judges and ranks candidates' measurements, and
how it says them."""

import pytest

from studio.core.errors import StudioError
from studio.core.project.auto_goal import Goal, candidate_line


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


def test_a_goal_says_itself_and_how_far_short_a_candidate_falls():
    goal = Goal(smaller=4, faster=2, max_drop=0.5, budget_s=60, size="file", batch=8)
    assert goal.describe() == "4× smaller (file), 2× faster (batch 8), at most 0.5 pt lost, within 60 s"
    assert Goal(smaller=4).describe() == "4× smaller (zipped), at most 1 pt lost, within 300 s"
    assert goal.gaps({"smaller": 2.0, "speedup": 2.5, "drop": 0.25}) == {"smaller": 0.5, "faster": 0.0, "drop": 0.0}
    unmeasured = goal.gaps({"smaller": 5.0, "speedup": None, "drop": None})
    assert unmeasured == {"smaller": 0.0, "faster": 1.0, "drop": 1.0}  # nothing measured: as far short as can be
    assert goal.held_back({"smaller": 5.0, "speedup": None, "drop": None}) == ("0.00× faster of the 2× asked; "
                                                                                "accuracy not measured")
    line = candidate_line(3, "static int8", {"smaller": 0.9, "speedup": 0.5, "accuracy": 0.97, "drop": 1.3}, "missed", "why")
    assert line == "  3. static int8: 0.9× smaller (LARGER), 0.50× faster (SLOWER), accuracy 97.00%, drop 1.3 pt — missed (why)"
