"""Run every benchmark and gather their tables into benchmarks/RESULTS.md (one command, one table each).

    .venv/bin/python benchmarks/run_all.py            # everything (about 2 hours on 2 cores; the corpus ones need corpus/, nncf its own venv)
    .venv/bin/python benchmarks/run_all.py stats prune  # a subset, by name
    .venv/bin/python benchmarks/run_all.py --gather     # only rebuild RESULTS.md from results/
"""

from __future__ import annotations

import subprocess
import sys
import time
from importlib import metadata
from pathlib import Path

from common import RESULTS, machine

HERE = Path(__file__).resolve().parent
ORDER = ["stats", "graph", "window", "responsive", "scale", "prune", "quantize", "distill", "deep_compression", "qat4", "real_models",
         "static_activations", "saturation", "nncf", "profile", "auto", "auto_hand", "hf", "bert_base", "onnx_channels", "conversion",
         "qat_corpus", "calibration", "rec_precision"]
# bench_gpu needs a CUDA machine: run it there by name, its table is gathered here; qat_corpus_percentile is
# bench_qat_corpus.py --calibration percentile --rendered, qat_corpus_percentile_2000 the same with
# --models rapidocr-rec-v4 --examples 2000 --epochs 2
GATHERED = ORDER + ["qat_corpus_percentile", "qat_corpus_percentile_2000", "gpu"]
LIBRARIES = ["torch", "onnx", "onnxruntime", "onnxscript", "torch-pruning", "PySide6-Essentials", "pyqtgraph", "numpy"]


def main(names: list[str]) -> int:
    failed = []
    gather_only = names == ["--gather"]
    for name in [] if gather_only else names or ORDER:
        t = time.perf_counter()
        print(f"== {name}", flush=True)
        rc = subprocess.call([sys.executable, str(HERE / f"bench_{name}.py")], cwd=HERE)
        print(f"== {name}: exit {rc} in {time.perf_counter() - t:.0f} s", flush=True)
        if rc:
            failed.append(name)
    versions = ", ".join(f"{lib} {metadata.version(lib)}" for lib in LIBRARIES)
    parts = ["# Benchmark results", "", f"Machine: {machine()}", "", f"Libraries: {versions}", "",
             "Each section below is written by one script in benchmarks/ (`bench_NAME.py`); "
             "`python benchmarks/run_all.py` reruns them all.", ""]
    for name in GATHERED:
        path = RESULTS / f"{name}.md"
        if path.exists():
            parts.append(path.read_text())
    (HERE / "RESULTS.md").write_text("\n".join(parts))
    print(f"wrote {HERE / 'RESULTS.md'}" + (f"; failed: {', '.join(failed)}" if failed else ""))
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
