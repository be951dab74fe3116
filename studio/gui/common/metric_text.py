"""Versions' metrics in words and units, the same wherever they are shown."""

from __future__ import annotations

import re

# Core is imported inside the functions: its modules import torch, which must load only after the
# window shows (tests/gui/test_window_state.py).

UNKNOWN = re.compile(r"unk__\d+")  # onnx shape inference's name for a size it cannot know


def human_bytes(n: float) -> str:
    from studio.core.inspect.summary import human_bytes

    return human_bytes(n)


def score(metrics: dict) -> tuple[str, float] | None:
    """The quality number of a version: accuracy with labels, else agreement with its parent."""
    for key in ("accuracy", "agreement"):
        if key in metrics:
            return key, float(metrics[key])
    return None


def version_size(metrics: dict) -> str:
    """A version's size in a few words: its weights as stored, and zipped."""
    if "size_bytes" not in metrics:
        return "size not measured yet"
    zipped = f", {human_bytes(metrics['zip_bytes'])} zipped" if "zip_bytes" in metrics else ""
    return f"{human_bytes(metrics['size_bytes'])} as stored{zipped}"


def short_name(version) -> str:
    """v3, as the charts call a version, unless the user renamed it."""
    vid = f"v{version.id}"
    return vid if version.label == vid or version.label.startswith(vid + " ") else version.label


def summary(metrics: dict, parent: str | None = None) -> str:
    """Several lines: size, zipped size, zeros, accuracy / fidelity (with `parent`, named), speed, runtime."""
    from studio.core.deliver.verdict import version_lines

    if not metrics:
        return "Not measured yet."
    return "\n".join(version_lines(metrics, f"{parent} (its parent)") if parent else version_lines(metrics))


def quality(metrics: dict, parent: str | None = None) -> str:
    """A version's quality in a few characters: "97.0 %" accurate, or agreeing with its parent; with
    `parent` named, an agreement says with whom: "82.5 % like v1"."""
    measured = score(metrics)
    if measured is None:
        return "—"
    text = f"{100 * measured[1]:.1f} %"
    return text if measured[0] == "accuracy" or parent is None else f"{text} like {parent}"


def differences(new: dict, old: dict, agrees_with: str | None = None) -> str:
    """One line: how `new` differs from `old` in size, zipped size, zeros and accuracy, and, when `old`
    is the version `new` was made from (named by agrees_with), how often they agree."""
    parts = []
    for key, label in (("size_bytes", "size"), ("zip_bytes", "zipped")):
        if key in new and key in old and old[key]:
            parts.append(f"{label} {human_bytes(new[key])} ({new[key] / old[key] - 1:+.0%})")
    if "sparsity" in new and "sparsity" in old:
        parts.append(f"zeros {100 * (new['sparsity'] - old['sparsity']):+.1f} points")
    if "accuracy" in new and "accuracy" in old:
        parts.append(f"accuracy {100 * (new['accuracy'] - old['accuracy']):+.2f} points")
    if agrees_with and "agreement" in new:
        parts.append(f"agrees with {agrees_with} on {new['agreement']:.1%}")
    return " · ".join(parts) or "No measurements to compare yet."


def dims(shape) -> list[str]:
    """Each axis in a few characters: its size; a dynamic first axis N (the batch); another dynamic
    axis its name when short, else ? (converters write names like p2o.DynamicDimension.1; shape inference
    names the sizes it cannot know unk__0, unk__1)."""

    def axis(i: int, d) -> str:
        if isinstance(d, int) and d > 0:
            return str(d)
        return "N" if i == 0 else d if isinstance(d, str) and len(d) <= 8 and not UNKNOWN.fullmatch(d) else "?"

    return [axis(i, d) for i, d in enumerate(shape)]


def hidden_axes(shape) -> list[str]:
    """The axes dims() shows as ? that have a name or formula, spelled out: "axis 2 = floor(height/2) + 1"."""
    if shape is None:
        return []
    return [f"axis {i} = {d}" for i, (d, shown) in enumerate(zip(shape, dims(shape))) if shown == "?" and d not in (None, "", -1)
            and not (isinstance(d, int) and d <= 0) and not (isinstance(d, str) and UNKNOWN.fullmatch(d))]


def shape_text(shape) -> str:
    """[N, 10]: a tensor's shape in the window (see dims)."""
    return "[?]" if shape is None else "[" + ", ".join(dims(shape)) + "]"
