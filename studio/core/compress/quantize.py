"""Quantization through ONNX Runtime's own tools: int8 dynamic and static (QDQ), fp16, and 4/8-bit
weight-only. A PyTorch version is exported to ONNX first; the result is always a new ONNX Model, loaded
from what ONNX Runtime wrote, whose accuracy is measured by running it in ONNX Runtime."""

from __future__ import annotations

from dataclasses import replace

from studio.core.compress.quantize_advice import RECURRENT
from studio.core.compress.quantize_ort import CALIBRATIONS, MODES, Settings, prepared, quantize_prepared
from studio.core.compress.quantize_sensitivity import keep_sensitive_float
from studio.core.errors import StudioError
from studio.core.evaluate.data import DataSet
from studio.core.formats.model import Model
from studio.core.inspect.precision import quantized_ops
from studio.core.process.jobs import NO_CANCEL, CancelToken, Job, Progress, offset


def quantize(model: Model, data: DataSet | None = None, *, mode: str = "dynamic", calibration: str = "minmax",
             samples: int = 256, per_channel: bool = True, bits: int = 4, exclude: list[str] = (),
             keep_float: int = 0, max_drop: float | None = None, device: str = "cpu",
             cancel: CancelToken = NO_CANCEL) -> Job[Model]:  # fmt: skip
    """A new ONNX version quantized by ONNX Runtime. keep_float: how many of the layers that hurt
    fidelity most stay float (ranked on data first); with max_drop, as few of them as keep the loss
    of accuracy (agreement without labels) within max_drop."""
    if mode not in MODES:
        raise StudioError(f"quantize.mode: {mode!r} is not one of {', '.join(MODES)}")
    if calibration not in CALIBRATIONS:
        raise StudioError(f"quantize.calibration: {calibration!r} is not one of {', '.join(CALIBRATIONS)}")
    allowed = model.capabilities()["quantize"]
    if not allowed.allowed:
        raise StudioError(allowed.reason, model.source)
    settings = Settings(mode, calibration, samples, per_channel, bits)
    if MODES[mode].needs_data and data is None:
        raise StudioError(f"{mode} quantization calibrates on data: choose a data set (labels are not needed)")
    if (keep_float or max_drop is not None) and data is None:
        raise StudioError("keeping the most sensitive layers float ranks them on data: choose a data set")
    if max_drop is not None and not keep_float:
        raise StudioError("quantize.max_drop needs a budget: keep_float, the most layers that may stay float")
    yield Progress(0, 2, "exporting to ONNX" if model.onnx is None else "preparing the model")
    with prepared(model, mode) as prep:
        cancel.check()
        names = prep.resolve(list(exclude))
        if keep_float:
            job = keep_sensitive_float(prep, data, settings, names, keep_float, max_drop, device, cancel)
            proto, kept = yield from offset(job, 0, 2)
        else:
            yield Progress(1, 2, f"quantizing: {settings.describe()}")
            proto, kept = quantize_prepared(prep, settings, names, data, cancel), []
    notes = list(prep.model.notes) + prep.notes + [f"quantized by ONNX Runtime: {settings.describe()}"]
    if exclude or kept:
        notes.append("kept float: " + ", ".join([*exclude, *kept]))
    recurrent = sorted({op.op_type for op in quantized_ops(proto) if op.op_type in RECURRENT and op.precision == "float"})
    if recurrent and mode in ("dynamic", "static"):
        also = "; dynamic int8 quantizes LSTM" if mode == "static" and "LSTM" in recurrent else ""
        notes.append(f"{', '.join(recurrent)} layers stay float: ONNX Runtime's {mode} int8 leaves them{also}")
    result = replace(prep.model, onnx=proto, size_bytes=proto.ByteSize(), notes=notes)
    yield Progress(2, 2, f"quantized: {settings.describe()}", {"size_bytes": result.size_bytes})
    return result
