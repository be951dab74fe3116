"""Layer graph of an ONNX model: one node per operator; weights and Constant nodes fold into users."""

from __future__ import annotations

import onnx

from studio.core.graph import Graph
from studio.core.load_onnx import graph_inputs

MAX_SHAPE_INFERENCE_BYTES = 1 << 30  # protobuf cannot serialise past 2 GB; stay well under


def onnx_graph(proto: onnx.ModelProto) -> Graph:
    shapes = _inferred_shapes(proto)
    return _build(proto.graph, shapes, top=True)


def _build(g: onnx.GraphProto, shapes: dict, top: bool = False, prefix: str = "") -> Graph:
    graph = Graph()
    producer: dict[str, int] = {}
    hidden = {t.name for t in g.initializer} | {s.values.name for s in g.sparse_initializer}
    inputs = graph_inputs(g) if top else [v for v in g.input]
    for spec in inputs:
        node = graph.add(spec.name, "Input", shape=getattr(spec, "shape", None) or shapes.get(spec.name))
        producer[spec.name] = node.id
    for i, n in enumerate(g.node):
        if n.op_type == "Constant":
            hidden.update(n.output)
            continue
        name = n.name or (n.output[0] if n.output else f"{n.op_type}_{i}")
        layer = prefix + name if any(inp in hidden for inp in n.input) else None
        node = graph.add(name, n.op_type, layer=layer, shape=shapes.get(n.output[0]) if n.output else None)
        for attr in n.attribute:
            for sub in [attr.g] if attr.type == onnx.AttributeProto.GRAPH else list(attr.graphs):
                node.subgraphs[attr.name] = _build(sub, shapes, prefix=f"{prefix}{name}/{attr.name}/")
        for inp in n.input:
            if inp in producer and inp not in hidden:
                graph.connect(producer[inp], node.id, inp)
        for out in n.output:
            producer[out] = node.id
    for v in g.output:
        node = graph.add(v.name, "Output", shape=shapes.get(v.name))
        if v.name in producer:
            graph.connect(producer[v.name], node.id, v.name)
    return graph


def _inferred_shapes(proto: onnx.ModelProto) -> dict[str, tuple]:
    values = list(proto.graph.value_info) + list(proto.graph.input) + list(proto.graph.output)
    if proto.ByteSize() < MAX_SHAPE_INFERENCE_BYTES:
        try:
            values += list(onnx.shape_inference.infer_shapes(proto).graph.value_info)
        except Exception:  # inference is best effort: a model it cannot follow still has a graph
            pass
    shapes = {}
    for v in values:
        t = v.type.tensor_type
        if v.type.HasField("tensor_type") and t.HasField("shape"):
            shapes[v.name] = tuple(d.dim_value if d.HasField("dim_value") else (d.dim_param or None) for d in t.shape.dim)
    return shapes
