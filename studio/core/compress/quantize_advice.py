"""Which quantization mode suits a model, and why: read from its layers, before anything is run."""

from __future__ import annotations

from collections import Counter
from typing import NamedTuple

from studio.core.formats.model import Model
from studio.core.inspect.precision import already_quantized

RECURRENT = ("LSTM", "GRU", "RNN")
# PyTorch module class names → the ONNX op they export to
_MODULE_OPS = {"Conv1d": "Conv", "Conv2d": "Conv", "Conv3d": "Conv", "ConvTranspose1d": "ConvTranspose",
               "ConvTranspose2d": "ConvTranspose", "ConvTranspose3d": "ConvTranspose", "Linear": "Gemm",
               "Bilinear": "Gemm", "LSTM": "LSTM", "GRU": "GRU", "RNN": "RNN", "Embedding": "Gather",
               "MultiheadAttention": "Attention", "Softmax": "Softmax"}
_INTEGER_DTYPES = ("int", "uint")


class Suggestion(NamedTuple):
    mode: str | None  # None: nothing to quantize, or quantizing again is refused
    reason: str  # one line


def suggest_mode(model: Model) -> Suggestion:
    """Static QDQ for conv nets (int8 convolutions need calibrated activations to be fast), dynamic for
    transformers and recurrent nets (ORT's int8 matrix products and DynamicQuantizeLSTM quantize
    activations per batch, no calibration needed)."""
    if model.onnx is not None:
        reason = already_quantized(model.onnx)
        if reason:
            return Suggestion(None, reason)
    ops = _op_counts(model)
    tokens = any(s.dtype.startswith(_INTEGER_DTYPES) for s in model.inputs)
    convs = ops["Conv"] + ops["ConvTranspose"]
    products = ops["MatMul"] + ops["Gemm"]
    recurrent = [op for op in RECURRENT if ops[op]]
    if recurrent:
        return Suggestion("dynamic", f"recurrent layers ({', '.join(recurrent)}): dynamic int8 quantizes them; "
                                     "static leaves them float")
    attention = ops["Attention"] or (ops["Softmax"] and products >= 4)
    if products and (attention or tokens) and products >= convs:
        if attention:
            what = "a transformer (attention" + (", integer token inputs)" if tokens else ")")
        else:
            what = "matrix products on integer token inputs"
        return Suggestion("dynamic", f"{what}: dynamic int8 suits its matrix products, no calibration needed")
    if convs and convs >= products:
        return Suggestion("static", "a convolutional net: static int8 runs convolutions in int8, calibrated on "
                                    "your data; dynamic int8 of convolutions (ConvInteger) is usually slow on CPU")
    if products:
        return Suggestion("dynamic", "matrix products: dynamic int8 quantizes them without calibration data")
    return Suggestion(None, "no convolutions, matrix products or recurrent layers: nothing that int8 would shrink")


def _op_counts(model: Model) -> Counter:
    if model.onnx is not None:
        return Counter(node.op_type for node in model.onnx.graph.node)
    module = model.module if model.module is not None else getattr(model.program, "module", lambda: None)()
    if module is None or not hasattr(module, "modules"):
        return Counter()
    names = (getattr(m, "original_name", None) or type(m).__name__ for m in module.modules())
    return Counter(_MODULE_OPS[n] for n in names if n in _MODULE_OPS)
