"""Which nodes of the model's graph each node ONNX Runtime ran computes.

ONNX Runtime optimises a graph before it runs it: it fuses nodes (Conv + Relu → FusedConv, DQ → Conv
→ Q → QLinearConv, DynamicQuantizeLinear + MatMulInteger + rescaling → DynamicQuantizeMatMul), renames
what it rewrites and adds layout conversions. A node of the optimised graph is matched to the model's
graph by the names ORT gives (the fused node's own name, `<name>_token_N`, `fused <name>`,
`<output tensor>_nchwc`, `<name>/<Fusion>`, `<If>_<branch>__Inline_N__<name>`) and by the tensors it
writes. Graph nodes nothing matched were fused into a matched one: a QuantizeLinear goes with the
layer it quantizes, and every other one with the matched node it feeds through tensors the optimised
graph no longer holds (a Relu folded into its Conv, the DequantizeLinear nodes of a QLinearConv).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import onnx

from studio.core.inspect.layers import LAYER_OPS
from studio.core.inspect.precision import INTEGER_OPS, NBITS_OPS

# nodes ORT adds to change a tensor's layout or device: they compute no node of the graph
LAYOUT_OPS = {"ReorderInput", "ReorderOutput", "Transpose", "MemcpyToHost", "MemcpyFromHost"}
# what a fused node is named after when it holds one of these (its other nodes are activations, biases…)
COMPUTE_OPS = LAYER_OPS | INTEGER_OPS | NBITS_OPS | {"LSTM", "GRU", "RNN", "Attention", "Einsum"}
CLOSURE_DEPTH = 64  # the most graph nodes one fused node is walked back over
_INLINED = re.compile(r"^(.*)_(then_branch|else_branch|body)__Inline_\d+__(.*)$")
_TOKEN = re.compile(r"_token_\d+$")


@dataclass
class Origin:
    """What one node of ONNX Runtime's optimised graph stands for in the model's graph."""

    name: str  # the graph node its time is reported under (a fused node: the layer it holds)
    nodes: list[str] = field(default_factory=list)  # every graph node it computes, `name` first
    graph: str = ""  # the subgraph ("If_0/then_branch") of those nodes; "" for the main graph
    added: bool = False  # ORT added it (a layout conversion, a copy): `name` is the node it serves


@dataclass(eq=False)
class _Node:
    name: str
    op: str
    domain: str
    inputs: list[str]
    outputs: list[str]
    path: str
    order: int


def attribute(original: onnx.GraphProto, optimized: onnx.GraphProto) -> dict[str, Origin]:
    """ORT's node name → its Origin, for every node of the optimised graph (subgraphs included)."""
    g0, g1 = _flatten(original), _flatten(optimized)
    names0, producer0 = _index(g0, lambda n: [n.name]), _index(g0, lambda n: n.outputs)
    held = {t for n in g1 for t in (*n.inputs, *n.outputs)} | _declared(optimized)  # tensors ORT still has
    claimed: dict[_Node, _Node] = {}  # graph node → the optimised node that computes it
    anchors: dict[_Node, list[_Node]] = {}  # optimised node → the graph nodes it computes
    named: dict[_Node, _Node] = {}  # optimised node → the graph node ORT named it after
    for m in g1:
        if m.op in LAYOUT_OPS and not any(n.op == m.op for n in names0.get(m.name, [])):
            continue  # an added conversion, matched to its neighbours below
        found = _by_name(m, names0, producer0)
        if found and found[0] not in claimed:
            named[m] = found[0]
        if m.op not in LAYOUT_OPS:
            found += [_pick(producer0.get(t), m.path) for t in m.outputs if t in producer0]
        found = [n for n in dict.fromkeys(found) if n is not None and n not in claimed]
        if found:
            anchors[m] = found
            claimed.update({n: m for n in found})
    for n in g0:  # a QuantizeLinear after a layer is the layer's quantized output (DQ → op → Q is one kernel)
        if n.op == "QuantizeLinear" and n not in claimed and n.inputs and n.outputs[0] not in held:
            before = _pick(producer0.get(n.inputs[0]), n.path)
            if before in claimed:
                claimed[n] = claimed[before]
                anchors[claimed[before]].append(n)
    for m, nodes in anchors.items():
        _claim_back(m, list(nodes), claimed, anchors, producer0, held)
    origins = {m.name: _origin(anchors[m], named.get(m)) for m in anchors}
    producer1, consumers1 = _index(g1, lambda n: n.outputs), _index(g1, lambda n: n.inputs)
    for _ in range(3):  # added nodes take their neighbour's name; a chain of them, its neighbour's
        for m in g1:
            if m.name not in origins:
                near = _neighbour(m, producer1, consumers1, origins)
                if near is not None:
                    origins[m.name] = Origin(near.name, [], near.graph, added=True)
    for m in g1:
        origins.setdefault(m.name, Origin(m.name, [], m.path, added=True))
    return origins


def _flatten(graph: onnx.GraphProto, path: str = "", out: list[_Node] | None = None) -> list[_Node]:
    out = [] if out is None else out
    for n in graph.node:
        out.append(_Node(n.name, n.op_type, n.domain, [i for i in n.input if i], list(n.output), path, len(out)))
        for attr in n.attribute:
            subs = [attr.g] if attr.type == onnx.AttributeProto.GRAPH else list(attr.graphs)
            for sub in subs:
                _flatten(sub, f"{path}/{n.name}/{attr.name}".lstrip("/"), out)
    return out


def _declared(graph: onnx.GraphProto) -> set[str]:
    """Inputs, outputs and stored tensors of a graph and its subgraphs."""
    names = {v.name for v in (*graph.input, *graph.output)} | {t.name for t in graph.initializer}
    for n in graph.node:
        for attr in n.attribute:
            for sub in [attr.g] if attr.type == onnx.AttributeProto.GRAPH else list(attr.graphs):
                names |= _declared(sub)
    return names


def _index(nodes: list[_Node], keys) -> dict[str, list[_Node]]:
    index: dict[str, list[_Node]] = {}
    for n in nodes:
        for k in keys(n):
            index.setdefault(k, []).append(n)
    return index


def _pick(candidates: list[_Node] | None, path: str) -> _Node | None:
    """The candidate in the subgraph `path` (names repeat across If branches), else the first."""
    if not candidates:
        return None
    return next((n for n in candidates if n.path == path), next((n for n in candidates if n.path.endswith(path)), candidates[0]))


def _by_name(m: _Node, names0: dict[str, list[_Node]], producer0: dict[str, list[_Node]]) -> list[_Node]:
    """The graph node ORT named this one after, if any."""
    if m.name in names0:
        return [_pick(names0[m.name], m.path)]
    name, path = m.name, m.path
    inlined = _INLINED.match(name)
    while inlined:  # a branch ORT inlined: its nodes carry "<If>_<branch>__Inline_N__" before their names
        path, name = f"{inlined.group(1)}/{inlined.group(2)}", inlined.group(3)
        inlined = _INLINED.match(name)
    variants = [name, name.removeprefix("fused ")]
    variants += [_TOKEN.sub("", v) for v in variants]
    variants += [v.rsplit("/", 1)[0] for v in variants if "/" in v]  # "<name>/GatherSliceToSplitFusion"
    for v in dict.fromkeys(variants):
        if v in names0:
            return [_pick(names0[v], path)]
        if v.endswith("_nchwc") and v[: -len("_nchwc")] in producer0:  # NCHWc kernels: "<output tensor>_nchwc"
            return [_pick(producer0[v[: -len("_nchwc")]], path)]
    return []


def _claim_back(m: _Node, todo: list[_Node], claimed: dict, anchors: dict, producer0: dict, held: set[str]) -> None:
    """Graph nodes whose outputs ORT no longer holds and that feed `m`'s nodes were fused into `m`."""
    for _ in range(CLOSURE_DEPTH):
        if not todo:
            return
        n = todo.pop()
        for t in n.inputs:
            if t in held:
                continue
            before = _pick(producer0.get(t), n.path)
            if before is not None and before not in claimed and before.op != "Constant":  # a stored value, not work
                claimed[before] = m
                anchors[m].append(before)
                todo.append(before)


def _origin(nodes: list[_Node], named: _Node | None) -> Origin:
    """Named after the layer it computes: the node ORT named it after when that is one, else the
    first layer among its nodes, else the node it is named after, else the one whose output it writes."""
    by_order = sorted(nodes, key=lambda n: n.order)
    if named is not None and named.op in COMPUTE_OPS:
        main = named
    else:
        main = next((n for n in by_order if n.op in COMPUTE_OPS), named or nodes[0])
    return Origin(main.name, [main.name] + [n.name for n in by_order if n is not main], main.path)


def _neighbour(m: _Node, producer1: dict, consumers1: dict, origins: dict[str, Origin]) -> Origin | None:
    """The origin of the node an added conversion serves: the neighbour that runs in ORT's own layout
    (NCHWc, NHWC: a domain other than ONNX's), else the node it reads from, else the one it feeds."""
    before = [n for t in m.inputs[:1] for n in producer1.get(t, []) if n.name in origins]
    after = [n for t in m.outputs for n in consumers1.get(t, []) if n.name in origins]
    for n in (*before, *after):
        if n.domain not in ("", "ai.onnx") and not origins[n.name].added:
            return origins[n.name]
    near = (before or after)[:1]
    return origins[near[0].name] if near else None
