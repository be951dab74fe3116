"""Where PP-OCR's text recogniser loses in int8 (issue 15: the corpus model where static int8 loses most):
its weights and its activations rounded apart, each with and without bias correction (Nagel et al. 2019:
the mean shift (W_int8 − W)·E[x] that rounding a layer's weights causes, measured on the calibration
examples and taken out of the layer's bias), and activations in 16 bits instead of 8. Measured in ONNX
Runtime on 80 held-out lines of 400 rendered as the corpus renders its own (bench_qat_corpus), against the
float model and against the rendered text itself.

Rows: int8 weights alone (per output channel, symmetric, rounded as ORT rounds them; activations float: the
rounding simulated in a float file); ORT's static int8 (QDQ, uint8 activations from MinMax ranges of 256
training lines, the studio's static mode); the same with uint16 activations (QUInt16, ORT's A16W8).

Run: `python scripts/make_corpus.py && python benchmarks/bench_rec_precision.py`.
"""

from __future__ import annotations

import json
import statistics
import sys
import tempfile
from pathlib import Path

import bench_qat_corpus as qat_bench
import numpy as np
import onnx
import onnxruntime as ort
from common import write
from onnx import TensorProto, helper, numpy_helper

NAME = "rapidocr-rec-v4"
LINES, CALIBRATE = 400, 256
LAYERS = ("Conv", "Gemm", "MatMul")


def session(model: onnx.ModelProto | str, threads: int | None = None):
    opts = ort.SessionOptions()
    if threads:
        opts.intra_op_num_threads = threads
    src = model if isinstance(model, str) else model.SerializeToString()
    return ort.InferenceSession(src, opts, providers=["CPUExecutionProvider"])


def outputs(model, x: np.ndarray) -> np.ndarray:
    s = session(model)
    name = s.get_inputs()[0].name
    return np.concatenate([s.run(None, {name: x[i:i + 16]})[0] for i in range(0, len(x), 16)])


def latency_ms(model, x: np.ndarray) -> float:
    """Batch 1, one thread: the median of 100 runs (at most 5 s) after 5 warm-up runs, timed as the studio times."""
    from studio.core.evaluate.latency import timed

    s = session(model, threads=1)
    feed = {s.get_inputs()[0].name: x[:1]}
    return statistics.median(timed(lambda: s.run(None, feed), warmup=5, runs=100, budget_s=5.0))


def edits(a: str, b: str) -> int:
    row = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        diag, row[0] = row[0], i
        for j, cb in enumerate(b, 1):
            diag, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, diag + (ca != cb))
    return row[-1]


def scores(out: np.ndarray, ref: np.ndarray, chars: list[str], texts: list[str]) -> dict:
    from studio.core.evaluate.metrics import fidelity

    f = fidelity(out, ref)  # agreement: lines whose output is within 20 dB of the float model's
    read = qat_bench.read(out, chars)
    return {"cos": f["cosine"], "close": f["agreement"],
            "same": float(np.mean([p == q for p, q in zip(qat_bench.decoded(out), qat_bench.decoded(ref))])),
            "lines": float(np.mean([p == t.strip() for p, t in zip(read, texts)])),
            "cer": sum(edits(p, t.strip()) for p, t in zip(read, texts)) / sum(len(t.strip()) for t in texts)}


def int8_rounded(weight: np.ndarray, axis: int) -> np.ndarray:
    """Per output channel (along `axis`), symmetric, steps −127…127: as QAT and ORT round int8 weights."""
    import torch

    from studio.core.compress.qat import WeightFakeQuant

    w = torch.from_numpy(np.ascontiguousarray(np.moveaxis(weight, axis, 0), dtype=np.float32))
    return np.moveaxis(WeightFakeQuant(8)(w).numpy().astype(np.float64), 0, axis)


def output_axis(node: onnx.NodeProto) -> int:
    transposed = any(a.name == "transB" and a.i for a in node.attribute)
    return 0 if node.op_type == "Conv" or transposed else 1


def with_weights(model: onnx.ModelProto, rounded: dict[str, np.ndarray]) -> onnx.ModelProto:
    """A copy of `model` whose layers hold the `rounded` weights (by node name), in float."""
    out = onnx.ModelProto()
    out.CopyFrom(model)
    inits = {t.name: t for t in out.graph.initializer}
    for node in layers(out):
        inits[node.input[1]].CopyFrom(numpy_helper.from_array(rounded[node.name].astype(np.float32), node.input[1]))
    return out


def layers(model: onnx.ModelProto) -> list[onnx.NodeProto]:
    inits = {t.name for t in model.graph.initializer}
    return [n for n in model.graph.node if n.op_type in LAYERS and len(n.input) > 1 and n.input[1] in inits]


def ort_rounded(quantized: onnx.ModelProto) -> dict[str, np.ndarray]:
    """{node name: its weight dequantized} of each layer of ORT's QDQ file."""
    inits = {t.name: numpy_helper.to_array(t).astype(np.float64) for t in quantized.graph.initializer}
    made = {o: n for n in quantized.graph.node for o in n.output}
    found = {}
    for node in quantized.graph.node:
        dq = made.get(node.input[1]) if node.op_type in LAYERS and len(node.input) > 1 else None
        if dq is None or dq.op_type != "DequantizeLinear" or dq.input[0] not in inits:
            continue
        q, scale = inits[dq.input[0]], inits[dq.input[1]]
        zero = inits[dq.input[2]] if len(dq.input) > 2 else np.zeros_like(scale)
        if scale.size > 1:
            shape = [1] * q.ndim
            shape[next((a.i for a in dq.attribute if a.name == "axis"), 1)] = -1
            scale, zero = scale.reshape(shape), zero.reshape(shape)
        found[node.name] = (q - zero) * scale
    return found


def input_means(model: onnx.ModelProto, x: np.ndarray) -> dict[str, np.ndarray]:
    """Each layer's input's mean per channel (axis 1 of a Conv's, the last axis of a MatMul's) by the float model."""
    probe = onnx.ModelProto()
    probe.CopyFrom(model)
    feeds = {i.name for i in probe.graph.input}
    wanted = list(dict.fromkeys(n.input[0] for n in layers(model)))
    for t in wanted:
        if t not in feeds:
            probe.graph.output.append(helper.make_tensor_value_info(t, TensorProto.FLOAT, None))
    s = session(probe)
    names, feed_name = [o.name for o in s.get_outputs()], s.get_inputs()[0].name
    conv_inputs = {n.input[0] for n in model.graph.node if n.op_type == "Conv"}
    sums, counts = {}, {}
    for i in range(0, len(x), 8):
        values = {feed_name: x[i:i + 8], **dict(zip(names, s.run(None, {feed_name: x[i:i + 8]})))}
        for t in wanted:
            a = values[t].astype(np.float64)
            per_channel = np.moveaxis(a, 1 if t in conv_inputs else a.ndim - 1, 0).reshape(a.shape[1 if t in conv_inputs else -1], -1)
            sums[t], counts[t] = sums.get(t, 0) + per_channel.sum(1), counts.get(t, 0) + per_channel.shape[1]
    return {t: sums[t] / counts[t] for t in wanted}


def bias_corrected(model: onnx.ModelProto, rounded: dict[str, np.ndarray], means: dict[str, np.ndarray]) -> onnx.ModelProto:
    """`model` with (W_rounded − W)·E[x] taken out of each layer's bias (a Conv's own, or the Add after a MatMul)."""
    out = onnx.ModelProto()
    out.CopyFrom(model)
    inits = {t.name: t for t in out.graph.initializer}
    for node in layers(out):
        if node.name not in rounded:
            continue
        delta, mean = rounded[node.name] - numpy_helper.to_array(inits[node.input[1]]).astype(np.float64), means[node.input[0]]
        if node.op_type == "Conv":
            groups = next((a.i for a in node.attribute if a.name == "group"), 1)
            o, per = delta.shape[:2]
            shift = np.einsum("goi,gi->go", delta.reshape(groups, o // groups, per, -1).sum(-1), mean.reshape(groups, per)).reshape(o)
            bias = node.input[2] if len(node.input) > 2 else None
        else:
            shift = mean @ (delta.T if any(a.name == "transB" and a.i for a in node.attribute) else delta)
            after = [n for n in out.graph.node if node.output[0] in n.input]
            bias = next((i for i in after[0].input if i in inits), None) if len(after) == 1 and after[0].op_type == "Add" else None
        if bias is None:
            continue
        old = numpy_helper.to_array(inits[bias])
        inits[bias].CopyFrom(numpy_helper.from_array((old - shift.reshape(old.shape)).astype(old.dtype), bias))
    return out


def static(src: Path, dst: Path, x: np.ndarray, activations, cache: Path) -> onnx.ModelProto:
    from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType, quantize_static

    class Reader:
        def __init__(self):
            self.batches = iter([{"x": x[i:i + 8]} for i in range(0, len(x), 8)])

        def get_next(self):
            return next(self.batches, None)

    quantize_static(src, dst, Reader(), quant_format=QuantFormat.QDQ, per_channel=True, calibrate_method=CalibrationMethod.MinMax,
                    activation_type=activations, weight_type=QuantType.QInt8, calibration_cache_path=cache,
                    extra_options={"UseQDQContribOps": activations == QuantType.QUInt16})
    return onnx.load(dst)


def main() -> None:
    from onnxruntime.quantization import QuantType

    from studio.core.compress.quantize_ort import prepared
    from studio.core.formats.load import load_model
    from studio.core.formats.samples import split_mask

    entry = {e["name"]: e for e in json.loads((qat_bench.CORPUS / "manifest.json").read_text())}[NAME]
    model = load_model(str(qat_bench.CORPUS / entry["file"]))
    chars = qat_bench.symbols(model)
    x, texts = qat_bench.lines_and_texts(LINES, np.random.default_rng(0))
    held = split_mask(LINES)  # the studio's split, as bench_qat_corpus's rows
    calibration, test, truth = x[~held][:CALIBRATE], x[held], [t for t, h in zip(texts, held) if h]
    rows = []
    with prepared(model, "static") as prep, tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        float_model = onnx.load(prep.path)  # opset 13, ORT's pre-processing (BatchNormalization folded), as static int8 reads it
        ref = outputs(float_model, test)
        means = input_means(float_model, calibration)
        base = latency_ms(float_model, test)

        def row(what: str, proto: onnx.ModelProto, size: str, timed: bool = True):
            s = scores(outputs(proto, test), ref, chars, truth)
            ms = base if not timed or proto is float_model else latency_ms(proto, test)
            rows.append([what, f"{s['cos']:.4f}", f"{s['close']:.0%}", f"{s['same']:.0%}", f"{s['lines']:.0%}", f"{s['cer']:.2%}",
                         f"{ms:.1f} ({ms / base:.2f}×)" + ("" if timed else ", float file"), size])
            print(rows[-1], flush=True)

        row("float", float_model, f"{prep.path.stat().st_size / 1e6:.2f} MB")
        inits = {t.name: numpy_helper.to_array(t).astype(np.float64) for t in float_model.graph.initializer}
        rounded = {n.name: int8_rounded(inits[n.input[1]], output_axis(n)) for n in layers(float_model)}
        row("int8 weights, float activations (simulated)", with_weights(float_model, rounded), "–", timed=False)
        row("… + bias correction", with_weights(bias_corrected(float_model, rounded, means), rounded), "–", timed=False)
        for bits, kind in ((8, QuantType.QUInt8), (16, QuantType.QUInt16)):
            cache = folder / f"ranges{bits}.json"
            q = static(prep.path, folder / f"a{bits}.onnx", calibration, kind, cache)
            label = "static int8 (uint8 activations)" if bits == 8 else "uint16 activations, int8 weights (A16W8)"
            row(label, q, f"{(folder / f'a{bits}.onnx').stat().st_size / 1e6:.2f} MB")
            fixed = folder / f"float-corrected{bits}.onnx"
            onnx.save(bias_corrected(float_model, ort_rounded(q), means), fixed)
            q = static(fixed, folder / f"a{bits}bc.onnx", calibration, kind, cache)
            row("… + bias correction", q, f"{(folder / f'a{bits}bc.onnx').stat().st_size / 1e6:.2f} MB")
    notes = " ".join([
        f"PP-OCRv4's recogniser on the 80 test lines of {LINES} rendered as the corpus renders its own (bench_qat_corpus);",
        "cosine: the mean over the lines of the output's cosine to the float model's; within 20 dB: lines whose output is within 20 dB of the float model's (the studio's agreement);",
        "same text: lines whose greedy CTC decoding is the float model's; lines read, CER: against the rendered text (the float model itself misreads some).",
        f"Bias correction: the mean of each layer's input over the {CALIBRATE} calibration lines, times the rounding of its weights (as ORT wrote them),",
        "taken out of its bias; then ORT quantizes again from the same ranges.",
        "Latency: batch 1, one thread, ONNX Runtime's CPU provider, the median of 100 runs after 5 warm-up runs.",
        "The simulated rows hold rounded weights in a float file (their latency is the float model's).",
        "ORT runs uint16 activations with DequantizeLinear → float operator → QuantizeLinear (no 16-bit kernels on CPU).",
    ])
    write("rec_precision", "Where PP-OCR's recogniser loses in int8: weights, activations, bias correction (issue 15)",
          ["precision", "cosine", "within 20 dB", "same text", "lines read", "CER", "latency ms", "size"], rows, notes)


if __name__ == "__main__":
    sys.exit(main())
