"""Small typed fields for recipe steps: defaults, ranges and choices, with one-line messages that name
the key and the problem."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from studio.core.errors import StudioError


@dataclass(frozen=True)
class Field:
    kind: type | tuple[type, ...]
    default: Any = None
    low: float | None = None
    high: float | None = None
    choices: tuple | None = None
    help: str = ""

    def check(self, where: str, value):
        if isinstance(value, bool) and self.kind is not bool:
            raise StudioError(f"{where}: expected {self.describe()}, got {value!r}")
        if self.kind is float and isinstance(value, int):
            value = float(value)
        if not isinstance(value, self.kind):
            raise StudioError(f"{where}: expected {self.describe()}, got {value!r}")
        if isinstance(value, float) and not math.isfinite(value):
            raise StudioError(f"{where}: expected {self.describe()}, got {value!r}")
        if self.choices is not None and value not in self.choices:
            raise StudioError(f"{where}: {value!r} is not one of {', '.join(map(str, self.choices))}")
        if self.low is not None and value < self.low or self.high is not None and value > self.high:
            raise StudioError(f"{where}: {value!r} is outside {self.low}–{self.high}")
        return value

    def describe(self) -> str:
        names = {float: "a number", int: "a whole number", str: "text", bool: "true or false", list: "a list", dict: "a mapping"}
        kinds = self.kind if isinstance(self.kind, tuple) else (self.kind,)
        text = " or ".join(names.get(k, k.__name__) for k in kinds)
        if self.low is not None and self.high is not None:
            text += f" from {self.low} to {self.high}"
        return text


def validate(where: str, given, fields: dict[str, Field]) -> dict:
    """Check a mapping against fields; fill defaults. Unknown keys and wrong types are errors."""
    if given is None:
        given = {}
    if not isinstance(given, dict):
        raise StudioError(f"{where}: expected a mapping of options, got {given!r}")
    unknown = sorted(set(given) - set(fields))
    if unknown:
        raise StudioError(f"{where}: unknown key {unknown[0]!r} (known: {', '.join(fields)})")
    out = {}
    for key, field in fields.items():
        out[key] = field.check(f"{where}.{key}", given[key]) if key in given and given[key] is not None else field.default
    return out
