"""Whether ONNX Runtime's int8 kernels on this CPU saturate. On x86 CPUs without VNNI (AVX2, AVX-512
without VNNI) ORT multiplies uint8 activations by int8 weights with VPMADDUBSW, which adds two products
into an int16 and clips it at 32767: two products of 255 × 127 make 64770. ORT's documentation names the
remedy, weights on 7 bits (reduce_range: ±64, so two products stay under 32767), which static int8 takes
where the kernels saturate (quantize_ort.Settings.seven_bit; benchmarks/results/saturation.md). On an AVX2 CPU, the
attention test model's static int8 (tests/core/compress/test_quantize_ort.py) was 0.165 off its float
output with 8-bit weights and 0.0096 with 7-bit ones; PP-OCR's recogniser (MinMax, 80 rendered lines)
read 32 % of them with 8-bit weights and 34 % with 7-bit ones, cosine 0.884 and 0.893."""

from __future__ import annotations

import functools

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

INTEGER_OPS = {"QuantizeLinear", "DynamicQuantizeLinear", "ConvInteger", "MatMulInteger", "QLinearConv", "QLinearMatMul"}


@functools.cache
def saturates() -> bool:
    """Asked of ONNX Runtime itself, once: a uint8 × int8 MatMulInteger whose pairs of products overflow int16."""
    import onnxruntime as ort

    graph = helper.make_graph([helper.make_node("MatMulInteger", ["a", "b"], ["y"])], "saturation",
                              [helper.make_tensor_value_info("a", TensorProto.UINT8, [1, 16]),
                               helper.make_tensor_value_info("b", TensorProto.INT8, [16, 8])],
                              [helper.make_tensor_value_info("y", TensorProto.INT32, [1, 8])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    y = session.run(None, {"a": np.full((1, 16), 255, np.uint8), "b": np.full((16, 8), 127, np.int8)})[0]
    return bool((y != 255 * 127 * 16).any())


def eight_bit_weights(proto: onnx.ModelProto) -> bool:
    """Whether an int8 file's weights use all 8 bits (a step past ±64), so that where the kernels saturate
    the file computes something else than where it was measured. Only int8 weights that ORT's integer
    kernels multiply count: a graph that quantizes no activation computes every layer in float."""
    if not any(n.op_type in INTEGER_OPS for n in proto.graph.node):
        return False
    return any(t.data_type == TensorProto.INT8 and np.abs(numpy_helper.to_array(t).astype(np.int16)).max(initial=0) > 64
               for t in proto.graph.initializer)
