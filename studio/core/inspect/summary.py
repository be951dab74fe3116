"""What `studio inspect` prints, as plain data: one dict, the same for text and --json."""

from __future__ import annotations

from studio.core.formats.model import OPERATIONS, Model
from studio.core.inspect.graph import Graph
from studio.core.inspect.layers import layers_of
from studio.core.inspect.model_graph import graph_of
from studio.core.inspect.stats import WeightStats, layer_stats, model_stats


def notes(model: Model, total: WeightStats, graph: Graph) -> list[str]:
    """What a user should know before compressing: the loader's notes, the graph's, broken weights."""
    extra = [graph.note] if graph.note else []
    if total.nonfinite:
        extra.append(f"{total.nonfinite:,} weights are NaN or infinite: no operation will run on them until the model is fixed")
    return list(dict.fromkeys(model.notes + extra))


def summarize(model: Model) -> dict:
    layers = layers_of(model)
    stats = [layer_stats(layer) for layer in layers]
    total = model_stats(layers)
    graph = graph_of(model)
    return {
        "source": model.source,
        "format": model.format.value,
        "format_label": model.format.label,
        "parameters": total.parameters,
        "nonzero_parameters": total.nonzero,
        "sparsity": total.sparsity,
        "size_bytes": model.size_bytes,
        "weight_bytes_by_dtype": total.bytes_by_dtype,
        "inputs": [s.to_json() for s in model.inputs],
        "outputs": [s.to_json() for s in model.outputs],
        "graph_nodes": graph.node_count(),
        "capabilities": {
            op: {"allowed": c.allowed, "reason": c.reason} for op, c in model.capabilities().items()
        },
        "notes": notes(model, total, graph),
        "layers": [
            {
                "name": layer.name,
                "type": layer.type,
                "shape": list(layer.shape),
                "parameters": s.parameters,
                "bytes": s.bytes,
                "sparsity": s.sparsity,
            }
            for layer, s in zip(layers, stats)
        ],
    }


def format_text(summary: dict) -> str:
    """A readable report of summarize()'s dict."""
    lines = [
        f"{summary['source']}",
        f"  format      {summary['format_label']}",
        f"  parameters  {summary['parameters']:,} ({summary['sparsity']:.1%} zeros)",
        f"  size        {human_bytes(summary['size_bytes'])} on disk",
    ]
    for kind in ("inputs", "outputs"):
        specs = summary[kind] or [{"name": "?", "shape": None, "dtype": ""}]
        text = ", ".join(f"{s['name']} {_shape(s['shape'])} {s['dtype']}".rstrip() for s in specs)
        lines.append(f"  {kind:<11} {text}")
    refused: dict[str, list[str]] = {}
    for op, cap in summary["capabilities"].items():
        if not cap["allowed"]:
            refused.setdefault(cap["reason"], []).append(OPERATIONS[op])
    lines += [f"  no {', '.join(ops)}: {reason}" for reason, ops in refused.items()]
    lines += [f"  note: {n}" for n in summary["notes"]]
    rows = summary["layers"]
    if rows:
        w = min(max(5, *(len(r["name"]) for r in rows)), 48)
        t = min(max(4, *(len(r["type"]) for r in rows)), 20)
        lines.append("")
        lines.append(f"  {'layer':<{w}}  {'type':<{t}}  {'shape':<18} {'parameters':>12}  sparsity")
        for r in rows:
            lines.append(
                f"  {_fit(r['name'], w):<{w}}  {r['type'][:t]:<{t}}  {_shape(r['shape']):<18} {r['parameters']:>12,}  {r['sparsity']:7.1%}"
            )
    return "\n".join(lines)


def _fit(name: str, width: int) -> str:
    """A layer name in `width` characters, cut in the middle: nested names share a beginning (an If's
    branch) and differ at the end, and both tell which layer it is."""
    if len(name) <= width:
        return name
    head = width // 3
    return f"{name[:head]}…{name[len(name) - (width - head - 1):]}"


def human_bytes(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1000 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n:.1f} GB"


def _shape(shape) -> str:
    return "?" if shape is None else "[" + ", ".join("?" if d is None else str(d) for d in shape) + "]"
