"""NNCF's side of benchmarks/bench_nncf.py: `nncf.quantize_with_accuracy_control` on one ONNX file.

Runs in NNCF's own environment (benchmarks/.nncf-venv, see bench_nncf.py), never in the studio's: it
imports neither torch nor the studio. The examples come from an .npz that bench_nncf.py wrote, so both
sides calibrate and validate on the very same arrays:
  calib/<input>  calibration examples (the studio's: the first N of its train split), shaped for the model
  val/<input>    validation examples (the studio's test split)
  val_y          labels, when the data has them: the metric is accuracy
  val_ref        the float model's scored output on val, without labels: the metric is agreement

Run: benchmarks/.nncf-venv/bin/python benchmarks/nncf_side.py MODEL.onnx EXAMPLES.npz OUT.onnx REPORT.json
       [--max-drop 0.01] [--output NAME]
REPORT.json says what NNCF did (times, its metrics, the operations it reverted to float) or why it failed.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
import traceback

import numpy as np

CLOSE_DB = 20.0  # studio.core.evaluate.metrics.CLOSE_DB: within this SQNR of the float output is "the same answer"


def agreement_each(out: np.ndarray, ref: np.ndarray) -> np.ndarray:
    """1.0 per example that gives the float model's answer: studio.core.evaluate.metrics.agreement, per
    example (NNCF ranks layers on per-example values)."""
    a, r = out.reshape(len(out), -1).astype(np.float64), ref.reshape(len(ref), -1).astype(np.float64)
    if out.ndim == 2 and out.shape[1] > 1:
        return (a.argmax(1) == r.argmax(1)).astype(float)
    noise, signal = ((a - r) ** 2).sum(1), (r**2).sum(1)
    return (signal >= noise * 10 ** (CLOSE_DB / 10)).astype(float)


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("model")
    p.add_argument("examples")
    p.add_argument("out")
    p.add_argument("report")
    p.add_argument("--max-drop", type=float, default=0.01)
    p.add_argument("--output", default=None, help="the scored output's name (default: the first)")
    args = p.parse_args()
    report: dict = {"status": "FAILED"}
    log = _captured_log()
    try:
        _run(args, report)
    except Exception as e:  # noqa: BLE001  a failure is the finding: one line of it goes to the table
        report["reason"] = f"{type(e).__name__}: {str(e).strip().splitlines()[0] if str(e).strip() else ''}"[:300]
        report["traceback"] = traceback.format_exc()[-3000:]
    report["log"] = log[-60:]
    with open(args.report, "w") as f:
        json.dump(report, f, indent=1)


def _run(args, report: dict) -> None:
    import nncf
    import onnx
    import onnxruntime as ort

    report["versions"] = {"nncf": nncf.__version__, "onnxruntime": ort.__version__, "onnx": onnx.__version__}
    with np.load(args.examples) as f:
        calib = {k.split("/", 1)[1]: f[k] for k in f.files if k.startswith("calib/")}
        val = {k.split("/", 1)[1]: f[k] for k in f.files if k.startswith("val/")}
        y = f["val_y"] if "val_y" in f.files else None
        ref = f["val_ref"] if "val_ref" in f.files else None
    model = onnx.load(args.model)
    outputs = [o.name for o in model.graph.output]
    scored = outputs.index(args.output) if args.output else 0

    def items(arrays: dict) -> list[dict]:
        # one example per item (batch 1): NNCF scores each validation item on its own to rank layers
        n = max(len(v) for v in arrays.values() if v.ndim)
        return [{k: v if v.ndim == 0 else v[i : i + 1] for k, v in arrays.items()} for i in range(n)]

    # a validation item is (its index, its feed): validate() gets items as they are (it needs the index for
    # the label or the reference), NNCF's own inference gets the feed through transform_fn
    val_items = list(enumerate(items(val)))

    def validate(proto, dataset) -> tuple[float, list[float]]:
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = 1
        session = ort.InferenceSession(proto.SerializeToString(), opts, providers=["CPUExecutionProvider"])
        each = []
        for i, feed in dataset:
            out = session.run([outputs[scored]], feed)[0]
            if y is not None:
                each.append(float(out.reshape(1, -1).argmax(1)[0] == y[i]))
            else:
                each.append(float(agreement_each(out, ref[i : i + 1])[0]))
        return float(np.mean(each)), each

    calib_items = items(calib)
    report["metric"] = "accuracy" if y is not None else "agreement"
    report["calibration_examples"], report["validation_examples"] = len(calib_items), len(val_items)
    t = time.perf_counter()
    quantized = nncf.quantize_with_accuracy_control(
        model, nncf.Dataset(calib_items), nncf.Dataset(val_items, lambda item: item[1]), validate,
        max_drop=args.max_drop, drop_type=nncf.DropType.ABSOLUTE,
        subset_size=len(calib_items),  # every calibration example, as the studio calibrates on all it was given
    )
    report["seconds"] = time.perf_counter() - t
    onnx.save(quantized, args.out)
    ops = [n.op_type for n in quantized.graph.node]
    report["quantize_linear"] = ops.count("QuantizeLinear")
    report["dequantize_linear"] = ops.count("DequantizeLinear")
    report["float_metric"], _ = validate(model, val_items)
    report["quantized_metric"], _ = validate(quantized, val_items)
    report["reverted"] = _reverted()
    report["status"] = "ok"


_LOG: list[str] = []


def _captured_log() -> list[str]:
    """NNCF's INFO messages, kept for the report: they name the operations reverted to float."""

    class Keep(logging.Handler):
        def emit(self, record):
            _LOG.append(record.getMessage())

    logger = logging.getLogger("nncf")
    logger.addHandler(Keep(logging.INFO))
    logger.setLevel(logging.INFO)
    return _LOG


def _reverted() -> list[str]:
    """The operations NNCF's accuracy restorer reverted to float, from its 'Reverted N operations' lines."""
    names = []
    for msg in _LOG:
        if msg.startswith("Reverted ") and "floating-point" in msg:
            names += [line.strip() for line in msg.splitlines()[1:] if line.strip()]
    return names


if __name__ == "__main__":
    sys.exit(main())
