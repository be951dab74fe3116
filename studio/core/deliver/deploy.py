"""Export a version as a deployable ONNX file, measure what that file does in ONNX Runtime, check it
against the version it came from, and write a model card beside it (NAME.card.json, NAME.card.md).

Everything is measured on the exact bytes that are written, and every file of an export is written
at once at the end: a failure anywhere leaves the files already at the target as they were."""

from __future__ import annotations

import hashlib
import json
import os
import platform
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import onnx
import onnxruntime
import torch

import studio
from studio.core.compress.saturation import eight_bit_weights, saturates
from studio.core.deliver.export import onnx_files, sparse_initializers, write_checked, zip_path
from studio.core.deliver.verdict import latency_lines
from studio.core.evaluate.data import DataSet
from studio.core.evaluate.feeds import random_examples
from studio.core.evaluate.latency import BUDGET_S, latency
from studio.core.evaluate.measure import zipped
from studio.core.evaluate.metrics import evaluate, scored
from studio.core.evaluate.runtime import predict_outputs, runtime_name
from studio.core.formats.model import Model
from studio.core.formats.to_onnx import to_onnx
from studio.core.process.jobs import NO_CANCEL, CancelToken, Job, Progress

# The options of a step that mean something only beside one value of another option: the method or
# mode they belong to (see the fields of studio/core/project/steps.py OPS). The card lists a step's
# options without the ones its choice ignores: no 4 bits for static int8, no channel ratio for a
# magnitude prune.
ONLY_WITH = {
    "prune": {"sparsity": ("method", ("magnitude",)), "scope": ("method", ("magnitude",)),
              "layers": ("method", ("magnitude",)), "schedule": ("method", ("magnitude",)),
              "epochs": ("schedule", ("gradual",)), "lr": ("schedule", ("gradual",)),
              "ratio": ("method", ("channels",)), "round_to": ("method", ("channels",))},
    "quantize": {"calibration": ("mode", ("static",)), "samples": ("mode", ("static", "qat")),
                 "per_channel": ("mode", ("dynamic", "static")), "bits": ("mode", ("weights-only", "qat")),
                 "epochs": ("mode", ("qat",)), "lr": ("mode", ("qat",)),
                 "max_drop": ("keep_float", None)},  # None: any value but 0
}
LATENCY_BATCHES = (1, 256)
LATENCY_THREADS = os.cpu_count() or 1
PARITY_EXAMPLES = 256


def export_version(model: Model, path: Path, data: DataSet | None, device: str = "cpu", *, opset: int = 17,
                   with_zip: bool = False, sparse: bool = False, steps: list | None = None,
                   original: Model | None = None, cancel: CancelToken = NO_CANCEL) -> Job[dict]:
    """`steps`: the recipe steps that made this version, for the card; `original`: the version they
    started from, to state the export's fidelity to it."""
    yield Progress(0, 4, "exporting to ONNX")
    example = None if data is None else data.example_for(model.inputs)
    dense = to_onnx(model, opset, example)
    exported = sparse_initializers(dense) if sparse else dense
    cancel.check()
    yield Progress(1, 4, "checking the file against the version it came from")
    metrics: dict = {"parity": parity(model, exported, data, device)}
    if data is not None:
        test = data.test()
        reference = None if original is None else scored(original, test, device)[0]
        metrics.update(evaluate(exported, test, device, reference))
    cancel.check()
    # the source is timed the same way in the same run: the export's speed-up is measured, not assumed
    start = original if original is not None else model
    # exporting the version it started from: the export is its own source, exported and timed once
    source = dense if start is model else to_onnx(start, opset, None if data is None else data.example_for(start.inputs))
    metrics["source_size_bytes"] = start.size_bytes if start.onnx is not None else source.onnx.ByteSize()  # as a file
    for i, b in enumerate(LATENCY_BATCHES):
        yield Progress(2 + i / len(LATENCY_BATCHES), 4, f"measuring latency in ONNX Runtime at batch {b} "
                       f"(at most {4 * BUDGET_S:.0f} s)")
        timed = latency(exported, data, b, LATENCY_THREADS)
        metrics.setdefault("latency", []).append(timed)
        metrics.setdefault("source_latency", []).append(timed if source is dense else latency(source, data, b, LATENCY_THREADS))
        cancel.check()
    metrics["speedup"] = speedup(metrics["source_latency"], metrics["latency"])
    yield Progress(3, 4, f"writing {path.name}")
    files = onnx_files(exported, path, with_zip)
    zipped_file = files[zip_path(path)] if with_zip else zipped(path.name, files[path])
    card = model_card(model, exported, files[path], len(zipped_file), path, data, metrics, steps, device, original, opset)
    json_path, md_path = card_paths(path)
    files[json_path] = (json.dumps(card, indent=2) + "\n").encode()
    files[md_path] = card_markdown(card).encode()
    write_checked(files, path)
    out = {"path": str(path), "size_bytes": len(files[path]), "card": str(json_path), "card_md": str(md_path)}
    if with_zip:
        out.update(zip_path=str(zip_path(path)), zip_bytes=len(files[zip_path(path)]))
    out["metrics"] = metrics
    yield Progress(4, 4, f"exported {path.name}", {"size_bytes": out["size_bytes"]})
    return out


def parity(source: Model, exported: Model, data: DataSet | None, device: str = "cpu") -> dict:
    """How closely the exported file follows its source on the same inputs: the source in its own
    runtime (PyTorch for a module), the file in ONNX Runtime."""
    if data is not None:
        test = data.test().subset(slice(0, PARITY_EXAMPLES))
        x, inputs = test.shaped_for(source.inputs).x, f"{len(test)} examples of the test split of {data.name}"
    else:
        x, inputs = random_examples(source.inputs, 8), "8 random examples (no data chosen)"
    references = predict_outputs(source, x, device)
    outs = predict_outputs(exported, x, device)
    out, reference = outs[0], references[0]
    return {
        "max_abs_diff": max(float(np.abs(o.astype(np.float64) - r).max()) for o, r in zip(outs, references)),
        "top1_agreement": float((out.reshape(len(out), -1).argmax(1) == reference.reshape(len(out), -1).argmax(1)).mean()),
        "inputs": inputs,
        "reference": runtime_name(source, device),
        "runtime": runtime_name(exported, device),
    }


def speedup(source: list[dict], exported: list[dict]) -> float | None:
    """How many times faster the export runs than its source at the largest batch both timed (< 1: slower)."""
    pairs = [(s["latency_ms"], e["latency_ms"]) for s, e in zip(source, exported) if "latency_ms" in s and "latency_ms" in e]
    return pairs[-1][0] / pairs[-1][1] if pairs and pairs[-1][1] > 0 else None


def card_paths(path: Path) -> tuple[Path, Path]:
    return path.with_name(path.stem + ".card.json"), path.with_name(path.stem + ".card.md")


def model_card(version: Model, exported: Model, blob: bytes, zip_bytes: int, path: Path, data: DataSet | None, metrics: dict,
               steps: list | None, device: str, original: Model | None = None, opset: int | None = None) -> dict:
    """`version`: the version exported; `original`: the model its steps started from, the card's source
    (a quantized version of a PyTorch model is itself ONNX, its source is not); `opset`: the one asked for."""
    source = original if original is not None else version
    written = file_opset(exported)
    card = {
        "name": path.stem,
        "file": path.name,
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "source": source.source,
        "source_format": source.format.label,
        "steps": [{op: used_options(op, options) for op, options in step.items()} for step in steps or []],
        "size_bytes": len(blob),
        "zip_bytes": zip_bytes,
        "sha256": hashlib.sha256(blob).hexdigest(),
        "sparse_initializers": len(exported.onnx.graph.sparse_initializer),
        "opset": written,
    }
    if opset is not None and opset != written:  # an ONNX version is written with its own; the exporter may need a newer one
        card["opset_asked"] = opset
        onnx_made = version.onnx is not None or version.origin is not None  # an ONNX graph, or trained weights put back into one
        card["opset_why"] = "an ONNX version is written with the opset it has" if onnx_made else f"PyTorch's exporter wrote opset {written}"
    return card | {
        "inputs": [s.to_json() for s in exported.inputs],
        "outputs": [s.to_json() for s in exported.outputs],
        "data": None if data is None else data.name,
        "metrics": metrics,
        "runtime": runtime_name(exported, device),
        "versions": library_versions(),
        "notes": list(exported.notes) + _saturation_note(exported),
    }


def _saturation_note(exported: Model) -> list[str]:
    if not eight_bit_weights(exported.onnx):
        return []
    if saturates():
        return ["its int8 weights use 8 bits, on which ONNX Runtime's int8 kernels on this CPU (x86 without VNNI) saturate: the "
                "measurements above include that"]
    return ["its int8 weights use 8 bits: on x86 CPUs without VNNI (AVX2) ONNX Runtime's int8 kernels saturate on them and it "
            "may lose accuracy there (measured above on a CPU whose kernels do not); static int8 made on such a CPU rounds weights "
            "to 7 bits"]


def file_opset(model: Model) -> int | None:
    """The ONNX operator set the file's standard operators are written in."""
    return next((o.version for o in model.onnx.opset_import if o.domain in ("", "ai.onnx")), None)


def used_options(op: str, options: dict) -> dict:
    """A step's options without those its method or mode ignores (ONLY_WITH) and those left unset."""
    used = {}
    for key, value in options.items():
        if value is None or value == [] or value == {}:
            continue
        owner, values = ONLY_WITH.get(op, {}).get(key, (None, None))
        if owner is not None and owner in options and (not options[owner] if values is None else options[owner] not in values):
            continue
        used[key] = value
    return used


def steps_text(steps: list) -> str:
    """The steps in words: "prune (method magnitude, sparsity 0.5); finetune (epochs 1)"."""
    def options(opts: dict) -> str:
        return ", ".join(f"{k} {v}" for k, v in opts.items())

    return "; ".join(f"{op} ({options(opts)})" if opts else op for step in steps for op, opts in step.items()) or "none"


def library_versions() -> dict[str, str]:
    return {"studio": studio.__version__, "torch": torch.__version__, "onnx": onnx.__version__,
            "onnxruntime": onnxruntime.__version__, "numpy": np.__version__, "python": platform.python_version()}


def card_markdown(card: dict) -> str:
    m = card["metrics"]
    p = m["parity"]
    rows = [
        ("source", f"{card['source']} ({card['source_format']})"),
        ("steps", steps_text(card["steps"])),
        ("size", f"{card['size_bytes']:,} bytes ({card['zip_bytes']:,} zipped)"),
        ("data", card["data"] or "none chosen"),
    ]
    if "accuracy" in m:
        rows.append(("accuracy", f"{m['accuracy']:.2%} on the test split"))
    if "agreement" in m:
        rows.append(("fidelity to the original", f"top-1 agreement {m['agreement']:.2%}, cosine {m['cosine']:.5f}, SQNR {m['sqnr_db']:.1f} dB"))
    rows.append(("parity with the source", f"max abs difference {p['max_abs_diff']:.2e}, top-1 agreement {p['top1_agreement']:.2%} "
                                            f"({p['reference']} vs {p['runtime']}, {p['inputs']})"))
    rows += latency_lines(m)
    opset = str(card["opset"]) + (f" ({card['opset_asked']} was asked; {card['opset_why']})" if "opset_asked" in card else "")
    rows += [("runtime", card["runtime"]), ("opset", opset),
             ("libraries", ", ".join(f"{k} {v}" for k, v in card["versions"].items())), ("sha256", card["sha256"])]
    if card["sparse_initializers"]:
        rows.append(("storage", f"{card['sparse_initializers']} weights stored sparse; ONNX Runtime densifies them when it loads the file"))
    lines = [f"# {card['name']}", "", f"`{card['file']}`, exported {card['created']}.", "", "| | |", "|---|---|"]
    lines += [f"| {k} | {v} |" for k, v in rows]
    if card["notes"]:
        lines += ["", "Notes:", *[f"- {n}" for n in card["notes"]]]
    return "\n".join(lines) + "\n"
