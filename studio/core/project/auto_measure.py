"""What the automatic search measures, always on ONNX files in ONNX Runtime (the runtime they will run
in): a candidate's size against the fp32 ONNX export of the original, its accuracy (or agreement with the
original without labels) on the test split, and its speed timed beside that export.

Speed is timed beside the original, short blocks of calls of each in turn: on a shared machine the load
changes from second to second, and two medians taken at different moments compare the moments, not the
models. The ratio of medians taken together holds stiller."""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass, field

import numpy as np

from studio.core.deliver.deploy import LATENCY_THREADS
from studio.core.evaluate.data import DataSet
from studio.core.evaluate.latency import timing_feed
from studio.core.evaluate.measure import zipped
from studio.core.evaluate.metrics import accuracy, fidelity, is_embedding, scored
from studio.core.evaluate.runtime import ort_session, runtime_name
from studio.core.formats.load_onnx import full_onnx
from studio.core.formats.model import Model
from studio.core.formats.to_onnx import DEFAULT_OPSET, to_onnx

PAIRED_BUDGET_S = 0.6  # timing one candidate beside the original stops after this long…
PAIRED_RUNS = 200  # …or after this many pairs of calls
MIN_PAIRS = 3
WARMUP = 2
BLOCK_S = 0.02  # calls of one model in a row: about this long…
BLOCK_MAX = 20  # …and at most this many
SLOW_CALL_S = 0.005  # calls longer than this are timed one of each in turn


@dataclass
class Reference:
    """The original as the search compares every candidate with it: its fp32 ONNX export."""

    model: Model  # as loaded
    onnx: Model  # its fp32 ONNX export (itself when it is ONNX)
    size_bytes: int
    zip_bytes: int
    metric: str  # "accuracy" with labels, "agreement" with the original without
    score: float  # the export's accuracy, or 1.0 (it agrees with itself)
    outputs: list[np.ndarray]  # the export's outputs on the test split, the class output first
    calls: dict = field(default_factory=dict, repr=False)  # batch → a timed call of the export (sessions are slow to make)

    def metrics(self) -> dict:
        """The original's own entry among the candidates: 1× smaller and faster, nothing lost."""
        return {"size_bytes": self.size_bytes, "zip_bytes": self.zip_bytes, "smaller": 1.0, "speedup": 1.0, "drop": 0.0,
                self.metric: self.score}


def as_onnx(model: Model, data: DataSet) -> Model:
    """The version as the ONNX file it would be exported as (itself when already ONNX)."""
    return to_onnx(model, DEFAULT_OPSET, data.example_for(model.inputs))


def file_sizes(model: Model) -> tuple[int, int]:
    """Bytes of the ONNX file, and of it zipped."""
    blob = full_onnx(model).SerializeToString()
    return len(blob), len(zipped("model.onnx", blob))


def reference(original: Model, data: DataSet, device: str = "cpu") -> Reference:
    exported = as_onnx(original, data)
    size, zipped_size = file_sizes(exported)
    test = data.test()
    outputs, _ = scored(exported, test, device)
    metric = "accuracy" if test.labeled else "agreement"
    score = accuracy(outputs[0], test.y) if test.labeled else 1.0
    return Reference(original, exported, size, zipped_size, metric, score, outputs)


def measure(candidate: Model, ref: Reference, data: DataSet, size_basis: str, device: str = "cpu") -> dict:
    """Size and accuracy of an ONNX candidate against the reference (speed is timed apart: `speed`)."""
    size, zipped_size = file_sizes(candidate)
    outputs, index = scored(candidate, data.test(), device)
    out = {"size_bytes": size, "zip_bytes": zipped_size,
           "smaller": (ref.zip_bytes / zipped_size) if size_basis == "zip" else (ref.size_bytes / size),
           "runtime": runtime_name(candidate, device)}
    agreement = fidelity(outputs, ref.outputs, not is_embedding(candidate, index))["agreement"]
    if ref.metric == "accuracy":
        out["accuracy"] = accuracy(outputs[0], data.test().y)
        out["drop"] = (ref.score - out["accuracy"]) * 100
    else:
        out["drop"] = (1.0 - agreement) * 100
    out["agreement"] = agreement
    return out


def speed(candidate: Model, ref: Reference, data: DataSet, batch: int) -> dict:
    """The candidate timed beside the original's export, call for call, at `batch` on examples of the data."""
    if batch not in ref.calls:
        ref.calls[batch] = _call(ref.onnx, data, batch)
    mine, theirs = paired(_call(candidate, data, batch), ref.calls[batch])
    return {"latency_ms": mine, "source_latency_ms": theirs, "speedup": theirs / mine if mine > 0 else None, "batch": batch,
            "threads": LATENCY_THREADS}


def _call(model: Model, data: DataSet, batch: int):
    feed, why = timing_feed(model, data, batch)
    if feed is None:
        raise ValueError(why)
    session = ort_session(model, "cpu", LATENCY_THREADS)
    names = {i.name for i in session.get_inputs()}
    feed = {k: v for k, v in feed.items() if k in names}
    return lambda: session.run(None, feed)


def paired(a, b, budget_s: float = PAIRED_BUDGET_S, runs: int = PAIRED_RUNS) -> tuple[float, float]:
    """Median milliseconds of two calls timed in turn, in short blocks of each: a session's idle threads
    spin for a while after its call, and a call of the other session right then is slowed by them (per
    call in turn, a 5× faster model measured 2.4×). The first call of each block is not timed."""
    warm = []
    for _ in range(WARMUP):
        for call in (a, b):
            t = time.perf_counter()
            call()
            warm.append(time.perf_counter() - t)
    slow = min(warm) > SLOW_CALL_S  # spinning threads are nothing beside calls this long
    block = 1 if slow else min(BLOCK_MAX, max(2, int(BLOCK_S / max(min(warm), 1e-6))))
    times: tuple[list, list] = ([], [])
    start = time.perf_counter()
    while len(times[0]) < runs and (len(times[0]) < MIN_PAIRS or time.perf_counter() - start < budget_s):
        for call, out in zip((a, b), times):
            if not slow:
                call()
            for _ in range(block):
                t = time.perf_counter()
                call()
                out.append((time.perf_counter() - t) * 1000)
    return statistics.median(times[0]), statistics.median(times[1])
