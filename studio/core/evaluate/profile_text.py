"""A profile as plain text for the terminal (`studio profile`): totals, the slowest nodes, time by
operator and why it is not faster."""

from __future__ import annotations

TOP = 15  # nodes in the table
WIDE = 40  # names longer than this are cut in the table (--json has them whole)


def format_text(profile, explanations: list[str], top: int = TOP) -> str:
    p = profile
    total = p.nodes_ms
    overhead = f"profiled {_ms(p.profiled_ms)} ms per run: the profiler's own overhead is {p.overhead:+.0%}, most of it on short nodes"
    lines = [f"{p.source} in ONNX Runtime ({p.provider}): batch {p.batch} on {p.inputs}, {p.threads} threads",
             f"latency {_ms(p.latency_ms)} ms (median of {p.runs} runs without the profiler)", overhead]
    if p.run_ms > 0:
        taken = (f"; other processes took {_ms(p.interrupted_ms)} ms ({p.interrupted_ms / p.run_ms:.0%}) from its nodes, "
                 "left out of their times" if p.interrupted_ms >= 0.01 * p.run_ms else "")
        lines.append(f"{len(p.nodes)} nodes ran {_ms(total)} ms of ONNX Runtime's {_ms(p.run_ms)} ms per profiled run "
                     f"({total / p.run_ms:.0%}){taken}; the rest is spent between nodes")
    if p.node_overhead_ms is not None:
        lines.append(f"each node's time includes about {p.node_overhead_ms * 1000:.1f} µs of the profiler's own (its time on "
                     f"nodes that only reshape), {_ms(p.profiler_ms)} ms over the {p.node_runs:.0f} nodes a run; without it the "
                     f"nodes take {_ms(p.own_ms)} ms, ONNX Runtime's own work per run {_ms(p.run_overhead_ms)} ms (timed on a "
                     f"graph that passes the inputs through) and between nodes {_ms(p.between_ms)} ms ({p.node_plain_ms * 1000:.2f} µs "
                     f"a node, timed on a chain of trivial ones): {p.accounted_ms / p.latency_ms:.0%} of the latency")
    lines += [*p.notes, ""]
    rows = [(_cut(n.name), n.op + (" (added)" if n.added else ""), _ms(n.ms), f"{n.share:.1%}", _short(n.provider),
             _fused(n.fused[1:])) for n in p.nodes[:top]]
    lines += _table(("node", "op", "ms", "share", "provider", "fused with"), rows)
    rest = p.nodes[top:]
    if rest:
        ms = sum(n.ms for n in rest)
        lines.append(f"… {len(rest)} more nodes: {_ms(ms)} ms ({ms / total if total else 0:.1%})")
    lines += ["", "time by operator"]
    lines += _table(("op", "ms", "share"), [(op, _ms(ms), f"{ms / total if total else 0:.1%}") for op, ms in p.by_op.items()])
    lines += ["", "why it is not faster"]
    nothing = ("- nothing in these measurements: no int8 conversions, float layers in a quantized model, sparse layers "
               "run dense or nodes on a fallback provider")
    lines += [f"- {s}" for s in explanations] or [nothing]
    return "\n".join(lines)


def _table(header: tuple, rows: list[tuple]) -> list[str]:
    widths = [max(len(str(r[i])) for r in (header, *rows)) for i in range(len(header))]
    right = {"ms", "share"}
    return ["  ".join(str(c).rjust(w) if h in right else str(c).ljust(w) for c, w, h in zip(r, widths, header)).rstrip()
            for r in (header, *rows)]


def _ms(ms: float) -> str:
    return f"{ms:.3f}" if ms >= 0.1 else f"{ms:.4f}"


def _cut(name: str) -> str:
    return name if len(name) <= WIDE else "…" + name[-(WIDE - 1):]


def _short(provider: str) -> str:
    return provider.removesuffix("ExecutionProvider")


def _fused(names: list[str]) -> str:
    if not names:
        return ""
    shown = _cut(names[0])
    return shown + (f" +{len(names) - 1}" if len(names) > 1 else "")
