"""Export a version as a deployable ONNX file and measure what that file does in ONNX Runtime."""

from __future__ import annotations

from pathlib import Path

from studio.core.data import DataSet
from studio.core.export import to_onnx, write_onnx
from studio.core.jobs import NO_CANCEL, CancelToken, Job, Progress
from studio.core.metrics import evaluate, onnx_latency_ms
from studio.core.model import Model

LATENCY_BATCHES = (1, 256)


def export_version(model: Model, path: Path, data: DataSet | None, device: str = "cpu", *, opset: int = 17,
                   with_zip: bool = False, cancel: CancelToken = NO_CANCEL) -> Job[dict]:  # fmt: skip
    yield Progress(0, 3, "exporting to ONNX")
    exported = to_onnx(model, opset)
    cancel.check()
    out = write_onnx(exported, path, with_zip)
    yield Progress(1, 3, "measuring in ONNX Runtime")
    metrics: dict = {}
    if data is not None:
        metrics.update(evaluate(exported, data.test(), device))
    cancel.check()
    metrics["latency"] = [onnx_latency_ms(exported, b) for b in LATENCY_BATCHES]
    out["metrics"] = metrics
    yield Progress(3, 3, f"exported {path.name}", {"size_bytes": out["size_bytes"]})
    return out
