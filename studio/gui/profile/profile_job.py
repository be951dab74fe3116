"""The Profile job (run by the session in a child process) and what it sends back: ONNX Runtime's
profile of a version, its times put on the boxes of the window's graph and on its layers, the
reasons it is not faster, and what comparing it with another version needs (profile_compare's
Timings). The ONNX model that ran stays in the child."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from studio.core.evaluate.profile import Profile
    from studio.core.evaluate.profile_compare import Timings
    from studio.core.inspect.graph import Graph
    from studio.core.process.jobs import Job

QUANT_SUFFIX = re.compile(r"(_MatMul)?_quant$")  # ONNX Runtime's quantizer renames conv1 to conv1_quant


@dataclass
class TimeProfile:
    latency_ms: float  # without the profiler
    total_ms: float  # the nodes' time in a profiled run
    by_op: dict[str, float]  # ms per operator ONNX Runtime ran, slowest first
    nodes: list[tuple[str, str, float, float, str]]  # name, op, ms, share, provider; slowest first
    node_ms: dict[str, float]  # ms by the name of the graph box it is shown on
    layer_ms: dict[str, float]  # ms by layer (the Layers table's rows)
    unplaced_ms: float  # time of nodes no box of the graph stands for (conversions a quantizer or exporter added)
    why: list[str]  # explain()'s sentences
    setting: str  # batch, threads, provider in words
    notes: list[str] = field(default_factory=list)
    version: str = ""  # the label of the version it measured (set by the window)
    timings: Timings | None = None  # its nodes as comparing two versions matches them
    profiler_ms: float = 0.0  # the profiler's own time inside the nodes' time (Profile.profiler_ms)

    def share(self, ms: float) -> float:
        return ms / self.total_ms if self.total_ms > 0 else 0.0

    def to_json(self) -> dict:
        """Plain values, as a project keeps them (the version's label is the project's to keep)."""
        doc = {k: v for k, v in vars(self).items() if k not in ("version", "timings")}
        doc["timings"] = None if self.timings is None else self.timings.to_json()
        return doc

    @classmethod
    def from_json(cls, doc: dict) -> TimeProfile:
        from studio.core.evaluate.profile_compare import Timings

        fields = {k: v for k, v in doc.items() if k in cls.__dataclass_fields__ and k not in ("version", "timings")}
        fields["nodes"] = [tuple(n) for n in fields.get("nodes", [])]
        timings = doc.get("timings")
        return cls(**fields, timings=None if timings is None else Timings.from_json(timings))


def profile_job(model, graph: Graph | None, spec, device: str, cancel) -> Job:
    from studio.core.project.workspace import with_data

    return (yield from with_data(_profile, spec, model, graph, device, cancel=cancel))


def _profile(data, model, graph, device: str, cancel) -> Job:
    from studio.core.evaluate.profile import explain, profile
    from studio.core.process.jobs import Progress

    yield Progress(0, 1, f"profiling {model.name} in ONNX Runtime")
    if graph is None:  # a version the window does not show (profiled to compare): the graph its boxes would have
        from studio.core.formats.onnx_to_torch import back_to_onnx
        from studio.core.inspect.model_graph import graph_of

        graph = graph_of(back_to_onnx(model) if model.origin is not None else model)
    result = profile(model, data, device=device)
    why = explain(result, model)
    yield Progress(1, 1, "profiled")
    return summarise(result, why, graph)


def summarise(result: Profile, why: list[str], graph: Graph | None) -> TimeProfile:
    """Each node's time on the box of the graph that shows it: by name (a quantized layer's node by its
    float name); a PyTorch version's export, named by the exporter, by the layer whose weights it reads."""
    from studio.core.evaluate.profile_compare import timings

    boxes = {n.name: n for g in _graphs(graph) for n in g.nodes}
    by_layer = {}
    for n in boxes.values():
        if n.layer is not None:
            by_layer.setdefault(n.layer, n.name)
    owners = _weight_owners(result.model, set(by_layer)) if result.model is not None else {}
    node_ms: dict[str, float] = {}
    unplaced = 0.0
    for n in result.nodes:
        box = _box(n, boxes, by_layer, owners)
        if box is None:
            unplaced += n.ms
        else:
            node_ms[box] = node_ms.get(box, 0.0) + n.ms
    layer_ms: dict[str, float] = {}
    for name, ms in node_ms.items():
        layer = boxes[name].layer
        if layer is not None:
            layer_ms[layer] = layer_ms.get(layer, 0.0) + ms
    threads = f"{result.threads} thread" + "s" * (result.threads != 1)
    setting = f"batch {result.batch}, {threads}, {result.provider.removesuffix('ExecutionProvider')}"
    return TimeProfile(result.latency_ms, result.nodes_ms, dict(result.by_op),
                       [(n.name, n.op, n.ms, n.share, n.provider) for n in result.nodes], node_ms, layer_ms, unplaced,
                       list(why), setting, list(result.notes), timings=timings(result), profiler_ms=result.profiler_ms)


def _box(node, boxes: dict, by_layer: dict, owners: dict) -> str | None:
    for name in [node.name, *node.fused]:
        for candidate in (name, QUANT_SUFFIX.sub("", name)):
            if candidate in boxes:
                return candidate
            if candidate in owners:
                return by_layer[owners[candidate]]
    return None


def _weight_owners(model, layers: set[str]) -> dict[str, str]:
    """Node name → layer, for nodes that read a weight named after a layer (`conv1.weight`)."""
    graph = model.onnx.graph
    stored = {t.name for t in graph.initializer}
    owners = {}
    for node in graph.node:
        for name in node.input:
            prefix = name.rsplit(".", 1)[0]
            if name in stored and prefix in layers:
                owners[node.name] = prefix
                break
    return owners


def _graphs(graph: Graph | None):
    if graph is None:
        return
    yield graph
    for node in graph.nodes:
        for body in node.subgraphs.values():
            yield from _graphs(body)
