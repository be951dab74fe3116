"""The layer graph: nodes (type, name, the layer whose weights they use, output shape) and edges."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class Node:
    id: int
    name: str
    type: str
    layer: str | None = None  # name of the Layer holding this node's weights
    shape: tuple | None = None  # shape of its (first) output, where known
    subgraphs: dict[str, Graph] = field(default_factory=dict)  # control-flow bodies


@dataclass
class Edge:
    src: int
    dst: int
    tensor: str = ""


@dataclass
class Graph:
    nodes: list[Node] = field(default_factory=list)
    edges: list[Edge] = field(default_factory=list)
    note: str = ""  # why the graph is missing or approximate

    def add(self, name: str, type: str, layer: str | None = None, shape=None) -> Node:
        node = Node(len(self.nodes), name, type, layer, shape)
        self.nodes.append(node)
        return node

    def connect(self, src: int, dst: int, tensor: str = "") -> None:
        if src != dst:
            self.edges.append(Edge(src, dst, tensor))

    def node_count(self) -> int:
        """Nodes including those inside subgraphs."""
        return sum(1 + sum(g.node_count() for g in n.subgraphs.values()) for n in self.nodes)


