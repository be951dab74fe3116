"""Two profiles of a model side by side: which layers got faster or slower, and by how much (issue 16).

Nodes are matched by the layer they are reported under (profile_nodes), as the versions name it before
quantization (`conv1_quant` is `conv1`). A node one version fused into a layer and the other ran apart
(a Relu ORT folded into its Conv in one, a Relu after a ConvInteger in the other) counts with that
layer in both. A conversion a quantizer added (DynamicQuantizeLinear, the Mul, Cast and Add that rescale
an integer result) counts with the layer it serves, found from its name (`conv1_quant_scales_mul`) or
the graph around it, so a layer's time is what it costs in each version. Layers whose graph names differ
(another exporter) are matched by the weights they read (`conv1.weight`, `conv1.weight_quantized`).
What still stands on one side only is reported apart. Times are the nodes' own: the profiler's cost per
node is taken off each, so a version of more, smaller nodes is not charged for being profiled more often.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from studio.core.evaluate.profile import Profile
from studio.core.evaluate.profile_compare_text import summary
from studio.core.evaluate.profile_match import PLUMBING, Timings, timings

__all__ = ["Comparison", "LayerChange", "Timings", "compare", "timings"]

# A layer whose time moved less than this fraction of it is unchanged (profiles of one model on a busy
# machine vary this much), or less than this share of the nodes' time, or less than the profiler's own cost per node.
SAME = 0.2
FLOOR = 0.02


@dataclass
class LayerChange:
    name: str  # the layer: named after its weights (conv1) when it has some, else its graph node
    before_ms: float | None  # None: not in that version
    after_ms: float | None
    before_nodes: list[str] = field(default_factory=list)  # its nodes, as each version's graph names them
    after_nodes: list[str] = field(default_factory=list)
    before_ops: list[str] = field(default_factory=list)  # what ONNX Runtime ran for it
    after_ops: list[str] = field(default_factory=list)

    @property
    def change_ms(self) -> float:
        return (self.after_ms or 0.0) - (self.before_ms or 0.0)

    @property
    def speedup(self) -> float | None:
        """Before over after: 2.0 is twice as fast; None when it is in one version only."""
        if self.before_ms is None or self.after_ms is None:
            return None
        if self.after_ms <= 0:  # nothing left once the profiler's cost is taken off
            return 1.0 if self.before_ms <= 0 else float("inf")
        return self.before_ms / self.after_ms

    def to_json(self) -> dict:
        return {"name": self.name, "before_ms": self.before_ms, "after_ms": self.after_ms, "change_ms": self.change_ms,
                "speedup": self.speedup, "before_nodes": self.before_nodes, "after_nodes": self.after_nodes,
                "before_ops": self.before_ops, "after_ops": self.after_ops}


@dataclass
class Comparison:
    before: str  # the versions' labels
    after: str
    before_ms: float  # latency without the profiler
    after_ms: float
    before_nodes_ms: float  # the nodes' own time in a profiled run (the profiler's cost per node taken off)
    after_nodes_ms: float
    layers: list[LayerChange]  # in both versions, most gained first
    only_before: list[LayerChange]  # slowest first
    only_after: list[LayerChange]
    by_op: dict[str, tuple[float, float]]  # own ms per operator ONNX Runtime ran, before and after
    overhead_ms: float = 0.0  # the larger of the two profiles' own cost per node

    @property
    def speedup(self) -> float:
        return self.before_ms / self.after_ms if self.after_ms > 0 else float("inf")

    def verdict(self, layer: LayerChange) -> int:
        """-1 faster, +1 slower, 0 within what profiling the same model twice varies by."""
        if layer.before_ms is None or layer.after_ms is None:
            return 0
        noise = max(SAME * max(layer.before_ms, layer.after_ms), FLOOR * max(self.before_nodes_ms, self.after_nodes_ms),
                    self.overhead_ms)
        return 0 if abs(layer.change_ms) < noise else (1 if layer.change_ms > 0 else -1)

    def faster(self) -> list[LayerChange]:
        return [c for c in self.layers if self.verdict(c) < 0]

    def slower(self) -> list[LayerChange]:
        return sorted((c for c in self.layers if self.verdict(c) > 0), key=lambda c: -c.change_ms)

    def summary(self) -> str:
        return summary(self)

    def to_json(self) -> dict:
        return {"before": self.before, "after": self.after, "before_ms": self.before_ms, "after_ms": self.after_ms,
                "speedup": self.speedup, "before_nodes_ms": self.before_nodes_ms, "after_nodes_ms": self.after_nodes_ms,
                "layers": [c.to_json() for c in self.layers], "only_before": [c.to_json() for c in self.only_before],
                "only_after": [c.to_json() for c in self.only_after],
                "by_op": {op: list(ms) for op, ms in self.by_op.items()}, "summary": self.summary()}


def compare(before: Profile | Timings, after: Profile | Timings, before_label: str = "", after_label: str = "") -> Comparison:
    """Layer by layer, `after` against `before` (labels: the versions' names; without, their own)."""
    a, b = (_own(replace(t, label=label or t.label) if isinstance(t, Timings) else timings(t, label))
            for t, label in ((before, before_label), (after, after_label)))
    groups = _Groups()
    for t in (a, b):
        for e in t.entries:
            for m in e.members:
                groups.join(e.key, m)  # what a node computes counts with it, in both versions
    _match_weights(a, b, groups)
    _match_places(a, b, groups)
    for t, other in ((a, b), (b, a)):  # conversions a quantizer added: with the layer they serve
        there = _roots(other, groups)  # joining a group of one side only into one of these keeps them roots
        for e in t.entries:
            if e.near and groups.find(e.key) not in there and groups.find(e.near) in there:
                groups.join(e.near, e.key)
    rows: dict[str, LayerChange] = {}
    for t, side in ((a, "before"), (b, "after")):
        for e in t.entries:
            row = rows.setdefault(groups.find(e.key), LayerChange(groups.find(e.key), None, None))
            setattr(row, f"{side}_ms", (getattr(row, f"{side}_ms") or 0.0) + e.ms)
            for names, value in ((getattr(row, f"{side}_nodes"), e.name), (getattr(row, f"{side}_ops"), e.op)):
                if value not in names:
                    names.append(value)
    layer_names = _layer_names(a, b, groups)
    for root, row in rows.items():
        row.name = layer_names.get(root, root)
    both = sorted((r for r in rows.values() if r.before_ms is not None and r.after_ms is not None), key=lambda r: r.change_ms)
    only = [sorted((r for r in rows.values() if getattr(r, side) is None), key=lambda r: -(r.before_ms or r.after_ms or 0.0))
            for side in ("after_ms", "before_ms")]
    ops = dict.fromkeys([*a.by_op, *b.by_op])
    by_op = {op: (a.by_op.get(op, 0.0), b.by_op.get(op, 0.0)) for op in ops}
    return Comparison(a.label, b.label, a.latency_ms, b.latency_ms, a.nodes_ms, b.nodes_ms, both, only[0], only[1],
                      dict(sorted(by_op.items(), key=lambda kv: -max(kv[1]))), max(a.overhead_ms, b.overhead_ms))


def _own(t: Timings) -> Timings:
    """Each node's time less what the profiler adds to every node: a quantized layer run as four nodes (its
    conversions) is not charged four times the profiler's cost (a dynamic int8 CNN of 0.06 ms was called
    slower layer by layer while it ran as fast)."""
    entries = [replace(e, ms=max(e.ms - t.overhead_ms, 0.0)) for e in t.entries]
    by_op: dict[str, float] = {}
    for e in entries:
        by_op[e.op] = by_op.get(e.op, 0.0) + e.ms
    return replace(t, entries=entries, nodes_ms=sum(e.ms for e in entries), by_op=by_op)


def _roots(t: Timings, groups: _Groups) -> set[str]:
    return {groups.find(e.key) for e in t.entries}


def _match_weights(a: Timings, b: Timings, groups: _Groups) -> None:
    """Layers on one side only that read the same weight, one on each side: one layer renamed."""
    def alone(t: Timings, other: Timings) -> dict[str, set[str]]:
        there = _roots(other, groups)
        found: dict[str, set[str]] = {}
        for e in t.entries:
            if e.weight and groups.find(e.key) not in there:
                found.setdefault(e.weight, set()).add(groups.find(e.key))
        return found

    left, right = alone(a, b), alone(b, a)
    for weight, roots in left.items():
        if len(roots) == 1 and len(right.get(weight, ())) == 1:
            groups.join(next(iter(roots)), next(iter(right[weight])))


def _match_places(a: Timings, b: Timings, groups: _Groups) -> None:
    """A node on one side only that is the k-th of its operator in a graph holding as many of them as
    the other's (another exporter's names: the second MaxPool is the second MaxPool) goes with the k-th
    there, or with the layer that one was fused into."""
    for t, other in ((a, b), (b, a)):
        there, here = _roots(other, groups), _roots(t, groups)
        ran = {x.key for x in other.entries}
        at = {place: k for k, place in other.places.items()}
        for e in t.entries:
            place = t.places.get(e.key)
            if place is None or place[0] in PLUMBING or groups.find(e.key) in there or place not in at:
                continue
            partner = groups.find(at[place])
            if partner in there and (partner not in here or at[place] not in ran):  # a layer of its own, or fused there
                groups.join(partner, e.key)


def _layer_names(a: Timings, b: Timings, groups: _Groups) -> dict[str, str]:
    """Each group named after the weight of its slowest node that reads one (`conv1.weight`: conv1)."""
    names: dict[str, str] = {}
    for e in sorted((e for t in (a, b) for e in t.entries if e.weight), key=lambda e: -e.ms):
        root = groups.find(e.key)
        if root not in names and "." in e.weight:
            names[root] = e.weight.rsplit(".", 1)[0]
    taken: dict[str, int] = {}
    for name in names.values():
        taken[name] = taken.get(name, 0) + 1
    return {root: name for root, name in names.items() if taken[name] == 1}  # two groups, one weight: their node names say more


class _Groups:
    """Union-find over node keys; a group is named after the node that absorbed the others."""

    def __init__(self):
        self.parent: dict[str, str] = {}

    def find(self, key: str) -> str:
        self.parent.setdefault(key, key)
        while self.parent[key] != key:
            self.parent[key] = self.parent[self.parent[key]]
            key = self.parent[key]
        return key

    def join(self, keep: str, gone: str) -> None:
        k, g = self.find(keep), self.find(gone)
        if k != g:
            self.parent[g] = k
