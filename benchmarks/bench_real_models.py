"""Every operation on every model of the real-model corpus (scripts/make_corpus.py): the conformance
matrix of issue 20, written to benchmarks/results/real_models.md.

Each model runs in a fresh process (a hang or a crash costs one row, not the run) through the same core
calls as `studio inspect` and `studio run`: inspect, measure on its data, magnitude prune 50 %, prune +
1 epoch of fine-tuning, dynamic int8, static int8, fp16, and the export with its latency. A cell is
`ok`, `refused` (a one-line reason from the studio, before starting or while running) or `FAILED`
(an unexpected error, a crash or a hang). Beside the quantize
cells, ONNX Runtime's `quantize_dynamic` / `quantize_static` called directly on the same file and
calibration examples; beside the export, ONNX Runtime timing the written file directly on the same
inputs (the studio's latency must be within ±25 % of it).

Run: `python scripts/make_corpus.py && python benchmarks/bench_real_models.py [--only NAME,NAME]` (--only reruns those
rows and keeps the others of the last run).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CORPUS = ROOT / "corpus"
CELLS = ["inspect", "measure", "prune", "prune+finetune", "dynamic", "static", "fp16", "export"]
MODEL_TIMEOUT_S = 1500


def main(argv: list[str]) -> None:
    from common import write

    saved = ROOT / "benchmarks" / "results" / "real_models.json"
    if "--render" in argv:  # the table again from the last run's cells, without running anything
        results = json.loads(saved.read_text())
    else:
        manifest = json.loads((CORPUS / "manifest.json").read_text())
        only = set(argv[argv.index("--only") + 1].split(",")) if "--only" in argv else None
        results = json.loads(saved.read_text()) if only and saved.exists() else {}  # --only reruns those rows
        for entry in manifest:
            if only and entry["name"] not in only:
                continue
            results[entry["name"]] = cells = _run_model(entry["name"])
            print(entry["name"], json.dumps(cells)[:400], flush=True)
        saved.write_text(json.dumps(results, indent=1))
    rows = [[name, *(_cell_text(cells.get(c)) for c in CELLS)] for name, cells in results.items()]
    counts = {k: sum(1 for cells in results.values() for c in cells.values() if c["status"] == k) for k in ("ok", "refused", "FAILED")}
    total = sum(counts.values())
    during = sum(1 for cells in results.values() for c in cells.values() if c["status"] == "refused" and "while running" in c.get("reason", ""))
    flagged = sum(1 for cells in results.values() for c in cells.values() if c["status"] == "ok" and _flags(c))
    notes = (f"{total} cells: {counts['ok']} ok ({counts['ok'] / max(total, 1):.0%}; {flagged} of them flagged LESS FAITHFUL, LARGER or "
             f"SLOWER than the source), {counts['refused']} refused with the studio's one-line reason ({counts['refused'] - during} before "
             f"starting, {during} while running), {counts['FAILED']} failed (an unexpected error, a crash or a hang). Times are wall seconds of the cell (load and data excluded); `direct` is ONNX Runtime's "
             "quantize_* called on the same file and calibration examples. Export: the studio's latency at batch 1 / ORT timing the "
             "written file directly on the same inputs. Size ratios are to the source's ONNX file. Data: each model's data.npz "
             "(real photos, rendered text, files' bytes, synthetic tones and speech-like audio).")
    write("real_models", "Real-model corpus: every operation on every model", ["model", *CELLS], rows, notes)


def _run_model(name: str) -> dict:
    env = dict(os.environ, OMP_NUM_THREADS=str(os.cpu_count() or 1))
    try:
        out = subprocess.run([sys.executable, __file__, "--probe", name], capture_output=True, text=True,
                             timeout=MODEL_TIMEOUT_S, env=env)
        stdout, err = out.stdout, out.stderr
        died = f"process ended with code {out.returncode}: {err.strip().splitlines()[-1] if err.strip() else ''}" if out.returncode else ""
    except subprocess.TimeoutExpired as e:
        stdout = e.stdout.decode() if isinstance(e.stdout, bytes) else (e.stdout or "")
        died = f"hang: no answer in {MODEL_TIMEOUT_S} s"
    cells = {}
    for line in stdout.splitlines():
        if line.startswith("CELL "):
            cell = json.loads(line[5:])
            cells[cell.pop("cell")] = cell
    for c in CELLS:
        if c not in cells and died:
            cells[c] = {"status": "FAILED", "reason": died}
    return cells


def _cell_text(cell: dict | None) -> str:
    if cell is None:
        return "–"
    if cell["status"] == "ok":
        return "ok " + cell.get("text", "") + "".join(f" **{flag}**" for flag in _flags(cell))
    return f"{cell['status']}: {cell.get('reason', '')[:140]}".replace("|", "/")


# ---- the probe: one model, every cell -----------------------------------------------------------------


def probe(name: str) -> None:
    import numpy as np

    from studio.core.errors import StudioError
    from studio.core.evaluate.data import load_data
    from studio.core.formats.load import load_model
    from studio.core.inspect.summary import summarize
    from studio.core.process.jobs import NO_CANCEL
    from studio.core.project.recipe import StepResult, step_metrics
    from studio.core.project.steps import OPS, Context

    entry = next(e for e in json.loads((CORPUS / "manifest.json").read_text()) if e["name"] == name)
    if entry.get("trust"):
        _torchvision_stand_in()

    def emit(cell, status, started, **more):
        print("CELL " + json.dumps({"cell": cell, "status": status, "s": round(time.perf_counter() - started, 2), **more}), flush=True)

    t = time.perf_counter()
    try:
        model = load_model(str(CORPUS / entry["file"]), trust=bool(entry.get("trust")), input_shape=entry.get("input_shape"))
        summary = summarize(model)
        emit("inspect", "ok", t, text=f"{summary['parameters']:,} params", parameters=summary["parameters"])
    except StudioError as e:
        emit("inspect", "refused", t, reason=str(e))
        return
    except Exception as e:  # noqa: BLE001  a cell that fails is the finding
        emit("inspect", "FAILED", t, reason=f"{type(e).__name__}: {e}")
        return
    with np.load(CORPUS / entry["data"]) as f:
        labeled = "y" in f.files
    output = entry.get("class_output")
    names = [o["name"] for o in entry["outputs"]]
    if output and output not in [o.name for o in model.outputs] and len(model.outputs) == len(names):
        output = model.outputs[names.index(output)].name  # a pickled module's outputs are named by position here
    spec = {"path": str(CORPUS / entry["data"]), "labels": "yes" if labeled else "none", "output": output}
    t = time.perf_counter()
    try:
        data = load_data(spec)
        metrics, logits = step_metrics(model, data, None, "cpu")
        emit("measure", "ok", t, text=_metric_text(metrics), metrics=_plain(metrics))
    except Exception as e:  # noqa: BLE001
        emit("measure", "refused" if isinstance(e, StudioError) else "FAILED", t, reason=_reason(e))
        return
    base = StepResult("load", {}, "original", model, metrics, logits)
    ctx = Context(data, "cpu", NO_CANCEL, original=model)
    source_size = _onnx_size(model)
    plans = {
        "prune": [("prune", {"method": "magnitude", "sparsity": 0.5})],
        "prune+finetune": [("prune", {"method": "magnitude", "sparsity": 0.5}), ("finetune", {"epochs": 1})],
        "dynamic": [("quantize", {"mode": "dynamic"})],
        "static": [("quantize", {"mode": "static", "samples": 64})],
        "fp16": [("quantize", {"mode": "fp16"})],
    }
    calls = _record_ort_calls()
    for cell, steps in plans.items():
        calls.clear()
        t = time.perf_counter()
        status, result, reason, op_s = _run_steps(base, steps, ctx, OPS)
        studio_s = time.perf_counter() - t
        if status != "ok":
            emit(cell, status, t, reason=reason)
            continue
        m = result.metrics
        size = _onnx_size(result.model)
        text = _metric_text(m) + (f", {size / source_size:.2f}× size" if source_size and size else "")
        extra = {"op_s": round(op_s, 2)}
        if cell in ("dynamic", "static") and model.onnx is not None:
            extra["direct_s"] = _direct_quantize(CORPUS / entry["file"], cell, data, model)
            extra["direct_calls_s"], extra["calls"] = _replay(calls, data, model), len(calls)
            if extra["direct_s"]:
                same = f"; the same {len(calls)} calls direct {extra['direct_calls_s']:.2f} s" if len(calls) > 1 else ""
                text += f", quantize {op_s:.2f} s (direct {extra['direct_s']:.2f} s{same}) + measure {studio_s - op_s:.1f} s"
        print("CELL " + json.dumps({"cell": cell, "status": "ok", "s": round(studio_s, 2), "text": text, "metrics": _plain(m),
                                    "size_ratio": size / source_size if source_size and size else None, **extra}), flush=True)
    t = time.perf_counter()
    try:
        text, more = _export(model, data)
        emit("export", "ok", t, text=text, **more)
    except Exception as e:  # noqa: BLE001
        emit("export", "refused" if isinstance(e, StudioError) else "FAILED", t, reason=str(e) if isinstance(e, StudioError) else _reason(e))


def _run_steps(base, steps, ctx, OPS):
    from studio.core.errors import StudioError
    from studio.core.process.jobs import run_to_end
    from studio.core.project.recipe import run_step

    """(status, result, reason, seconds of the operations themselves: up to each step's "measuring the new
    version", so without the accuracy and latency measured after it)."""
    caps = base.model.capabilities()
    need = {"prune": "prune_unstructured", "finetune": "finetune", "quantize": "quantize"}
    result, op_s = base, 0.0
    for op, options in steps:
        allowed = caps[need[op]]
        if not allowed.allowed:
            return "refused", None, f"{op}: {allowed.reason}", 0.0
        started, t = [], time.perf_counter()

        def seen(p, started=started, t=t):
            if p.message == "measuring the new version" and not any(isinstance(x, float) for x in started):
                started.append(time.perf_counter() - t)
            started.append(p)

        try:
            job = run_step(result, op, OPS[op].validate(op, options), ctx)
            result = run_to_end(job, seen)
        except StudioError as e:  # a one-line reason from the studio: refused, before or while it ran
            return "refused", None, ("" if not started else "while running: ") + str(e), 0.0
        except Exception as e:  # noqa: BLE001
            return "FAILED", None, _reason(e), 0.0
        op_s += next((x for x in started if isinstance(x, float)), time.perf_counter() - t)
        caps = result.model.capabilities()
    return "ok", result, "", op_s


def _export(model, data) -> tuple[str, dict]:
    import numpy as np
    import onnxruntime as ort

    from studio.core.deliver.deploy import export_version
    from studio.core.process.jobs import run_to_end

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "model.onnx"
        out = run_to_end(export_version(model, path, data, original=model))
        m = out["metrics"]
        lat = m["latency"][0]
        if "latency_ms" not in lat:
            return f"latency not measured: {lat.get('skipped')}", {"metrics": _plain(m)}
        # ONNX Runtime timing the written file directly, on the same inputs (the studio's feed rebuilt)
        from studio.core.evaluate.latency import timing_feed
        from studio.core.formats.load import load_model

        exported = load_model(str(path))
        feed, _ = timing_feed(exported, data, lat["batch"])
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = lat["threads"] if isinstance(lat["threads"], int) else 0
        session = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
        feed = {k: v for k, v in feed.items() if k in {i.name for i in session.get_inputs()}}
        for _ in range(2):
            session.run(None, feed)
        times = []
        for _ in range(lat.get("runs", 20)):
            t = time.perf_counter()
            session.run(None, feed)
            times.append((time.perf_counter() - t) * 1000)
        direct = statistics.median(times)
        ratio = lat["latency_ms"] / direct
        text = f"{out['size_bytes'] / 1e6:.1f} MB, {lat['latency_ms']:.2f} ms at batch {lat['batch']} / direct {direct:.2f} ms ({ratio:.2f}×)"
        return text, {"metrics": _plain(m), "direct_ms": direct, "latency_ratio": ratio, "shapes": {k: list(np.shape(v)) for k, v in feed.items()}}


def _record_ort_calls() -> list:
    """The ONNX Runtime quantizer calls the studio makes (its float fallback may make several, and its
    static int8 quantizes again when some ranges reach -inf's stand-in): each one's input file (copied:
    the studio's folder is temporary), settings and the nodes it kept float, for _replay."""
    from dataclasses import replace

    import onnxruntime.quantization as ort_quantization

    from studio.core.compress import quantize_ort

    calls, keep, current = [], Path(tempfile.mkdtemp(prefix="bench-calls-")), {}
    for name, mode in list(quantize_ort.MODES.items()):
        def run(src, dst, s, exclude, reader, _run=mode.run, _name=name):
            copy = keep / f"{len(calls)}-{src.name}"
            copy.write_bytes(Path(src).read_bytes())
            current.update(mode=_name, src=copy, s=s)
            before = len(calls)
            try:
                return _run(src, dst, s, exclude, reader)
            finally:
                if len(calls) == before:  # a mode without quantize_static/_dynamic (fp16, weights-only): one call
                    calls.append((_name, copy, s, list(exclude)))

        quantize_ort.MODES[name] = replace(mode, run=run)

    def spy(library_call):
        def call(*args, **kwargs):
            calls.append((current["mode"], current["src"], current["s"], list(kwargs.get("nodes_to_exclude") or [])))
            return library_call(*args, **kwargs)
        return call

    # quantize_ort imports these inside its functions, so it calls the spies
    ort_quantization.quantize_static = spy(ort_quantization.quantize_static)
    ort_quantization.quantize_dynamic = spy(ort_quantization.quantize_dynamic)
    return calls


def _replay(calls: list, data, model) -> float:
    """Seconds for ONNX Runtime's quantize_* called directly with the arguments of each call the studio
    made, in order, with ORT's own calibration cache (ranges of one file, method and sample count are
    computed once, as the studio does): the library's share of the work, without the studio's. A call
    that fails (the studio then retries with a safer setting) counts the time it took."""
    total = 0.0
    with tempfile.TemporaryDirectory() as tmp, contextlib.chdir(tmp):
        for i, (mode, src, s, exclude) in enumerate(calls):
            t = time.perf_counter()
            with contextlib.suppress(Exception):
                _direct_call(mode, src, Path(tmp) / f"q{i}.onnx", s, exclude, data, model, Path(tmp))
            total += time.perf_counter() - t
    return total


def _direct_call(mode: str, src: Path, out: Path, s, exclude: list[str], data, model, tmp: Path) -> None:
    from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType
    from onnxruntime.quantization.quantize import quantize_dynamic, quantize_static  # the library's own, not _record_ort_calls' spies

    from studio.core.compress.quantize_ort import WEIGHTED_OPS

    if mode == "dynamic":
        quantize_dynamic(str(src), str(out), per_channel=s.per_channel, weight_type=QuantType.QInt8, nodes_to_exclude=exclude)
    elif mode == "static":
        ops = None if s.weightless else sorted(WEIGHTED_OPS)
        key = f"{hashlib.sha1(src.read_bytes()).hexdigest()}-{s.calibration}-{s.samples}"
        every = tmp / f"{key}-all.json"  # ranges of every operator cover the weighted ones
        cache = every if ops is None or every.exists() else tmp / f"{key}-weighted.json"
        method = {"minmax": CalibrationMethod.MinMax, "entropy": CalibrationMethod.Entropy,
                  "percentile": CalibrationMethod.Percentile}[s.calibration]
        quantize_static(str(src), str(out), _Reader(data, model, s.samples), quant_format=QuantFormat.QDQ,
                        per_channel=s.per_channel, calibrate_method=method, activation_type=QuantType.QUInt8,
                        weight_type=QuantType.QInt8, nodes_to_exclude=exclude, op_types_to_quantize=ops,
                        calibration_cache_path=str(cache))


class _Reader:
    """Calibration batches of 32 from the first n train examples, as the studio feeds ORT."""

    def __init__(self, data, model, n: int):
        from studio.core.evaluate.feeds import batches

        train = data.train().shaped_for(model.inputs)
        x = {k: v if v.ndim == 0 else v[:n] for k, v in train.x.items()}
        self.feeds = iter([feed for _, feed in batches(model, x, 32)])

    def get_next(self):
        return next(self.feeds, None)


def _direct_quantize(path: Path, mode: str, data, model) -> float | None:
    """Seconds for one ONNX Runtime quantize_* call on the source file with the settings of the studio's
    first attempt (per-channel int8 weights; static: QDQ, MinMax on the same 64 calibration examples,
    uint8 activations, every operator); None when that call fails."""
    from studio.core.compress.quantize_ort import Settings

    with tempfile.TemporaryDirectory() as tmp, contextlib.chdir(tmp):  # ORT may leave debug files in the working folder
        t = time.perf_counter()
        try:
            _direct_call(mode, path, Path(tmp) / "q.onnx", Settings(mode, samples=64), [], data, model, Path(tmp))
        except Exception:  # noqa: BLE001
            return None
        return time.perf_counter() - t


def _onnx_size(model) -> int | None:
    return model.size_bytes if model.onnx is not None else None


def _metric_text(m: dict) -> str:
    parts = []
    if "accuracy" in m:
        parts.append(f"acc {m['accuracy']:.1%}")
    if "agreement" in m:
        parts.append(f"agree {m['agreement']:.1%}, cos {m['cosine']:.4f}")
    return ", ".join(parts)


def _flags(cell: dict) -> list[str]:
    """What makes an operation that ran a worse model than its source, said in the table."""
    m, flags = cell.get("metrics", {}), []
    if "agreement" in m and m["agreement"] < 0.9:
        flags.append("LESS FAITHFUL")
    if (cell.get("size_ratio") or 0) > 1.05:
        flags.append("LARGER")
    if cell.get("latency_ratio") and "speedup" in m and m["speedup"] and m["speedup"] < 1 / 1.05:
        flags.append("SLOWER")
    return flags


def _plain(m: dict) -> dict:
    return json.loads(json.dumps(m, default=str))


def _reason(e: BaseException) -> str:
    return f"{type(e).__name__}: {str(e).strip().splitlines()[0] if str(e).strip() else ''}"[:300]


def _stand_in_attribute(attr: str):
    if attr.startswith("__"):
        raise AttributeError(attr)
    return lambda *a, **k: None


def _torchvision_stand_in() -> None:
    """The pickled MTCNN modules import facenet_pytorch, which imports torchvision at its top; a user of
    that package has torchvision, this machine's torch cannot import it: an empty stand-in serves."""
    import types

    for name in ("torchvision", "torchvision.transforms", "torchvision.transforms.functional", "torchvision.ops", "torchvision.ops.boxes"):
        module = types.ModuleType(name)
        module.__getattr__ = _stand_in_attribute
        sys.modules.setdefault(name, module)


if __name__ == "__main__":
    if "--probe" in sys.argv:
        sys.path.insert(0, str(ROOT))
        probe(sys.argv[sys.argv.index("--probe") + 1])
    else:
        sys.path.insert(0, str(Path(__file__).parent))
        main(sys.argv)
