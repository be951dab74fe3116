"""A project report in Markdown: the versions table, and the charts the window renders as PNG files."""

from __future__ import annotations

from pathlib import Path

from studio.core.deliver.export import atomic_write
from studio.core.inspect.layers import layers_of
from studio.core.inspect.stats import layer_stats
from studio.core.inspect.summary import human_bytes
from studio.core.project.pareto import pareto_front
from studio.core.project.project_file import Project


def score(metrics: dict) -> tuple[str, float] | None:
    """The quality number a version is judged by: accuracy with labels, else agreement."""
    for key in ("accuracy", "agreement"):
        if isinstance(metrics.get(key), (int, float)):
            return key, float(metrics[key])
    return None


def versions_table(project: Project) -> list[list[str]]:
    points = {vid: (v.metrics["size_bytes"], score(v.metrics)[1]) for vid, v in project.history.versions.items()
              if "size_bytes" in v.metrics and score(v.metrics)}
    front = set(pareto_front(points))
    rows = [["version", "made by", "parameters (non-zero)", "size", "zipped", "accuracy / agreement", "Pareto"]]
    for vid, v in project.history.versions.items():
        m = v.metrics
        s = score(m)
        rows.append([
            v.label, v.result.label,
            f"{m['parameters']:,} ({m['nonzero_parameters']:,})" if "nonzero_parameters" in m else "–",
            human_bytes(m["size_bytes"]) if "size_bytes" in m else "–",
            human_bytes(m["zip_bytes"]) if "zip_bytes" in m else "–",
            f"{s[1]:.2%} {s[0]}" if s else "–",
            "★" if vid in front else "",
        ])
    return rows


def write_report(project: Project, folder: Path, charts: dict[str, str]) -> Path:
    """Write folder/report.md; `charts` maps a caption to a PNG file name already written in `folder`."""
    lines = ["# Compression Studio report", ""]
    if project.data:
        lines += [f"Data: `{project.data}` · device: {project.device}", ""]
    lines += ["## Versions", "", *_markdown_table(versions_table(project)), ""]
    current = project.history.versions.get(project.current) if project.current is not None else None
    if current is not None:
        lines += [f"## Layers of {current.label}", ""]
        rows = [["layer", "type", "parameters", "sparsity"]]
        for layer in layers_of(current.model):
            s = layer_stats(layer)
            rows.append([layer.name, layer.type, f"{s.parameters:,}", f"{s.sparsity:.1%}"])
        lines += [*_markdown_table(rows), ""]
    for caption, name in charts.items():
        lines += [f"## {caption}", "", f"![{caption}]({name})", ""]
    path = Path(folder) / "report.md"
    atomic_write(path, "\n".join(lines).encode())
    return path


def _markdown_table(rows: list[list[str]]) -> list[str]:
    head, *body = rows
    out = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    return out + ["| " + " | ".join(c.replace("|", "\\|") for c in row) + " |" for row in body]
