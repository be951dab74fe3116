"""ONNX → trainable PyTorch (issue 15's conversion targets), written to benchmarks/results/conversion.md.

1. Parity on every float ONNX model of the real-model corpus (scripts/make_corpus.py): the studio's
   conversion (onnx2torch and the studio's converters, checked against ONNX Runtime on up to 64 test
   examples of the model's data.npz) — the largest output difference (relative to the largest output
   value where that exceeds 1), agreement, or the one-line reason it was refused. Target: ≤ 1e-4 on
   every model it accepts.
2. Time to convert and check a 100.7M-parameter ONNX model (bench_window's 6 × 4096² MLP, one file, on
   the test split of 320 random inputs of its declared shape): median of 3. Target: under 30 s.

Run: `python scripts/make_corpus.py && python benchmarks/bench_conversion.py`
"""

from __future__ import annotations

import json
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
CORPUS = ROOT / "corpus"
RUNS = 3


def main() -> None:
    from bench_window import WIDTH, make_big_models
    from common import write

    from studio.core.compress.conversion import trainable
    from studio.core.errors import StudioError
    from studio.core.evaluate.data import DataSet, load_data
    from studio.core.formats.load import load_model
    from studio.core.inspect.precision import already_quantized

    rows, accepted = [], []
    for entry in json.loads((CORPUS / "manifest.json").read_text()):
        if not entry["file"].endswith(".onnx"):
            continue
        model = load_model(str(CORPUS / entry["file"]))
        if already_quantized(model.onnx):
            continue
        data = load_data({"path": str(CORPUS / entry["data"]), "labels": "none"})
        t = time.perf_counter()
        try:
            converted = trainable(model, data)
        except StudioError as e:
            rows.append([entry["name"], f"refused: {str(e).split(': ', 1)[-1][:110]}", "–", f"{time.perf_counter() - t:.1f}"])
            continue
        seconds = time.perf_counter() - t
        text = next(n for n in converted.notes if n.startswith("converted to PyTorch"))
        largest = float(text.split("max difference ")[1].split(",")[0])
        scale = _largest_output(model, data)  # box coordinates in pixels differ by more than probabilities
        accepted.append(largest / max(scale, 1.0))
        rows.append([entry["name"], text.removeprefix("converted to PyTorch by onnx2torch: ") + f"; outputs up to {scale:.3g}",
                     "yes" if accepted[-1] <= 1e-4 else "**no**", f"{seconds:.1f}"])
        print(rows[-1], flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        big = load_model(str(make_big_models(Path(tmp))["ONNX, one file"]))
        data = DataSet("random", {"input": np.random.default_rng(0).standard_normal((320, WIDTH), dtype=np.float32)}, None)
        times = []
        for _ in range(RUNS):
            t = time.perf_counter()
            converted = trainable(big, data)
            times.append(time.perf_counter() - t)
        parity = next(n for n in converted.notes if n.startswith("converted to PyTorch"))
        del converted
    met = sum(p <= 1e-4 for p in accepted)
    rows.append(["100.7M-parameter MLP (403 MB, one ONNX file)", parity.removeprefix("converted to PyTorch by onnx2torch: "),
                 f"{statistics.median(times):.1f} s (median of {RUNS}; {min(times):.1f}–{max(times):.1f}) — target < 30 s",
                 f"{statistics.median(times):.1f}"])
    write("conversion", "ONNX → trainable PyTorch: parity and time (issue 15)",
          ["model", "parity against ONNX Runtime", "≤ 1e-4 / time", "s"], rows,
          f"Parity ≤ 1e-4 on {met} of the {len(accepted)} corpus models the conversion accepts (the largest difference "
          "relative to the largest output value where that exceeds 1: box coordinates in pixels). Each conversion is "
          "checked on up to 64 test examples of the model's data (largest output difference, agreement); a model it "
          "refuses is named with the reason. s: conversion + check, wall seconds.")


def _largest_output(model, data) -> float:
    from studio.core.compress.conversion import CHECK_EXAMPLES
    from studio.core.evaluate.runtime import predict_outputs

    x = data.test().shaped_for(model.inputs).subset(slice(0, CHECK_EXAMPLES)).x
    return max(float(np.abs(o).max()) for o in predict_outputs(model, x) if o.dtype.kind == "f")


if __name__ == "__main__":
    main()
