"""Latency in ONNX Runtime, timed on examples of the chosen data (their shapes and dtypes): a batch of
real examples, repeated when the data holds fewer; bounded in time. Without data, only a model whose
file fixes every size but the batch is timed, on random values, and the entry says so."""

from __future__ import annotations

import statistics
import time

import numpy as np

from studio.core.evaluate.data import DataSet
from studio.core.evaluate.feeds import batches, fixed_batch, random_examples
from studio.core.evaluate.runtime import home_device, ort_session, run_module
from studio.core.formats.model import Model, is_fixed

WARMUP = 2
RUNS = 20
BUDGET_S = 5.0  # timed runs stop after this long (at least MIN_RUNS of them)
MIN_RUNS = 3


def latency(model: Model, data: DataSet | None, batch: int, threads: int | None = None, runs: int = RUNS,
            budget_s: float = BUDGET_S) -> dict:
    """Median wall time of one ONNX Runtime call (CPU provider) on a batch; `skipped` says why not."""
    feed, inputs = timing_feed(model, data, batch)
    if feed is None:
        return {"skipped": inputs, "batch": batch}
    session = ort_session(model, "cpu", threads)
    names = {i.name for i in session.get_inputs()}
    feed = {k: v for k, v in feed.items() if k in names}
    times = timed(lambda: session.run(None, feed), WARMUP, runs, budget_s)
    fed = fixed_batch(model) or batch  # timing_feed built a batch of exactly this many
    return {"latency_ms": statistics.median(times), "runtime": "onnxruntime CPUExecutionProvider", "batch": fed,
            "threads": threads or session.get_session_options().intra_op_num_threads or "default", "runs": len(times),
            "input_shapes": {k: list(v.shape) for k, v in feed.items()}, "inputs": inputs}


def timing_feed(model: Model, data: DataSet | None, batch: int):
    batch = fixed_batch(model) or batch
    if data is not None:
        pool = _pool(data)
        x = pool.shaped_for(model.inputs).x
        n = len(pool)
        order = np.arange(batch) % n  # real examples, repeated to fill the batch
        x = {k: v if v.ndim == 0 else v[order] for k, v in x.items()}
        return next(batches(model, x, batch))[1], f"{min(batch, n)} example{'s' * (min(batch, n) != 1)} of {data.name}" + (" repeated" if batch > n else "")
    if not model.inputs or any(not s.shape or any(not is_fixed(d) for d in s.shape[1:]) for s in model.inputs):
        return None, "choose data: the model's input sizes are not all fixed, and latency is timed on real shapes"
    x = random_examples(model.inputs, batch)
    return next(batches(model, x, batch))[1], "random values of the declared shapes (no data chosen)"


VERSION_BUDGET_S = 0.5  # every version is timed: briefly, but with enough calls that a fast model's median is steady
VERSION_RUNS = 200
VERSION_WARMUP = 5


def version_latency(model: Model, data: DataSet, device: str = "cpu") -> dict:
    """A version's latency at batch 1 on one example of the data, in the runtime it runs in (ONNX
    Runtime for ONNX, PyTorch for a module): what the Versions table compares with the original's."""
    feed = next(batches(model, _pool(data).subset(slice(0, 1)).shaped_for(model.inputs).x, 1))[1]
    if model.onnx is not None:
        session = ort_session(model, device)
        names = {i.name for i in session.get_inputs()}
        feed = {k: v for k, v in feed.items() if k in names}
        call = lambda: session.run(None, feed)  # noqa: E731
    else:
        call = lambda: run_module(model.module, feed, device)  # noqa: E731
    home = None if model.module is None else home_device(model.module)
    try:
        times = timed(call, VERSION_WARMUP, VERSION_RUNS, VERSION_BUDGET_S)
    finally:
        if home is not None:
            model.module.to(home)  # versions live on the CPU
    return {"latency_ms": statistics.median(times), "batch": 1}


def relative_speed(metrics: dict, original: dict) -> float | None:
    """How many times faster than the original (< 1: slower), when both were timed in one runtime."""
    if "latency_ms" not in metrics or "latency_ms" not in original or metrics.get("runtime") != original.get("runtime"):
        return None
    return original["latency_ms"] / metrics["latency_ms"] if metrics["latency_ms"] > 0 else None


def timed(call, warmup: int, runs: int, budget_s: float) -> list[float]:
    """Milliseconds of each timed call: after `warmup` calls, up to `runs` of them, stopping once
    `budget_s` has passed (but never before MIN_RUNS)."""
    for _ in range(warmup):
        call()
    times, start = [], time.perf_counter()
    while len(times) < runs and (len(times) < MIN_RUNS or time.perf_counter() - start < budget_s):
        t = time.perf_counter()
        call()
        times.append((time.perf_counter() - t) * 1000)
    return times


def _pool(data: DataSet) -> DataSet:
    """The examples latency is timed on: the test split, or all of the data when it has none."""
    test = data.test()
    return test if len(test) else data
