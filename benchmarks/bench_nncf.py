"""The studio's automatic float fallback beside NNCF's `quantize_with_accuracy_control`, on the same
ONNX files of the real-model corpus and the same examples: benchmarks/results/nncf.md and nncf.json.

Studio: static int8 (`quantize(mode="static", samples=64)`) with its default tolerance of 1 point
(accuracy with labels, agreement with the float model without): when int8 loses more, it keeps the most
sensitive layers float, for a model of at most 24 weighted layers. For one with more, where the default
only says so, the explicit search (`keep_float=<every layer>, max_drop=0.01`) runs as a second studio
row (it ranks every layer: minutes). NNCF: `nncf.quantize_with_accuracy_control(max_drop=0.01,
ABSOLUTE)` on the same file, in its own environment (NNCF is not a dependency of the studio), run by
nncf_side.py on the examples this script hands it: the studio's calibration examples (the first 64 of
the train split) and its test split with the labels or the float model's outputs. Each quantized file
is then measured here in one way: accuracy or agreement on the test split
(studio.core.project.recipe.step_metrics), file size, and latency at batch 1 (ONNX Runtime CPU
provider, 1 thread, warmed; the median of several interleaved rounds of studio.core.evaluate.latency.latency).

Setup, once (NNCF's ONNX backend does not need torch, and pip does not pull it):
    python3 -m venv benchmarks/.nncf-venv
    benchmarks/.nncf-venv/bin/pip install nncf==3.4.0 onnx==1.23.2 onnxruntime==1.32.0 numpy
Run (the studio's environment): `python benchmarks/bench_nncf.py [--only NAME,NAME] [--keep DIR] [--render]`
(--only reruns those rows and keeps the others of the last run);
--keep DIR keeps each model's quantized files and examples in DIR/NAME/.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CORPUS = ROOT / "corpus"
NNCF_PYTHON = ROOT / "benchmarks" / ".nncf-venv" / "bin" / "python"
NNCF_SIDE = ROOT / "benchmarks" / "nncf_side.py"
# ONNX files of the corpus with labels or an output the studio's agreement reads: small CNNs first, then
# three whose int8 loses more than the tolerance in the studio (real_models.md), where the fallbacks act.
# Not here: the pickled MTCNNs and the TorchScript models (no ONNX file to hand NNCF), the LSTMs that
# static int8 leaves float, ddddocr (already int8), and the transformers (minilm: 90 MB; rapidocr-rec).
MODELS = ["rapidocr-cls-v2", "magika-standard-v3.3", "crepe-tiny", "oww-embedding", "nudenet-320n",
          "rapidocr-det-v4", "oww-melspectrogram", "oww-hey-mycroft"]
SIDES = {"studio": "studio int8 + fallback", "studio_explicit": "studio, keep_float=all, max_drop=0.01",
         "nncf": "NNCF accuracy control"}
SAMPLES = 64  # calibration examples asked of both (each corpus model has fewer in its train split: all of them)
MAX_DROP = 0.01  # the studio's default tolerance; NNCF's default max_drop, absolute
LATENCY_ROUNDS = 11  # the machine is shared: interleaved rounds, so a busy spell slows every file alike
LATENCY_BUDGET_S = 0.5  # per round and file: up to 200 calls
SAME_SIZE = 0.01  # "same size": within 1 %
SAME_LATENCY = 0.05  # "same latency": within 5 %, the spread of repeated timings on this machine
MODEL_TIMEOUT_S = 1800


def main(argv: list[str]) -> None:
    saved = ROOT / "benchmarks" / "results" / "nncf.json"
    if "--render" in argv:  # the table again from the last run, without running anything
        results = json.loads(saved.read_text())
    else:
        only = argv[argv.index("--only") + 1].split(",") if "--only" in argv else MODELS
        keep = argv[argv.index("--keep") + 1] if "--keep" in argv else None
        results = {"machine": _machine(), "load_average_before": os.getloadavg(), "models": {}}
        if "--only" in argv and saved.exists():  # those rows again, the others as the last run left them
            results["models"] = json.loads(saved.read_text())["models"]
        for name in only:
            t = time.perf_counter()
            results["models"][name] = row = _run_model(name, keep)
            row["probe_seconds"] = time.perf_counter() - t
            print(f"{name}: {row['probe_seconds']:.0f} s", json.dumps(row)[:300], flush=True)
        results["load_average_after"] = os.getloadavg()
        saved.write_text(json.dumps(results, indent=1))
    _render(results)


def _run_model(name: str, keep: str | None = None) -> dict:
    """One model in a fresh process: a crash or a hang costs its row, not the run."""
    command = [sys.executable, __file__, "--probe", name] + (["--keep", str(Path(keep).resolve() / name)] if keep else [])
    try:
        out = subprocess.run(command, check=False, capture_output=True, text=True, timeout=MODEL_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        return {"status": "FAILED", "reason": f"hang: no answer in {MODEL_TIMEOUT_S} s"}
    lines = [line for line in out.stdout.splitlines() if line.startswith("RESULT ")]
    if lines:
        return json.loads(lines[-1][7:])
    err = out.stderr.strip().splitlines()
    return {"status": "FAILED", "reason": f"process ended with code {out.returncode}: {err[-1] if err else ''}"}


# ---- the probe: one model, both sides -----------------------------------------------------------------


def probe(name: str, keep: str | None = None) -> dict:
    import numpy as np

    from studio.core.evaluate.data import load_data
    from studio.core.evaluate.metrics import class_output
    from studio.core.formats.load import load_model
    from studio.core.project.recipe import step_metrics

    entry = next(e for e in json.loads((CORPUS / "manifest.json").read_text()) if e["name"] == name)
    source = CORPUS / entry["file"]
    with np.load(CORPUS / entry["data"]) as f:
        labeled = "y" in f.files
    data = load_data({"path": str(CORPUS / entry["data"]), "labels": "yes" if labeled else "none", "output": entry.get("class_output")})
    model = load_model(str(source))
    float_metrics, reference = step_metrics(model, data, None, "cpu")  # reference: test outputs, the scored one first
    test = data.test()
    scored = model.outputs[class_output(model, test)].name
    row = {"status": "ok", "metric": "accuracy" if labeled else "agreement", "scored_output": scored,
           "examples": len(data), "validation": len(test), "calibration": min(SAMPLES, len(data.train())),
           "float": {"accuracy": float_metrics.get("accuracy"), "size_bytes": source.stat().st_size}}
    with tempfile.TemporaryDirectory(prefix="bench-nncf-") as tmp:
        tmp = Path(tmp)
        # the examples both sides use, shaped for the model as the studio feeds it
        train = data.train().shaped_for(model.inputs).x
        arrays = {f"calib/{k}": v if v.ndim == 0 else v[:SAMPLES] for k, v in train.items()}
        arrays.update({f"val/{k}": v for k, v in test.shaped_for(model.inputs).x.items()})
        arrays.update({"val_y": test.y} if labeled else {"val_ref": reference[0]})
        np.savez(tmp / "examples.npz", **arrays)
        row["studio"] = _studio(model, data, tmp / "studio.onnx")
        too_many = re.search(r"it has (\d+) layers, too many to rank", " ".join(row["studio"].get("notes", [])))
        if too_many:  # the default said so and quantized everything: what the explicit search makes of it
            row["studio_explicit"] = _studio(model, data, tmp / "studio_explicit.onnx", keep_float=int(too_many.group(1)))
        row["nncf"] = _nncf(source, tmp / "examples.npz", tmp / "nncf.onnx", tmp / "nncf.json", scored)
        files = {"float": source} | {side: tmp / f"{side}.onnx" for side in SIDES if row.get(side, {}).get("status") == "ok"}
        measured = _measure(files, data, reference)
        for side, m in measured.items():
            row[side].update(m)
        if keep:
            Path(keep).mkdir(parents=True, exist_ok=True)
            for f in tmp.iterdir():
                shutil.copy(f, Path(keep) / f.name)
    for side in SIDES:
        m = row.get(side, {})
        if "score" in m:
            m["loss"] = row["float"]["score"] - m["score"]
            m["size_ratio"] = m["size_bytes"] / row["float"]["size_bytes"]
            m["speedup"] = row["float"]["latency_ms"] / m["latency_ms"]
    for side in SIDES:
        if side.startswith("studio") and side in row:
            row[side]["verdict"] = _verdict(row[side], row["nncf"])
    row["verdict"] = row["studio"]["verdict"]
    return row


def _studio(model, data, out: Path, keep_float: int = 0) -> dict:
    """The studio's static int8 with its default tolerance fallback (or, with keep_float, the explicit
    search for the fewest float layers within MAX_DROP), written to `out`."""
    import onnx

    from studio.core.compress.quantize import quantize
    from studio.core.errors import StudioError
    from studio.core.formats.load_onnx import full_onnx
    from studio.core.process.jobs import run_to_end

    t = time.perf_counter()
    try:
        asked = {"keep_float": keep_float, "max_drop": MAX_DROP} if keep_float else {"tolerance": MAX_DROP}
        result = run_to_end(quantize(model, data, mode="static", samples=SAMPLES, **asked), lambda *a: None)
    except StudioError as e:
        return {"status": "refused", "reason": str(e)[:300], "seconds": time.perf_counter() - t}
    except Exception as e:  # noqa: BLE001  a crash is the finding
        return {"status": "FAILED", "reason": _reason(e), "seconds": time.perf_counter() - t}
    seconds = time.perf_counter() - t
    onnx.save(full_onnx(result), out)
    kept = next((n[len("kept float: "):].split(", ") for n in result.notes if n.startswith("kept float: ")), [])
    said = [n for n in result.notes if "allowed" in n or n.startswith("NOT SMALLER")]  # what int8 lost, what was kept
    return {"status": "ok", "seconds": seconds, "float_layers": kept, "notes": said}


def _nncf(source: Path, examples: Path, out: Path, report: Path, scored: str) -> dict:
    """NNCF's quantize_with_accuracy_control, in its own environment, on the same file and examples."""
    if not NNCF_PYTHON.exists():
        return {"status": "FAILED", "reason": f"no NNCF environment at {NNCF_PYTHON.relative_to(ROOT)} (see this script's docstring)"}
    t = time.perf_counter()
    try:
        done = subprocess.run([str(NNCF_PYTHON), str(NNCF_SIDE), str(source), str(examples), str(out), str(report),
                               "--max-drop", str(MAX_DROP), "--output", scored],
                              check=False, capture_output=True, text=True, timeout=MODEL_TIMEOUT_S, cwd=out.parent)
    except subprocess.TimeoutExpired:
        return {"status": "FAILED", "reason": f"hang: no answer in {MODEL_TIMEOUT_S} s"}
    if not report.exists():
        err = done.stderr.strip().splitlines()
        return {"status": "FAILED", "reason": f"nncf_side.py ended with code {done.returncode}: {err[-1] if err else ''}"}
    r = json.loads(report.read_text())
    r["process_seconds"] = time.perf_counter() - t  # with NNCF's imports (about a second)
    r["float_layers"] = r.pop("reverted", [])
    return r


def _measure(files: dict[str, Path], data, reference) -> dict[str, dict]:
    """Each file measured the same way: its score on the test split, its size, and its latency at batch
    1 on 1 thread; latency rounds interleave the files, so a slower spell of the machine hits them all."""
    from studio.core.evaluate.latency import latency
    from studio.core.formats.load import load_model
    from studio.core.project.recipe import step_metrics

    models = {side: load_model(str(path)) for side, path in files.items()}
    out = {}
    for side, m in models.items():
        metrics, _ = step_metrics(m, data, reference, "cpu")
        out[side] = {"score": metrics["accuracy"] if data.labeled else metrics["agreement"], "accuracy": metrics.get("accuracy"),
                     "agreement": metrics["agreement"], "cosine": metrics["cosine"], "size_bytes": files[side].stat().st_size}
    rounds = {side: [] for side in models}
    for _ in range(LATENCY_ROUNDS):
        for side, m in models.items():
            rounds[side].append(latency(m, data, 1, threads=1, runs=200, budget_s=LATENCY_BUDGET_S)["latency_ms"])
    for side in models:
        out[side].update(latency_ms=statistics.median(rounds[side]), latency_rounds_ms=rounds[side])
    return out


def _verdict(s: dict, n: dict) -> str:
    """Whether the studio's file loses no more than NNCF's, and is no larger and no slower (within
    SAME_SIZE, SAME_LATENCY); what it misses, with NNCF's numbers."""
    if "loss" not in s:
        return "no: the studio failed"
    if "loss" not in n:
        return "yes (NNCF failed)"
    misses = []
    if s["loss"] > n["loss"] + 1e-9:
        misses.append(f"loses more ({s['loss'] * 100:+.1f} vs {n['loss'] * 100:+.1f} pts)")
    if s["size_bytes"] > n["size_bytes"] * (1 + SAME_SIZE):
        misses.append(f"larger ({s['size_bytes'] / n['size_bytes']:.2f}× NNCF's)")
    if s["latency_ms"] > n["latency_ms"] * (1 + SAME_LATENCY):
        misses.append(f"slower ({s['latency_ms'] / n['latency_ms']:.2f}× NNCF's latency)")
    return "yes" if not misses else "no: " + ", ".join(misses)


# ---- the table ----------------------------------------------------------------------------------------


def _render(results: dict) -> None:
    from common import RESULTS

    versions = next((r["nncf"]["versions"] for r in results["models"].values() if r.get("nncf", {}).get("versions")), {})
    header = ["model", "metric (validation / calibration examples)", "version", "loss", "size (× float)",
              "latency b1 (speedup)", "kept float", "wall", "studio same or better?"]
    rows = []
    for name, r in results["models"].items():
        if r.get("status") != "ok":
            rows.append([name, "", "", f"FAILED: {r.get('reason', '')}", "", "", "", "", ""])
            continue
        f = r["float"]
        base = f"accuracy {f['score']:.0%}" if r["metric"] == "accuracy" else "(the reference)"
        rows.append([name, f"{r['metric']} ({r['validation']} / {r['calibration']})", "float", base, _mb(f["size_bytes"]),
                     f"{f['latency_ms']:.2f} ms", "", "", ""])
        for side, label in SIDES.items():
            m = r.get(side)
            if m is None:
                continue
            if "loss" not in m:
                rows.append(["", "", label, f"{m['status']}: {m.get('reason', '')}"[:200], "", "", "", "", ""])
                continue
            loss = f"{m['loss'] * 100:+.1f} pts" + ("" if r["metric"] == "accuracy" else f" (cos {m['cosine']:.4f})")
            rows.append(["", "", label, loss, f"{_mb(m['size_bytes'])} ({m['size_ratio']:.2f}×)",
                         f"{m['latency_ms']:.2f} ms ({m['speedup']:.2f}×)", _kept(m["float_layers"]), f"{m['seconds']:.1f} s",
                         m.get("verdict", "")])
    load = results.get("load_average_before"), results.get("load_average_after")
    lines = ["## Automatic float fallback: the studio beside NNCF's quantize_with_accuracy_control", "",
             f"Machine: {results['machine']}; nncf {versions.get('nncf', '?')} with onnxruntime {versions.get('onnxruntime', '?')} "
             "in its own environment (benchmarks/.nncf-venv)"
             + (f"; load average {load[0][0]:.1f} before the run, {load[1][0]:.1f} after (the machine is shared)." if all(load) else "."),
             "", "| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(c).replace("|", "/") for c in row) + " |" for row in rows]
    lines += ["", METHOD, "", _summary(results)]
    text = "\n".join(lines) + "\n"
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "nncf.md").write_text(text)
    print(text)


METHOD = (
    "Method: the same ONNX file of the corpus and the same examples for both. The studio runs static int8 "
    f"(`quantize(mode=\"static\", samples={SAMPLES})`: ONNX Runtime's quantize_static, QDQ, per-channel weights, MinMax, "
    "uint8 activations) with its default tolerance of 1 point: when int8 loses more on the test split (accuracy "
    "with labels, else agreement with the float model), it first keeps the activations of operators without weights "
    "float, then ranks each weighted layer by quantizing it alone and keeps the fewest most sensitive ones float that "
    "hold the loss within 1 point, for models of at most 24 weighted layers; above that it only says so, and the row "
    "`keep_float=all, max_drop=0.01` is the explicit search a user can ask for instead. "
    "NNCF runs `quantize_with_accuracy_control(max_drop=0.01, drop_type=ABSOLUTE)` (otherwise its defaults: MinMax, fast "
    "bias correction, its own placement of quantizers, restore mode activations and weights) on the same calibration "
    "examples, with a validation function that scores the same test split with the same metric per example. Both files "
    "are measured here the same way: loss = the float model's score − the quantized one's on the test split (accuracy "
    "points; or agreement with the float model's scored output: the same top class for class scores, else within 20 dB "
    "SQNR of it), the size of the .onnx file, and latency at batch 1 on one test example (ONNX Runtime CPU provider, 1 "
    f"thread, warmed, median of up to 200 calls in {LATENCY_BUDGET_S} s; the median of {LATENCY_ROUNDS} rounds that "
    "interleave the files). Wall: seconds of the quantization call (NNCF's without its imports). Verdict: yes when the "
    f"studio's loss is no larger than NNCF's, its file at most {SAME_SIZE:.0%} larger and its latency at most "
    f"{SAME_LATENCY:.0%} higher. Caveat: the corpus holds 16–32 examples a model, so the test split is 3–6 examples, one "
    "example is 17–33 points, a tolerance of 1 point means that no example may change, and both sides tune on the split "
    "they are then measured on."
)


def _summary(results: dict) -> str:
    """The verdict, and where the studio's default falls short on each count, from the numbers above."""
    done = {name: r for name, r in results["models"].items() if r.get("status") == "ok" and "loss" in r["studio"] and "loss" in r["nncf"]}
    yes = [name for name, r in done.items() if r["verdict"].startswith("yes")]
    failed = [name for name in results["models"] if name not in done]

    def where(test) -> str:
        names = [name for name, r in done.items() if test(r["studio"], r["nncf"])]
        return f"{len(names)}" + (f" ({', '.join(names)})" if names else "")

    met = [name for name, r in done.items() if r["nncf"]["loss"] <= MAX_DROP + 1e-9]
    return (f"Verdict: the studio's automatic fallback is the same or better than NNCF on {len(yes)} of {len(done)} models"
            + (f" ({', '.join(yes)})" if yes else "") + ". "
            + f"It loses more on {where(lambda s, n: s['loss'] > n['loss'] + 1e-9)}; "
            + f"its file is larger on {where(lambda s, n: s['size_bytes'] > n['size_bytes'] * (1 + SAME_SIZE))}; "
            + f"it is slower on {where(lambda s, n: s['latency_ms'] > n['latency_ms'] * (1 + SAME_LATENCY))}. "
            + f"NNCF held the loss within {MAX_DROP:.0%} on {len(met)} of {len(done)}."
            + (f" Failed on either side: {', '.join(failed)}." if failed else ""))


def _kept(layers: list[str]) -> str:
    if not layers:
        return "none"
    shown = ", ".join(layers[:3]) + (f", … ({len(layers)})" if len(layers) > 3 else "")
    return f"{len(layers)}: {shown}" if len(layers) > 1 else shown


def _mb(n: int) -> str:
    return f"{n / 1e6:.2f} MB"


def _machine() -> str:
    import platform

    import onnxruntime

    return (f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, CPU only, Python {platform.python_version()}, "
            f"studio's onnxruntime {onnxruntime.__version__}")


def _reason(e: BaseException) -> str:
    return f"{type(e).__name__}: {str(e).strip().splitlines()[0] if str(e).strip() else ''}"[:300]


if __name__ == "__main__":
    if "--probe" in sys.argv:
        sys.path.insert(0, str(ROOT))
        keep = sys.argv[sys.argv.index("--keep") + 1] if "--keep" in sys.argv else None
        print("RESULT " + json.dumps(probe(sys.argv[sys.argv.index("--probe") + 1], keep), default=float), flush=True)
    else:
        sys.path.insert(0, str(Path(__file__).parent))
        main(sys.argv)
