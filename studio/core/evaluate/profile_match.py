"""What two profiles' nodes are matched by (profile_compare): each node's key, its float name as
profile_nodes reports it; for a conversion a quantizer added, the node it serves; the weight it reads;
its place among the graph's nodes of its operator. Read from the model that ran, kept as plain values
so that a profile made in a child process can send them back without its model."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from studio.core.evaluate.profile import Profile

QUANT_NAME = re.compile(r"(_MatMul)?_quant$")  # ONNX Runtime's quantizer renames conv1 to conv1_quant, fc1's MatMul to fc1_MatMul_quant
QUANT_PREFIX = re.compile(r"^(.+_quant)_")  # and names what it adds for it conv1_quant_scales_mul, …
# operators that convert or rescale a tensor for a layer rather than compute one
PLUMBING = {"QuantizeLinear", "DequantizeLinear", "DynamicQuantizeLinear", "Mul", "Add", "Cast", "Transpose", "Reshape", "Identity"}
QUANTIZING = {"QuantizeLinear", "DynamicQuantizeLinear"}  # serve the layer they feed; other conversions the one they follow
THROUGH = {"DequantizeLinear", "Transpose", "Cast", "Identity"}  # a weight reaches its layer through these
WEIGHT_SUFFIXES = ("_quantized", "_Transposed", "_DequantizeLinear_Output", "_dequantized")
WALK = 8  # the most conversions walked over to the layer they serve


@dataclass
class Entry:
    """One node of a profile, as comparing needs it."""

    key: str  # the graph node it is reported under, by its float name ("If_0/then_branch/conv" in a subgraph)
    name: str  # that node's name in this version's graph
    op: str  # the operator ONNX Runtime ran
    ms: float
    members: list[str]  # keys of every graph node it computes, its own first
    near: str = ""  # a conversion: the key of the node it serves
    weight: str = ""  # the weight it reads, without what quantization added to its name ("conv1.weight")


@dataclass
class Timings:
    """What a comparison needs of one profile."""

    label: str
    latency_ms: float  # without the profiler
    nodes_ms: float  # the nodes' time in a profiled run
    entries: list[Entry]
    by_op: dict[str, float] = field(default_factory=dict)
    overhead_ms: float = 0.0  # what the profiler adds to each node's time
    places: dict[str, tuple[str, int, int]] = field(default_factory=dict)  # key → (operator, k-th of it, of how many)

    def to_json(self) -> dict:
        return {"label": self.label, "latency_ms": self.latency_ms, "nodes_ms": self.nodes_ms,
                "entries": [vars(e) for e in self.entries], "by_op": self.by_op, "overhead_ms": self.overhead_ms,
                "places": self.places}

    @classmethod
    def from_json(cls, doc: dict) -> Timings:
        return cls(doc["label"], doc["latency_ms"], doc["nodes_ms"], [Entry(**e) for e in doc["entries"]], doc["by_op"],
                   doc["overhead_ms"], {k: tuple(v) for k, v in doc["places"].items()})


def timings(profile: Profile, label: str = "") -> Timings:
    """The profile's nodes with the keys they are matched by; the conversions they serve, the weights
    they read and their places are looked up in the model that ran, when the profile holds it."""
    graph = _Graph(profile.model.onnx.graph) if profile.model is not None and profile.model.onnx is not None else None
    entries = []
    for n in profile.nodes:
        e = Entry(key(n.name, n.graph), n.name, n.op, n.ms, [key(f, n.graph) for f in n.fused] or [key(n.name, n.graph)])
        if graph is not None and not n.graph and n.name in graph.nodes:
            e.weight = graph.weight([n.name, *n.fused])
            if not n.added and graph.nodes[n.name].op_type in PLUMBING:
                e.near = graph.near(n.name)
        entries.append(e)
    return Timings(label or profile.source, profile.latency_ms, profile.nodes_ms, entries, dict(profile.by_op),
                   profile.node_overhead_ms or 0.0, graph.places() if graph is not None else {})


def key(name: str, graph: str = "") -> str:
    """A node's float name (conv1 for conv1_quant), with the path of the subgraph it sits in."""
    name = QUANT_NAME.sub("", name)
    return f"{graph}/{name}" if graph else name


class _Graph:
    """The main graph of the model that ran, its nodes named as the profile names them."""

    def __init__(self, graph):
        self.nodes, self.producer, self.consumers = {}, {}, {}
        self.stored = {t.name: len(t.dims) for t in graph.initializer}
        for i, n in enumerate(graph.node):
            name = n.name or (n.output[0] if n.output else f"{n.op_type}_{i}")
            self.nodes[name] = n
            for t in n.output:
                self.producer[t] = name
            for t in n.input:
                self.consumers.setdefault(t, []).append(name)

    def places(self) -> dict[str, tuple[str, int, int]]:
        """Each node's operator, and which of the graph's nodes of that operator it is, in order."""
        count: dict[str, int] = {}
        seen = {}
        for name, n in self.nodes.items():
            seen[key(name)] = (n.op_type, count.get(n.op_type, 0))
            count[n.op_type] = count.get(n.op_type, 0) + 1
        return {k: (op, i, count[op]) for k, (op, i) in seen.items()}

    def weight(self, names: list[str]) -> str:
        """The first stored tensor of two or more dimensions the nodes read, directly or through a
        dequantization or transposition, named as before quantization."""
        for name in names:
            for t in self.nodes[name].input if name in self.nodes else ():
                for _ in range(WALK):
                    if t in self.stored:
                        if self.stored[t] >= 2:
                            return _plain(t)
                        break
                    node = self.nodes.get(self.producer.get(t, ""))
                    if node is None or node.op_type not in THROUGH or not node.input:
                        break
                    t = node.input[0]
        return ""

    def near(self, name: str) -> str:
        """The key of the node a conversion serves: named in its own name, else the first node that is
        not a conversion downstream of a quantization (upstream of any other), else the other way."""
        named = QUANT_PREFIX.match(name)
        if named and named.group(1) in self.nodes:
            return key(named.group(1))
        ways = (self._after, self._before) if self.nodes[name].op_type in QUANTIZING else (self._before, self._after)
        return next((found for way in ways if (found := self._walk(name, way))), "")

    def _before(self, name: str) -> list[str]:
        return [self.producer[t] for t in self.nodes[name].input if t in self.producer]

    def _after(self, name: str) -> list[str]:
        return [c for t in self.nodes[name].output for c in self.consumers.get(t, [])]

    def _walk(self, name: str, step) -> str:
        """The key of the first node that is not plumbing, following `step` (_before or _after) from `name`."""
        for _ in range(WALK):
            nexts = step(name)
            if not nexts:
                return ""
            name = nexts[0]
            if self.nodes[name].op_type not in PLUMBING:
                return key(name)
        return ""

def _plain(tensor: str) -> str:
    """A weight's name without what quantization added (`fc1.weight_Transposed_quantized`: fc1.weight)."""
    changed = True
    while changed:
        changed = False
        for suffix in WEIGHT_SUFFIXES:
            if tensor.endswith(suffix):
                tensor, changed = tensor[: -len(suffix)], True
    return tensor
