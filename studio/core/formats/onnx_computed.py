"""Weights a graph computes from stored ones by moving their elements only (Silero VAD's ONNX file
slices its LSTM's stored matrices and joins the gates in ONNX's order): their value, and which element
of which stored tensor each element is, so that trained values go back where they came from.

Only rearranging operators qualify: each element of the result is then one element of a stored
tensor, found by running the same nodes on tensors that hold their own element numbers."""

from __future__ import annotations

from contextvars import ContextVar
from dataclasses import dataclass

import numpy as np
import onnx
from onnx import numpy_helper

# the opsets of the model being converted, which its If branches are converted in and computed weights
# evaluated in (onnx2torch gives a converter the node and its graph only); set by formats/onnx_to_torch
# for the thread converting
OPSETS: ContextVar[list[onnx.OperatorSetIdProto]] = ContextVar("opsets")
REARRANGING = {"Slice", "Concat", "Unsqueeze", "Squeeze", "Reshape", "Transpose", "Gather", "Split", "Identity", "Flatten"}
MAX_NODES = 64


@dataclass(frozen=True)
class Part:
    source: str  # the stored tensor (an initializer or a Constant node's output)
    source_index: np.ndarray  # flat element numbers in it
    index: np.ndarray  # the flat element numbers of the computed weight they are


def computed(name: str, graph) -> tuple[np.ndarray, list[Part]] | None:
    """The value of `name` (onnx2torch's OnnxGraph) and where each element comes from, when the graph
    computes it from stored float tensors by rearranging operators alone; else None."""
    nodes, leaves = _chain(name, graph)
    if nodes is None:
        return None
    floats = {k: v for k, v in leaves.items() if v.dtype.kind == "f"}
    if not floats:
        return None
    offsets, start = {}, 0
    for k, v in floats.items():
        offsets[k] = start
        start += v.size
    numbered = {k: (offsets[k] + np.arange(v.size, dtype=np.float64)).reshape(v.shape) if k in floats else v for k, v in leaves.items()}
    result = _run(nodes, numbered, name)
    numbers = result.reshape(-1)
    whole = np.concatenate([floats[k].reshape(-1) for k in floats])
    if not numbers.size or not np.array_equal(numbers, np.round(numbers)) or numbers.min() < 0 or numbers.max() >= start:
        return None
    numbers = numbers.astype(np.int64)
    value = whole[numbers].reshape(result.shape)
    parts = []
    for k in floats:
        inside = (numbers >= offsets[k]) & (numbers < offsets[k] + floats[k].size)
        if inside.any():
            parts.append(Part(k, numbers[inside] - offsets[k], np.flatnonzero(inside)))
    return value.astype(next(iter(floats.values())).dtype), parts


def _chain(name: str, graph) -> tuple[list[onnx.NodeProto] | None, dict[str, np.ndarray]]:
    """The rearranging nodes that compute `name`, in order, and the stored tensors they read."""
    nodes, leaves, todo, seen = [], {}, [name], set()
    while todo:
        value = todo.pop()
        if value in seen or not value:
            continue
        seen.add(value)
        tensor = stored(value, graph)
        if tensor is not None:
            leaves[value] = numpy_helper.to_array(tensor)
            continue
        try:
            node, _ = graph.value_as_node_output(value)
        except KeyError:  # a graph input, or a value of the graph around it
            return None, {}
        if node.operation_type not in REARRANGING or len(nodes) >= MAX_NODES:
            return None, {}
        nodes.append(node)
        todo.extend(node.input_values)
    order = {unique: i for i, unique in enumerate(graph.nodes)}
    return [n.proto for n in sorted(nodes, key=lambda n: order[n.unique_name])], leaves


def stored(name: str, graph) -> onnx.TensorProto | None:
    """The tensor `name` holds when a graph (onnx2torch's OnnxGraph) stores it, in an initializer or a
    Constant node, named so; None when the graph computes it or reads it from around."""
    if name in graph.initializers:
        return graph.initializers[name].proto
    try:
        node, _ = graph.value_as_node_output(name)
    except KeyError:
        return None
    if node.operation_type == "Constant":
        value = next((a.t for a in node.proto.attribute if a.name == "value" and a.type == onnx.AttributeProto.TENSOR), None)
        if value is not None:
            tensor = onnx.TensorProto()
            tensor.CopyFrom(value)
            tensor.name = name
            return tensor
    return None


def _run(nodes: list[onnx.NodeProto], leaves: dict[str, np.ndarray], name: str) -> np.ndarray:
    """The nodes run by ONNX's reference evaluator, in the opsets of the model being converted."""
    from onnx.reference import ReferenceEvaluator

    graph = onnx.helper.make_graph(nodes, "computed", [], [onnx.helper.make_value_info(name, onnx.TypeProto())],
                                   initializer=[numpy_helper.from_array(v, k) for k, v in leaves.items()])
    return np.asarray(ReferenceEvaluator(onnx.helper.make_model(graph, opset_imports=OPSETS.get())).run(None, {})[0])
