"""Layer graph of an ONNX model: one node per operator; weights and Constant nodes fold into users."""

from __future__ import annotations

from types import SimpleNamespace

import onnx

from studio.core.formats.load_onnx import free_names, graph_inputs
from studio.core.inspect.graph import Graph
from studio.core.inspect.layers import FLOAT_OP, QUANT_OPS, layer_name

MAX_SHAPE_INFERENCE_BYTES = 1 << 30  # protobuf cannot serialise past 2 GB; stay well under
FOLDED_AFTER = {"Cast", "Mul", "Add", "Reshape"}  # an integer layer's rescaling and bias
SHAPE_DATA_ELEMENTS = 1024  # initializers up to this size may hold shapes: inference keeps their values


def onnx_graph(proto: onnx.ModelProto) -> Graph:
    shapes = _inferred_shapes(proto)
    return _build(proto.graph, shapes, top=True)


def _build(g: onnx.GraphProto, shapes: dict, top: bool = False, prefix: str = "", outer: frozenset = frozenset()) -> Graph:
    """In a quantized model the graph shows the float one: Quantize/DequantizeLinear pass their input
    through, what is computed from weights and scales alone folds away, and an integer layer's
    rescaling and bias (Cast, Mul, Add after ConvInteger) fold into it. A subgraph (an If's branch)
    shows the values it reads from around it as its inputs, but for weights and constants (`outer`)."""
    graph = Graph()
    producer: dict[str, int] = {}
    hidden = {t.name for t in g.initializer} | {s.values.name for s in g.sparse_initializer}
    quantized = any(n.op_type in QUANT_OPS for n in g.node)
    integer_layers: set[int] = set()
    inputs = graph_inputs(g) if top else [*g.input, *(SimpleNamespace(name=n) for n in sorted(free_names(g) - outer))]
    for spec in inputs:
        node = graph.add(spec.name, "Input", shape=getattr(spec, "shape", None) or shapes.get(spec.name))
        producer[spec.name] = node.id
    for i, n in enumerate(g.node):
        data = [inp for inp in n.input if inp and inp not in hidden]
        if n.op_type == "Constant" or (quantized and n.input and not data):
            hidden.update(n.output)
            continue
        if n.op_type in ("QuantizeLinear", "DequantizeLinear", "DynamicQuantizeLinear") and data and data[0] in producer:
            producer[n.output[0]] = producer[data[0]]
            hidden.update(n.output[1:])  # the scale and zero point DynamicQuantizeLinear computes
            continue
        if quantized and n.op_type in FOLDED_AFTER and len(data) == 1 and producer.get(data[0]) in integer_layers:
            producer.update({out: producer[data[0]] for out in n.output})
            continue
        name, op_type = layer_name(n, n.name or (n.output[0] if n.output else f"{n.op_type}_{i}"))
        layer = prefix + name if any(inp in hidden for inp in n.input) else None
        node = graph.add(name, op_type, layer=layer, shape=shapes.get(n.output[0]) if n.output else None)
        if n.op_type in FLOAT_OP:
            integer_layers.add(node.id)
        for attr in n.attribute:
            for sub in [attr.g] if attr.type == onnx.AttributeProto.GRAPH else list(attr.graphs):
                node.subgraphs[attr.name] = _build(sub, shapes, prefix=f"{prefix}{name}/{attr.name}/", outer=outer | hidden)
                data += sorted(free_names(sub) - hidden - set(data))  # what its branches or body read from around it
        for inp in data:
            if inp in producer:
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
    structure = light_copy(proto)
    if structure.ByteSize() < MAX_SHAPE_INFERENCE_BYTES:
        try:
            values += list(onnx.shape_inference.infer_shapes(structure).graph.value_info)
        except Exception:  # inference is best effort: a model it cannot follow still has a graph
            pass
    shapes = {}
    for v in values:
        t = v.type.tensor_type
        if v.type.HasField("tensor_type") and t.HasField("shape"):
            shapes[v.name] = tuple(d.dim_value if d.HasField("dim_value") and d.dim_value > 0 else (d.dim_param or None) for d in t.shape.dim)
    return shapes


def light_copy(proto: onnx.ModelProto) -> onnx.ModelProto:
    """The model without the data of its large weights, which become typed inputs: inference needs
    their shapes, not their values, and serialising hundreds of MB holds the GIL for seconds."""
    light = onnx.ModelProto(ir_version=proto.ir_version, opset_import=proto.opset_import, functions=proto.functions)
    g = proto.graph
    light.graph.name = g.name
    for field in ("node", "input", "output", "value_info", "sparse_initializer"):
        getattr(light.graph, field).extend(getattr(g, field))
    declared = {v.name for v in g.input}
    for t in g.initializer:
        if t.data_type in (onnx.TensorProto.INT64, onnx.TensorProto.INT32) or _elements(t) <= SHAPE_DATA_ELEMENTS:
            light.graph.initializer.append(t)
        elif t.name not in declared:
            light.graph.input.append(onnx.helper.make_tensor_value_info(t.name, t.data_type, list(t.dims)))
    return light


def _elements(t: onnx.TensorProto) -> int:
    n = 1
    for d in t.dims:
        n *= d
    return n
