"""Shared by the benchmark scripts: the machine line and result writing."""

from __future__ import annotations

import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"


def machine() -> str:
    import numpy
    import torch

    cpu = platform.processor() or platform.machine()
    return (
        f"{cpu}, {os.cpu_count()} cores, Python {platform.python_version()}, "
        f"torch {torch.__version__}, numpy {numpy.__version__}"
    )


def float_onnx_corpus():
    """(manifest entry, model, its data without labels) for each float ONNX model of corpus/ (scripts/make_corpus.py)."""
    from studio.core.evaluate.data import load_data
    from studio.core.formats.load import load_model

    corpus = Path(__file__).resolve().parents[1] / "corpus"
    for entry in json.loads((corpus / "manifest.json").read_text()):
        if not entry["file"].endswith(".onnx") or entry["name"].endswith("-int8"):
            continue
        model = load_model(str(corpus / entry["file"]))
        yield entry, model, load_data({"path": str(corpus / entry["data"]), "labels": "none", "output": entry.get("class_output")})


def median_time(fn, runs: int = 5) -> tuple[float, float, float]:
    """(median, min, max) seconds of fn() over runs."""
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times), min(times), max(times)


def write(name: str, title: str, header: list[str], rows: list[list], notes: str = "") -> str:
    lines = [f"## {title}", "", f"Machine: {machine()}", ""]
    lines += ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    if notes:
        lines += ["", notes]
    text = "\n".join(lines) + "\n"
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"{name}.md").write_text(text)
    print(text)
    return text


def in_fresh_process(script: str, arg: str, env: dict, timeout: int = 900) -> dict:
    """Run `script --probe arg` in a new Python process, so that each measurement starts cold, and
    return what it printed as JSON on its last line."""
    out = subprocess.run([sys.executable, script, "--probe", arg], env=env, capture_output=True, text=True, timeout=timeout)
    if out.returncode:
        raise RuntimeError(out.stderr[-2000:])
    return json.loads(out.stdout.splitlines()[-1])


def probe_or_main(probe, main) -> None:
    """A probing benchmark's entry: `script --probe ARG` prints probe(ARG) as JSON, `script` runs main()."""
    if sys.argv[1:2] == ["--probe"]:
        print(json.dumps(probe(sys.argv[2])))
    else:
        main()
