"""Weights held in Constant nodes (graphs converted from Paddle or TensorFlow) turned into initializers:
ONNX Runtime's quantizers and the pruner work on initializers only."""

from __future__ import annotations

import onnx

from studio.core.formats.load_onnx import all_graphs

# inputs that hold weights, by op type: ORT quantizes them only when they are initializers
WEIGHT_INPUTS = {"Conv": (1, 2), "ConvTranspose": (1, 2), "Gemm": (0, 1, 2), "MatMul": (0, 1), "Gather": (0,),
                 "LSTM": (1, 2, 3), "GRU": (1, 2, 3), "RNN": (1, 2, 3),
                 "BatchNormalization": (1, 2, 3, 4)}  # ORT folds these into the Conv before it, when initializers
_FLOATS = {onnx.TensorProto.FLOAT, onnx.TensorProto.FLOAT16, onnx.TensorProto.DOUBLE, onnx.TensorProto.BFLOAT16}


def constants_to_initializers(proto: onnx.ModelProto) -> int:
    """Move float weights held in Constant nodes (graphs converted from Paddle or TensorFlow) into
    initializers, in place, in the graph and its subgraphs: ORT's quantizers only quantize initializers,
    and would otherwise keep the weights float and quantize them at run time, making the file larger
    and slower. Returns how many."""
    return sum(_in_graph(g) for g in list(all_graphs(proto.graph)))


def _in_graph(graph: onnx.GraphProto) -> int:
    weights = {node.input[i] for node in graph.node for i in WEIGHT_INPUTS.get(node.op_type, ()) if i < len(node.input)}
    taken = {t.name for t in graph.initializer} | {i.name for i in graph.input}
    moved = []
    for node in graph.node:
        if node.op_type != "Constant" or node.domain not in ("", "ai.onnx") or len(node.output) != 1:
            continue
        name = node.output[0]
        value = next((a.t for a in node.attribute if a.name == "value" and a.type == onnx.AttributeProto.TENSOR), None)
        if name in weights and name not in taken and value is not None and value.data_type in _FLOATS:
            tensor = onnx.TensorProto()
            tensor.CopyFrom(value)
            tensor.name = name
            graph.initializer.append(tensor)
            moved.append(node)
    for node in moved:
        graph.node.remove(node)
    return len(moved)
