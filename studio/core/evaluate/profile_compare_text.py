"""A comparison of two profiles (profile_compare.Comparison) in words: the sentence the window shows, and
the tables `studio profile --compare` prints."""

from __future__ import annotations

AS_FAST = 1.05  # within this factor a version runs about as fast as the other
NAMED = 3  # slower layers named in the sentence
OPS_NAMED = 4


def summary(c) -> str:
    """'v3 int8 static runs 1.8× faster than v1 original (4.1 → 2.3 ms); conv2 gained most (−0.9 ms);
    2 layers got slower: fc1 (+0.2 ms), fc2 (+0.01 ms). Only in v3 int8 static: …'"""
    s = c.speedup
    times = f"({_ms(c.before_ms)} → {_ms(c.after_ms)} ms)"
    if 1 / AS_FAST <= s <= AS_FAST:
        parts = [f"{c.after} runs about as fast as {c.before} {times}"]
    else:
        parts = [f"{c.after} runs {speed(s)} {c.before} {times}"]
    faster, slower = c.faster(), c.slower()
    if faster:
        parts.append(f"{faster[0].name} gained most ({signed(faster[0].change_ms)} ms)")
    if slower:
        shown = ", ".join(f"{r.name} ({signed(r.change_ms)} ms)" for r in slower[:NAMED])
        more = f" and {len(slower) - NAMED} more" if len(slower) > NAMED else ""
        parts.append(f"{_n(len(slower), 'layer')} got slower: {shown}{more}")
    elif faster:
        parts.append("no layer got slower")
    else:
        parts.append("no layer changed by more than profiling varies")
    text = "; ".join(parts) + "."
    for label, rows, side in ((c.after, c.only_after, "after"), (c.before, c.only_before, "before")):
        if rows:
            ops = list(dict.fromkeys(op for r in rows for op in getattr(r, f"{side}_ops")))
            shown = ", ".join(ops[:OPS_NAMED]) + (", …" if len(ops) > OPS_NAMED else "")
            ms = sum(getattr(r, f"{side}_ms") for r in rows)
            text += f" Only in {label}: {_n(len(rows), 'node')} ({shown}), {_ms(ms)} ms."
    return text


def format_compare(c) -> str:
    """The sentence, the layers by change, the nodes of one version only and the time by operator."""
    lines = [summary(c), "", f"layers, ms per profiled run less the profiler's cost per node: {c.before} → {c.after}"]
    rows = [(r.name, _ms(r.before_ms), _ms(r.after_ms), signed(r.change_ms), ratio(r.speedup) if c.verdict(r) else "same")
            for r in c.layers]
    lines += _table(("layer", "before", "after", "change", "×"), rows)
    for label, only, side in ((c.before, c.only_before, "before"), (c.after, c.only_after, "after")):
        if only:
            lines += ["", f"only in {label}"]
            lines += _table(("node", "op", "ms"), [(r.name, ", ".join(getattr(r, f"{side}_ops")), _ms(getattr(r, f"{side}_ms")))
                                                   for r in only])
    lines += ["", "time by operator"]
    lines += _table(("op", "before", "after"), [(op, _ms(b), _ms(a)) for op, (b, a) in c.by_op.items()])
    return "\n".join(lines)


def speed(s: float) -> str:
    """'1.8× faster than', '2.3× slower than'."""
    if s >= 1:
        return f"{_x(s)} faster than"
    return f"{_x(1 / s) if s > 0 else '∞×'} slower than"


def ratio(s: float | None) -> str:
    """A layer's speed-up for a table cell: '1.8× faster', '2.3× slower', 'same' within 5 %."""
    if s is None:
        return ""
    if 1 / AS_FAST <= s <= AS_FAST:
        return "same"
    return f"{_x(s)} faster" if s > 1 else f"{_x(1 / s) if s > 0 else '∞×'} slower"


def signed(ms: float) -> str:
    """A change in ms with its sign, a true minus: '−0.9', '+0.012', '0'."""
    text = _ms(abs(ms))
    return "0" if ms == 0 else ("−" if ms < 0 else "+") + text


def _x(s: float) -> str:
    if s == float("inf"):
        return "∞×"
    return f"{s:.1f}×" if s < 10 else f"{s:.0f}×"


def _ms(ms: float | None) -> str:
    if ms is None:
        return ""
    return f"{ms:.2g}" if ms < 0.01 else f"{ms:.3g}"


def _n(count: int, noun: str) -> str:
    return f"{count} {noun}{'' if count == 1 else 's'}"


def _table(header: tuple, rows: list[tuple]) -> list[str]:
    widths = [max(len(str(r[i])) for r in (header, *rows)) for i in range(len(header))]
    left = {"layer", "node", "op", "×"}
    return ["  ".join(str(v).ljust(w) if h in left else str(v).rjust(w) for v, w, h in zip(r, widths, header)).rstrip()
            for r in (header, *rows)]
