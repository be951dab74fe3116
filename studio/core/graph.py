"""The layer graph: nodes (type, name, the layer whose weights they use, output shape) and edges."""

from __future__ import annotations

from dataclasses import dataclass, field

from studio.core.model import STATE_DICT_NOTE, Format, Model


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


def graph_of(model: Model) -> Graph:
    """The layer graph of any model. A state_dict has none (no architecture): the note says so."""
    if model.onnx_structure is not None:
        from studio.core.graph_onnx import onnx_graph

        return onnx_graph(model.onnx_structure)
    if model.format is Format.STATE_DICT:
        return Graph(note=STATE_DICT_NOTE)
    from studio.core import graph_torch

    if model.format is Format.EXPORTED_PROGRAM:
        return graph_torch.exported_graph(model.program)
    if model.format is Format.TORCHSCRIPT:
        return graph_torch.torchscript_graph(model.module)
    return graph_torch.module_graph(model)
