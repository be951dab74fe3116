"""Typed fields of recipe steps: defaults, ranges and choices, each error naming the key."""

import pytest

from studio.core.errors import StudioError
from studio.core.project.schema import Field, validate

FIELDS = {
    "sparsity": Field(float, None, 0.0, 1.0),
    "epochs": Field(int, 3, 1, 100),
    "mode": Field(str, "dynamic", choices=("dynamic", "static")),
    "per_channel": Field(bool, True),
    "exclude": Field(list, []),
    "student": Field((dict, str), {"width": 0.5}),
}


def test_defaults_fill_what_is_not_given_or_given_as_none():
    assert validate("quantize", None, FIELDS) == {"sparsity": None, "epochs": 3, "mode": "dynamic", "per_channel": True,
                                                  "exclude": [], "student": {"width": 0.5}}
    assert validate("quantize", {"epochs": None, "mode": "static"}, FIELDS)["epochs"] == 3


def test_a_whole_number_is_a_number_but_not_the_other_way_round():
    checked = validate("step", {"sparsity": 1, "epochs": 7}, FIELDS)
    assert checked["sparsity"] == 1.0 and isinstance(checked["sparsity"], float) and checked["epochs"] == 7
    with pytest.raises(StudioError, match=r"step.epochs: expected a whole number from 1 to 100, got 2.5"):
        validate("step", {"epochs": 2.5}, FIELDS)


@pytest.mark.parametrize("given, message", [
    ({"per_channel": "yes"}, r"^step.per_channel: expected true or false, got 'yes'$"),
    ({"epochs": True}, r"^step.epochs: expected a whole number from 1 to 100, got True$"),  # bool is no number here
    ({"sparsity": float("nan")}, r"^step.sparsity: expected a number from 0.0 to 1.0, got nan$"),
    ({"sparsity": float("inf")}, r"expected a number"),
    ({"sparsity": 1.5}, r"^step.sparsity: 1.5 is outside 0.0–1.0$"),
    ({"epochs": 0}, r"^step.epochs: 0 is outside 1–100$"),
    ({"mode": "int3"}, r"^step.mode: 'int3' is not one of dynamic, static$"),
    ({"exclude": "fc1"}, r"^step.exclude: expected a list, got 'fc1'$"),
    ({"student": 3}, r"^step.student: expected a mapping or text, got 3$"),
    ({"sparsty": 0.5}, r"^step: unknown key 'sparsty' \(known: sparsity, epochs, mode, per_channel, exclude, student\)$"),
    ([0.5], r"^step: expected a mapping of options, got \[0.5\]$"),
])
def test_each_problem_is_one_line_naming_the_key(given, message):
    with pytest.raises(StudioError, match=message):
        validate("step", given, FIELDS)


def test_a_field_accepts_any_of_its_kinds_and_a_bool_where_it_is_asked_for():
    assert validate("step", {"student": "big.pt", "per_channel": False}, FIELDS)["student"] == "big.pt"
    assert Field(bool, True).check("k", False) is False


def test_descriptions_name_the_kinds_and_the_range():
    assert Field(float, None, 0.0, 1.0).describe() == "a number from 0.0 to 1.0"
    assert Field(int, 0, 0).describe() == "a whole number"  # no upper bound: no range shown
    assert Field((dict, str)).describe() == "a mapping or text"
    assert Field(tuple).describe() == "tuple"
