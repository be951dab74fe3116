"""Which operations of an ONNX model run in int8 / 4 bits and which stayed float."""

from __future__ import annotations

from typing import NamedTuple

import onnx

from studio.core.inspect.graph_onnx import light_copy
from studio.core.inspect.layers import LAYER_OPS


class OpPrecision(NamedTuple):
    node: str
    op_type: str
    precision: str  # "int8", "int4", "fp16", "float"


INTEGER_OPS = {"ConvInteger", "MatMulInteger", "QLinearConv", "QLinearMatMul", "QGemm", "DynamicQuantizeMatMul",
               "MatMulIntegerToFloat", "QAttention", "DynamicQuantizeLSTM", "QEmbedLayerNormalization"}
NBITS_OPS = {"MatMulNBits", "GatherBlockQuantized"}
COMPUTE_OPS = LAYER_OPS | {"Gather", "Attention", "LSTM", "GRU", "RNN"} | INTEGER_OPS | NBITS_OPS
_INT_TYPES = {onnx.TensorProto.INT8: "int8", onnx.TensorProto.UINT8: "int8", onnx.TensorProto.INT4: "int4",
              onnx.TensorProto.UINT4: "int4", onnx.TensorProto.INT16: "int16", onnx.TensorProto.UINT16: "int16"}


def quantized_ops(proto: onnx.ModelProto) -> list[OpPrecision]:
    """Each compute node (convolutions, matrix products, embeddings, recurrent layers) and the precision
    it runs in, for a table: integer ops and nodes fed by DequantizeLinear are integer, the rest fp16
    or float by the type of their inputs."""
    graph = proto.graph
    types = {t.name: t.data_type for t in graph.initializer}
    values = [*graph.input, *graph.value_info, *graph.output]
    try:
        inferred = onnx.shape_inference.infer_shapes(light_copy(proto)).graph  # without the weights' data
        values += [*inferred.input, *inferred.value_info, *inferred.output]
    except Exception:  # contrib ops can stop inference; types then come from initializers alone
        pass
    types.update({v.name: v.type.tensor_type.elem_type for v in values})
    dequantized = {o: types.get(n.input[0]) for n in graph.node if n.op_type == "DequantizeLinear" for o in n.output}
    floats = {t.name for t in graph.initializer if t.data_type == onnx.TensorProto.FLOAT}
    weights = {t.name for t in graph.initializer} | dequantized.keys()
    return [OpPrecision(node.name, node.op_type, _precision(node, types, dequantized, floats)) for node in graph.node
            if node.op_type in COMPUTE_OPS and (node.op_type != "Gather" or node.input[0] in weights)]


QUANTIZING_OPS = {"QuantizeLinear", "DequantizeLinear", "DynamicQuantizeLinear"}


def rounded_around(proto: onnx.ModelProto, names: list[str]) -> list[str]:
    """Those of the nodes `names` (layers kept float in a QDQ model) whose input or output activation is
    still rounded, by a QuantizeLinear → DequantizeLinear pair a quantized neighbour put there: only their
    weights are float."""
    graph = proto.graph
    quantized = {o for n in graph.node if n.op_type == "QuantizeLinear" for o in n.output}
    rounded = {o for n in graph.node if n.op_type == "DequantizeLinear" and n.input[0] in quantized for o in n.output}
    requantized = {n.input[0] for n in graph.node if n.op_type == "QuantizeLinear"}
    wanted = set(names)
    return [n.name for n in graph.node if n.name in wanted
            and (any(i in rounded for i in n.input) or any(o in requantized for o in n.output))]


def already_quantized(proto: onnx.ModelProto) -> str:
    """Why quantizing this ONNX model again makes no sense ('' when it is float32): it runs integer ops
    or holds QDQ pairs, or its weights are fp16. ORT's quantizers expect float32 weights."""
    ops = sorted({n.op_type for n in proto.graph.node
                  if n.op_type in INTEGER_OPS | NBITS_OPS | QUANTIZING_OPS or n.op_type.startswith("QLinear")})
    if ops:
        shown = ", ".join(ops[:4]) + (", …" if len(ops) > 4 else "")
        return f"already quantized (it holds {shown}): quantize the float original instead"
    types = {t.name: t.data_type for t in proto.graph.initializer}
    weights = [types[i] for n in proto.graph.node if n.op_type in LAYER_OPS for i in n.input[1:2] if i in types]
    if weights and onnx.TensorProto.FLOAT not in weights and onnx.TensorProto.FLOAT16 in weights:
        return "already in fp16: quantize the float32 original instead"
    return ""


def _precision(node: onnx.NodeProto, types: dict, dequantized: dict, floats: set[str]) -> str:
    if node.op_type in INTEGER_OPS:
        return "int8"
    if node.op_type in NBITS_OPS:
        return f"int{next((a.i for a in node.attribute if a.name == 'bits'), 4)}"
    if node.op_type in LAYER_OPS and node.input[1:2] and node.input[1] in floats:
        return "float"  # a layer left float keeps float weights, even where its input comes dequantized
    fed = [dequantized[i] for i in [*node.input[1:2], *node.input] if i in dequantized]  # the weight's type first: int4 weights, uint8 inputs
    if fed:
        return _INT_TYPES.get(fed[0], "int8")
    if any(types.get(i) == onnx.TensorProto.FLOAT16 for i in node.input):
        return "fp16"
    return "float"
