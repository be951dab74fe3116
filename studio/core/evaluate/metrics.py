"""Accuracy with labels; fidelity to a reference without them (agreement, cosine, SQNR); latency."""

from __future__ import annotations

import statistics
import time

import numpy as np

from studio.core.evaluate.data import DataSet
from studio.core.formats.model import Model
from studio.core.evaluate.runtime import ort_session, predict, runtime_name


def accuracy(logits: np.ndarray, labels: np.ndarray) -> float:
    return float((logits.argmax(axis=1) == labels).mean())


def fidelity(logits: np.ndarray, reference: np.ndarray) -> dict[str, float]:
    """How closely outputs follow the reference's: top-1 agreement, mean cosine, SQNR in dB."""
    a, r = logits.reshape(len(logits), -1).astype(np.float64), reference.reshape(len(reference), -1).astype(np.float64)
    cos = (a * r).sum(1) / np.maximum(np.linalg.norm(a, axis=1) * np.linalg.norm(r, axis=1), 1e-12)
    noise = np.sum((a - r) ** 2)
    sqnr = 10 * np.log10(np.sum(r**2) / noise) if noise > 0 else float("inf")
    return {"agreement": float((a.argmax(1) == r.argmax(1)).mean()), "cosine": float(cos.mean()), "sqnr_db": float(sqnr)}


def evaluate(model: Model, data: DataSet, device: str = "cpu", reference: np.ndarray | None = None) -> dict:
    """Accuracy on labelled data, fidelity to `reference` logits when given; both name the runtime."""
    logits = predict(model, data.shaped_for(model.inputs).x, device)
    out: dict = {"runtime": runtime_name(model, device)}
    if data.labeled:
        out["accuracy"] = accuracy(logits, data.y)
    if reference is not None:
        out.update(fidelity(logits, reference))
    return out


def onnx_latency_ms(model: Model, batch: int, runs: int = 20, threads: int | None = None) -> dict:
    """Median wall time of one ONNX Runtime call on a batch of zeros (CPU provider)."""
    session = ort_session(model, "cpu", threads)
    feed = {}
    for i in session.get_inputs():
        shape = [batch if k == 0 or not isinstance(d, int) else d for k, d in enumerate(i.shape)]
        feed[i.name] = np.zeros(shape, np.float32)
    for _ in range(3):
        session.run(None, feed)
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        session.run(None, feed)
        times.append((time.perf_counter() - t) * 1000)
    return {"latency_ms": statistics.median(times), "runtime": "onnxruntime CPUExecutionProvider", "batch": batch,
            "threads": threads or session.get_session_options().intra_op_num_threads or "default"}  # fmt: skip
