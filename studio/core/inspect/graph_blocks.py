"""Repeated blocks of a big layer graph folded into one box each: the layers of a transformer
(`encoder.layer.3`, `model.layers.3`, `/encoder/layer.3/…` in an ONNX export) or the blocks of a residual
network become one node per index, whose body ("operations") holds its nodes and the edges among them,
so a 12-layer model reads at a glance as embeddings, layer 0 … 11 and a head.

A node belongs to a block by the module path in its name (or, failing that, its layer's name): a path
`<container>.<index>.<more>` whose container has at least MIN_REPEATS distinct indices. Nodes without a
path (an fx `add_3`, an ONNX `/Shape`) join the block their latest input comes from, else the one all
their outputs go to. Where blocks are found, the other modules beside their container that hold MIN_GROUP nodes or more
(BERT's embeddings) fold the same way. Small graphs and graphs without repeated blocks come back as they are.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from studio.core.inspect.graph import Edge, Graph, Node

MIN_NODES = 40  # graphs up to this size read well unfolded
MIN_REPEATS = 3  # distinct indices a container needs for its children to be blocks
MIN_GROUP = 3  # nodes a module beside the blocks (embeddings, a head) needs to fold too
BODY = "operations"  # the key of a block's body in Node.subgraphs
BLOCK = "Block"  # a block's type where its module's class is not known (ONNX)


@dataclass
class Block(Node):
    """A box standing for a module's operations; its body, subgraphs[BODY], holds them."""


@dataclass
class FoldedGraph(Graph):
    """A graph whose repeated blocks are folded: counting its nodes counts the operations, not the blocks."""

    def node_count(self) -> int:
        return sum((0 if isinstance(n, Block) else 1) + sum(g.node_count() for g in n.subgraphs.values()) for n in self.nodes)


def fold_blocks(graph: Graph, type_of: Callable[[str], str | None] | None = None) -> Graph:
    """The graph with its repeated blocks folded (see the module's doc); the graph itself when it is
    small or has none. type_of: a module path ("encoder.layer.3") → its class name, where known."""
    if len(graph.nodes) <= MIN_NODES:
        return graph
    paths = [_path(n) for n in graph.nodes]
    group = _groups(paths)
    if group is None:
        return graph
    _place_pathless(graph, paths, group)
    members: dict[tuple, list[int]] = {}
    for i, key in enumerate(group):
        if key is not None:
            members.setdefault(key, []).append(i)
    blocks = _keep(members)
    if not blocks:
        return graph
    return _fold(graph, [key if key in blocks else None for key in group], type_of)


def _path(node: Node) -> tuple[str, ...] | None:
    """The module path a node's name (else its layer's) spells, as tokens: `/encoder/layer.3/attention/
    MatMul` and `encoder.layer.3.attention` both give (encoder, layer, 3, attention, …). None: no path."""
    if node.type in ("Input", "Output"):
        return ()
    for text in (node.name, node.layer):
        if text and ("." in text or "/" in text.strip("/")):
            segments: list[str] = []
            for seg in text.strip("/").split("/"):
                if segments and seg.startswith(segments[-1] + "."):  # TorchScript's ONNX scopes repeat the parent: /layer1/layer1.0/
                    segments.pop()
                segments.append(seg)
            tokens = tuple(t for seg in segments for t in seg.split(".") if t)
            if len(tokens) > 1:
                return tokens
    return () if node.layer else None  # a top-level module (`fc`) stays where it is; None: place by neighbours


def _groups(paths: list[tuple[str, ...] | None]) -> list[tuple | None] | None:
    """Each node's group key: a block (container + index) or a module beside the blocks; None: neither.
    None for all: no repeated blocks."""
    indices: dict[tuple[str, ...], set[str]] = {}
    for path in paths:
        for container, index in _candidates(path):
            indices.setdefault(container, set()).add(index)
    repeated = {c for c, found in indices.items() if len(found) >= MIN_REPEATS}
    if not repeated:
        return None
    group: list[tuple | None] = []
    for path in paths:
        hit = next((container + (index,) for container, index in _candidates(path) if container in repeated), None)
        group.append(("block", hit) if hit else None)
    if not any(group):
        return None
    levels = {c[:-2] for c in repeated if len(c) >= 2}  # BERT: blocks in model.encoder.layer, embeddings in model
    for i, path in enumerate(paths):
        if group[i] is None and path:
            level = next((lv for lv in levels if len(path) > len(lv) + 1 and path[:len(lv)] == lv), None)
            if level is not None:
                group[i] = ("module", path[:len(level) + 1])
    return group


def _candidates(path: tuple[str, ...] | None):
    """(container, index) for each numeric token of the path that has a container and something inside."""
    if not path:
        return
    for k in range(1, len(path) - 1):
        if path[k].isdigit():
            yield path[:k], path[k]


def _place_pathless(graph: Graph, paths: list, group: list) -> None:
    """Nodes without a path take the group of their latest input that has one (a residual add reads the
    block before and its own block: it ends its own), else the one group all their outputs go to."""
    n = len(graph.nodes)
    preds: list[list[int]] = [[] for _ in range(n)]
    succs: list[list[int]] = [[] for _ in range(n)]
    for e in graph.edges:
        if 0 <= e.src < n and 0 <= e.dst < n and e.src != e.dst:
            preds[e.dst].append(e.src)
            succs[e.src].append(e.dst)
    free = [p is None for p in paths]
    for i in range(n):  # graph.nodes is in execution order
        if free[i]:
            group[i] = next((group[p] for p in sorted(preds[i], reverse=True) if p < i and group[p] is not None), None)
    backward: list = list(group)
    for i in reversed(range(n)):
        if free[i] and group[i] is None:
            found = {backward[s] for s in succs[i] if s > i} - {None}
            backward[i] = group[i] = found.pop() if len(found) == 1 else None


def _keep(members: dict[tuple, list[int]]) -> set[tuple]:
    """The groups worth a box: blocks of 2 nodes or more, in containers that keep MIN_REPEATS of them,
    and, where blocks remain, modules beside them of MIN_GROUP nodes or more."""
    by_container: dict[tuple, list[tuple]] = {}
    for key, ids in members.items():
        if key[0] == "block" and len(ids) >= 2:
            by_container.setdefault(key[1][:-1], []).append(key)
    blocks = {key for keys in by_container.values() if len(keys) >= MIN_REPEATS for key in keys}
    if not blocks:
        return set()
    return blocks | {key for key, ids in members.items() if key[0] == "module" and len(ids) >= MIN_GROUP}


def _fold(graph: Graph, group: list, type_of) -> FoldedGraph:
    folded = FoldedGraph(note=graph.note)
    outer: list[int] = []  # old id → id in the folded graph
    inner: dict[int, int] = {}  # old id → id inside its block's body
    bodies: dict[tuple, Graph] = {}
    block_ids: dict[tuple, int] = {}
    for i, node in enumerate(graph.nodes):
        key = group[i]
        if key is None:
            outer.append(_copy(folded, node).id)
            continue
        if key not in bodies:  # the block stands where its first node was
            name = ".".join(key[1])
            bodies[key], block_ids[key] = Graph(), len(folded.nodes)
            folded.nodes.append(Block(block_ids[key], name, (type_of(name) if type_of else None) or BLOCK,
                                      subgraphs={BODY: bodies[key]}))
        outer.append(block_ids[key])
        inner[i] = _copy(bodies[key], node).id
    seen: set[tuple[int, int]] = set()
    for e in graph.edges:
        if not (0 <= e.src < len(group) and 0 <= e.dst < len(group)):
            continue
        if group[e.src] is not None and group[e.src] == group[e.dst]:
            bodies[group[e.src]].edges.append(Edge(inner[e.src], inner[e.dst], e.tensor))
            continue
        pair = (outer[e.src], outer[e.dst])
        if pair[0] != pair[1] and pair not in seen:
            seen.add(pair)
            folded.edges.append(Edge(*pair, e.tensor))
            if group[e.src] is not None:  # a block's shape: that of the tensor it passes on
                folded.nodes[pair[0]].shape = graph.nodes[e.src].shape
    return folded


def _copy(graph: Graph, node: Node) -> Node:
    copy = graph.add(node.name, node.type, node.layer, node.shape)
    copy.subgraphs = node.subgraphs
    return copy
