"""Static int8's three calibrations (MinMax, Entropy, Percentile) on the corpus models where static int8
loses most, with data enough to calibrate on (400 examples rendered as the corpus renders its own,
bench_qat_corpus): fidelity to the float model in ONNX Runtime on the test split, the quantization's time
and the process's peak memory. Each cell runs in a fresh process, so that its peak is its own.
ORT's histogram calibrations (Entropy, Percentile) hold every activation they are given until they
histogram it; the studio gives them one batch (CALIBRATION_BATCH examples) at a time (ORT's strided
calibration), and its batches are small because ORT's memory grows with them.

Run: `python scripts/make_corpus.py && python benchmarks/bench_calibration.py`.
"""

from __future__ import annotations

import json
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from common import in_fresh_process, probe_or_main, write

MODELS = ["rapidocr-rec-v4", "rapidocr-det-v4"]
CALIBRATIONS = ["minmax", "entropy", "percentile"]
FOLDER = Path(tempfile.gettempdir()) / "studio-bench-calibration"


def probe(arg: str) -> dict:
    import bench_qat_corpus as qat_bench

    from studio.core.compress.quantize import quantize
    from studio.core.evaluate.data import load_data
    from studio.core.evaluate.metrics import scored
    from studio.core.formats.load import load_model
    from studio.core.process.jobs import run_to_end

    name, calibration = arg.split(":")
    entry = {e["name"]: e for e in json.loads((qat_bench.CORPUS / "manifest.json").read_text())}[name]
    model = load_model(str(qat_bench.CORPUS / entry["file"]), input_shape=entry.get("input_shape"))
    data = load_data({"labels": "none", "output": entry.get("class_output"), "path": str(FOLDER / f"{name}.npz")})
    test = data.test()
    reference, _ = scored(model, test)
    started = time.perf_counter()
    version = run_to_end(quantize(model, data, mode="static", calibration=calibration, tolerance=None))
    seconds = time.perf_counter() - started
    m = qat_bench.measured(version, test, reference, ctc=name in qat_bench.CTC)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20  # KiB on Linux
    return {"cosine": m["cosine"], "agreement": m["agreement"], "worst_db": m["worst_db"], "text": m["text"],
            "seconds": seconds, "peak_gib": peak, "train": len(data.train()), "test": len(test)}


def main() -> None:
    import bench_qat_corpus as qat_bench

    FOLDER.mkdir(exist_ok=True)
    rows = []
    for name in MODELS:
        np.savez(FOLDER / f"{name}.npz", x=qat_bench.RENDER[name](qat_bench.RENDERED, np.random.default_rng(0))[0])
        for calibration in CALIBRATIONS:
            r = in_fresh_process(__file__, f"{name}:{calibration}", dict(os.environ), timeout=3600)
            text = "" if r["text"] is None else f", same text {r['text']:.0%}"
            rows.append([name, calibration, f"{r['train']} / {r['test']}", f"{r['cosine']:.4f}", f"{r['agreement']:.0%}",
                         f"{r['worst_db']:.1f} dB{text}", f"{r['seconds']:.0f}", f"{r['peak_gib']:.1f}"])
            print(rows[-1], flush=True)
    notes = " ".join([
        "Static int8 (QDQ, uint8 activations, int8 weights per channel, 256 calibration examples of the train split) of",
        f"{qat_bench.RENDERED} rendered examples, against the float model on the test split: mean cosine, agreement",
        "(examples within 20 dB), the worst example's SQNR and, for the recogniser, the lines whose greedy CTC decoding is the float model's.",
        "Seconds: the whole quantization (calibration included); peak: the process's largest resident memory, model and data included.",
        "Before, with the histograms made of all 256 examples at once, Percentile on the recogniser was killed for want of memory past 24 GB;",
        "with batches of 32 instead of 8, MinMax took the recogniser to 13.0 GiB in 41 s and the detector to 7.7 GiB in 24 s (same ranges).",
    ])
    write("calibration", "Static int8: MinMax, Entropy and Percentile calibration", ["model", "calibration", "train / test",
          "cosine", "agreement", "worst", "s", "peak GiB"], rows, notes)


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    probe_or_main(probe, main)
