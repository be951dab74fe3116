"""Channels removed from models given only as ONNX (issue 15's first target): each float ONNX model of the
real-model corpus through the prune step (`method: channels, ratio: 0.5`: converted to PyTorch, checked,
Torch-Pruning, exported again by torch.onnx) and fine-tuning, then timed in ONNX Runtime on one thread
beside its original file, on the same example of its data. Writes benchmarks/results/onnx_channels.md.

Run: `python benchmarks/bench_onnx_channels.py [--epochs N] [--only NAME,NAME]` (default 10 epochs; each
model in its own process, stopped after LIMIT_S)."""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
from common import write

from studio.core.errors import StudioError, first_line
from studio.core.evaluate.data import load_data
from studio.core.evaluate.metrics import evaluate, scored
from studio.core.formats.load import load_model
from studio.core.formats.to_onnx import to_onnx
from studio.core.process.jobs import NO_CANCEL, run_to_end
from studio.core.project.recipe import StepResult, run_step
from studio.core.project.steps import OPS, Context

CORPUS = Path(__file__).resolve().parents[1] / "corpus"
RATIO = 0.5
LIMIT_S = 180  # per model: prune, fine-tune, export and timing
BATCH = 16  # more, smaller steps: a run has a few hundred examples (derived from the data) per epoch
ROUNDS, CALLS = 7, 30  # interleaved blocks of calls of each model; the median of each model's block medians


def one_thread(proto) -> ort.InferenceSession:
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    return ort.InferenceSession(proto.SerializeToString(), options, providers=["CPUExecutionProvider"])


def latencies(a, b, feed) -> tuple[float, float]:
    sessions, blocks = [one_thread(a), one_thread(b)], [[], []]
    for s in sessions:
        for _ in range(5):
            s.run(None, feed)
    for _ in range(ROUNDS):
        for s, out in zip(sessions, blocks):
            times = []
            for _ in range(CALLS):
                t = time.perf_counter()
                s.run(None, feed)
                times.append(time.perf_counter() - t)
            out.append(statistics.median(times) * 1000)
    return statistics.median(blocks[0]), statistics.median(blocks[1])


def stage(name: str) -> None:
    """What the child is doing, for the line of a model stopped at LIMIT_S."""
    print("stage:", name, file=sys.stderr, flush=True)


def run_model(entry: dict, epochs: int) -> dict:
    original = load_model(str(CORPUS / entry["file"]))
    labels = bool(entry.get("class_output"))
    data = load_data({"path": str(CORPUS / entry["data"]), **({"output": entry["class_output"]} if labels else {"labels": "none"})})
    ctx = Context(data, "cpu", NO_CANCEL, original=original)
    start = StepResult("load", {}, "original", original, {})
    t = time.perf_counter()
    try:
        stage("converting and removing channels")
        pruned = run_to_end(run_step(start, "prune", OPS["prune"].validate("prune", {"method": "channels", "ratio": RATIO}), ctx))
        stage("fine-tuning")
        tuned = run_to_end(run_step(pruned, "finetune", OPS["finetune"].validate("finetune", {"epochs": epochs, "batch_size": BATCH}), ctx))
        stage("exporting")
        exported = to_onnx(tuned.model, example=data.example_for(tuned.model.inputs))
    except StudioError as e:
        return {"status": "refused", "reason": e.problem, "s": time.perf_counter() - t}
    seconds = time.perf_counter() - t
    stage("timing")
    test = data.test()
    reference, _ = scored(original, test)
    before = evaluate(original, test)
    refitted = evaluate(pruned.model, test, reference=reference)  # the prune step's result, before fine-tuning
    try:
        after = evaluate(exported, test, reference=reference)
    except Exception as e:  # a size the export wrote into the graph that other examples do not have
        return {"status": "refused", "reason": f"exported, but ONNX Runtime fails on the test examples ({first_line(e)})", "s": seconds}
    feed = {k: (v[:1] if v.ndim else v) for k, v in data.test().shaped_for(original.inputs).x.items()}
    orig_ms, pruned_ms = latencies(original.onnx, exported.onnx, feed)
    params = lambda m: sum(int(np.prod(t.dims)) for t in weights(m.onnx.graph))  # noqa: E731
    out = {"status": "ok", "s": seconds, "params": [params(original), params(exported)], "ms": [orig_ms, pruned_ms],
           "speedup": orig_ms / pruned_ms, "agreement": after["agreement"], "cosine": after["cosine"],
           "pruned_cosine": refitted["cosine"], "refit": next((n for n in pruned.model.notes if "refitted" in n), "")}
    if data.labeled:  # a class output named, but no labels stored (a detector's scores)
        out["drop"] = 100 * (before["accuracy"] - after["accuracy"])
    return out


def weights(graph):
    """The float tensors of a graph: its initializers and its Constant nodes (a Paddle export keeps its weights there)."""
    yield from (t for t in graph.initializer if t.data_type == onnx.TensorProto.FLOAT)
    yield from (a.t for n in graph.node if n.op_type == "Constant" for a in n.attribute
                if a.name == "value" and a.t.data_type == onnx.TensorProto.FLOAT)


def row(name: str, r: dict) -> list:
    if r["status"] != "ok":
        return [name, "refused: " + r["reason"][:160], "", "", "", "", "", f"{r['s']:.0f}"]
    quality = (f"{-r['drop']:+.1f} pt, ".replace("-", "−") if "drop" in r else "") + f"agreement {r['agreement']:.0%}, cosine {r['cosine']:.3f}"
    target = "**met**" if r["speedup"] >= 1.8 and (r.get("drop", 0) <= 1 if "drop" in r else r["agreement"] >= 0.99) else "not met"
    refit = "refitted" if r.get("refit", "").split(" ")[0].isdigit() else "not refitted"  # "N layers refitted …"
    return [name, f"{r['params'][0]:,} → {r['params'][1]:,}", f"{r['ms'][0]:.2f} → {r['ms'][1]:.2f} ms", f"{r['speedup']:.2f}×",
            f"cosine {r['pruned_cosine']:.3f}, {refit}", quality, target, f"{r['s']:.0f}"]


def main(argv: list[str]) -> None:
    epochs = int(argv[argv.index("--epochs") + 1]) if "--epochs" in argv else 10
    entries = [e for e in json.loads((CORPUS / "manifest.json").read_text()) if e["format"] == "onnx" and "int8" not in e["name"]]
    if "--one" in argv:  # in a child process, so that a model Torch-Pruning cannot finish is stopped
        entry = next(e for e in entries if e["name"] == argv[argv.index("--one") + 1])
        print(json.dumps(run_model(entry, epochs)))
        return
    only = argv[argv.index("--only") + 1].split(",") if "--only" in argv else [e["name"] for e in entries]
    results = {}
    for name in only:
        t = time.perf_counter()
        try:
            done = subprocess.run([sys.executable, __file__, "--one", name, "--epochs", str(epochs)], capture_output=True,
                                  text=True, timeout=LIMIT_S, env={**os.environ, "PYTHONWARNINGS": "ignore"})
            results[name] = json.loads(done.stdout.strip().splitlines()[-1]) if done.returncode == 0 else \
                {"status": "refused", "reason": "failed: " + done.stderr.strip().splitlines()[-1][:200], "s": time.perf_counter() - t}
        except subprocess.TimeoutExpired as e:
            err = e.stderr.decode() if isinstance(e.stderr, bytes) else e.stderr or ""
            stages = [line[len("stage: "):] for line in err.splitlines() if line.startswith("stage: ")]
            results[name] = {"status": "refused", "reason": f"stopped after {LIMIT_S} s" + (f" (while {stages[-1]})" if stages else ""),
                             "s": time.perf_counter() - t}
        print(name, json.dumps(results[name])[:300], flush=True)
    write("onnx_channels", "Channels removed from models given only as ONNX (issue 15)",
          ["model", "parameters", "latency, 1 thread", "faster", "pruned, before fine-tuning", "fidelity to the original",
           "≥ 1.8× at ≤ 1 pt (or ≥ 99 % agreement)", "s"],
          [row(name, r) for name, r in results.items()],
          f"The prune step with `method: channels, ratio: {RATIO}` (the ONNX file converted by onnx2torch and checked, "
          f"Torch-Pruning, L1, then every convolution and linear layer refitted by least squares to the original's outputs on "
          f"examples of the training split, kept where it brings them closer: compress/channel_refit), then {epochs} epochs of fine-tuning in batches of {BATCH} (labels where the data has them, else "
          "learning the original's outputs, at least 256 examples an epoch), exported again by torch.onnx. Latency: ONNX Runtime, one thread, one example of the model's data, "
          f"{ROUNDS} interleaved blocks of {CALLS} calls of each file, the median of block medians. Fidelity: the exported "
          "file against the original file on the test split (3–6 examples: one answer is 17–33 points; agreement for "
          "outputs that are not class scores: within 20 dB of the original's). s: prune + fine-tune + export.")


if __name__ == "__main__":
    main(sys.argv[1:])
