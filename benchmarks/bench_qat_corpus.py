"""Quantization-aware training against static int8 on the corpus models where static int8 loses most
(issue 15): per model, static int8 as ONNX Runtime calibrates it, then QAT (`quantize: {mode: qat}`,
rounding the activations ORT rounds, qat_graph) from the float model, each measured in ONNX Runtime on the
model's test split against the float model: agreement, cosine and the worst example's SQNR; the size
against the float file. Target: agreement ≥ 98 % at int8 size.

Run: `python scripts/make_corpus.py && python benchmarks/bench_qat_corpus.py [--epochs N] [--lr LR]`.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import numpy as np
from common import write

from studio.core.compress.qat import qat
from studio.core.compress.quantize import quantize
from studio.core.errors import StudioError
from studio.core.evaluate.data import load_data
from studio.core.evaluate.metrics import fidelity, scored
from studio.core.formats.load import load_model
from studio.core.process.jobs import run_to_end

CORPUS = Path(__file__).resolve().parents[1] / "corpus"
# static int8 loses most on these in the real-model matrix (real_models.md): cosine 0.885, 0.97, 0.97; agreement 0 %
MODELS = ["minilm-l6-v2", "rapidocr-rec-v4", "rapidocr-det-v4"]
EPOCHS, LR = 4, 1e-4


def measured(model, test, reference) -> dict:
    outs, _ = scored(model, test)
    f = fidelity(outs, reference)
    out, ref = outs[0].reshape(len(outs[0]), -1).astype(np.float64), reference[0].reshape(len(reference[0]), -1).astype(np.float64)
    worst = min(float(10 * np.log10((r**2).sum() / ((o - r) ** 2).sum())) for o, r in zip(out, ref))
    return {**f, "worst_db": worst}


def main(argv: list[str]) -> None:
    epochs = int(argv[argv.index("--epochs") + 1]) if "--epochs" in argv else EPOCHS
    lr = float(argv[argv.index("--lr") + 1]) if "--lr" in argv else LR
    manifest = {e["name"]: e for e in json.loads((CORPUS / "manifest.json").read_text())}
    rows = []
    for name in MODELS:
        entry = manifest[name]
        model = load_model(str(CORPUS / entry["file"]), input_shape=entry.get("input_shape"))
        data = load_data({"path": str(CORPUS / entry["data"]), "labels": "none", "output": entry.get("class_output")})
        test = data.test()
        reference, _ = scored(model, test)
        cells = [name, f"{len(data.train())} / {len(test)}"]
        for how in ("static", "qat"):
            t = time.perf_counter()
            job = (quantize(model, data, mode="static", tolerance=None) if how == "static"
                   else qat(model, data, epochs=epochs, lr=lr))
            try:
                version = run_to_end(job)
            except StudioError as e:
                cells.append(f"refused: {e.problem}")
                print(name, how, cells[-1], flush=True)
                continue
            m = measured(version, test, reference)
            cells.append(f"{m['agreement']:.0%}, cos {m['cosine']:.4f}, worst {m['worst_db']:.1f} dB, "
                         f"{version.size_bytes / model.size_bytes:.2f}× size, {time.perf_counter() - t:.0f} s")
            print(name, how, cells[-1], flush=True)
        rows.append(cells)
    notes = " ".join([
        "Agreement, cosine (mean over the test examples, the worst output) and the worst test example's SQNR of the output the corpus compares, in ONNX Runtime, against the float model;",
        "agreement for outputs that are not class scores counts the examples within 20 dB of the float model's output (metrics.agreement).",
        "Static int8: QDQ, uint8 activations (MinMax, 256 calibration examples of the train split), int8 weights per channel.",
        f"QAT: `quantize: {{mode: qat, epochs: {epochs}, lr: {lr:g}}}` without labels (the float model's outputs taught),",
        "the activations ORT's static int8 rounds rounded on its grids while training, and handed to it again after.",
        "The corpus's splits are tiny (train / test examples in the second column): a test example is a third of the agreement.",
    ])
    write("qat_corpus", "QAT against static int8 on the corpus models where static int8 loses most (issue 15)",
          ["model", "train / test examples", "static int8", f"QAT, {epochs} epochs"], rows, notes)


if __name__ == "__main__":
    main(sys.argv[1:])
