"""Quantization through ONNX Runtime's own tools: int8 dynamic and static (QDQ), fp16, and 4/8-bit
weight-only. A PyTorch version is exported to ONNX first; the result is always a new ONNX Model, loaded
from what ONNX Runtime wrote, whose accuracy is measured by running it in ONNX Runtime."""

from __future__ import annotations

from dataclasses import replace

from studio.core.compress.quantize_advice import RECURRENT
from studio.core.compress.quantize_ort import CALIBRATIONS, MODES, Settings, prepared, quantize_prepared
from studio.core.compress.quantize_sensitivity import Probe, keep_sensitive_float
from studio.core.errors import StudioError
from studio.core.evaluate.data import DataSet
from studio.core.formats.model import Model
from studio.core.inspect.precision import quantized_ops, rounded_around
from studio.core.process.jobs import NO_CANCEL, CancelToken, Job, Progress, offset

TOLERANCE = 0.01  # the loss a quantization may cost before layers are kept float: 1 point, or 99 % agreement
RANKED_LAYERS_MAX = 24  # ranking quantizes each layer alone: a model with more takes minutes


def check_calibration(calibration: str) -> None:
    if calibration not in CALIBRATIONS:
        raise StudioError(f"quantize.calibration: {calibration!r} is not one of {', '.join(CALIBRATIONS)}")


SEVEN_BIT = ("weights on 7 bits (±64): ONNX Runtime's int8 kernels on this CPU (x86 without VNNI) saturate on 8-bit weights "
             "and lose accuracy; 7-bit ones cannot overflow, on any CPU")  # static int8 only (Settings.seven_bit)


def quantize(model: Model, data: DataSet | None = None, *, mode: str = "dynamic", calibration: str = "minmax",
             samples: int = 256, per_channel: bool = True, bits: int = 4, exclude: list[str] = (),
             keep_float: int = 0, max_drop: float | None = None, tolerance: float | None = TOLERANCE, device: str = "cpu",
             overrides: dict | None = None, weightless: bool = True, cancel: CancelToken = NO_CANCEL) -> Job[Model]:
    """A new ONNX version quantized by ONNX Runtime. keep_float: how many of the layers that hurt
    fidelity most stay float (ranked on data first); with max_drop, as few of them as keep the loss
    of accuracy (agreement without labels) within max_drop. overrides: static only, ORT's
    TensorQuantOverrides (the grids quantization-aware training trained with, qat_graph); weightless: static
    only, False rounds only the activations of layers with weights (quantization-aware training's choice when
    rounding every activation loses too much)."""
    if mode not in MODES:
        raise StudioError(f"quantize.mode: {mode!r} is not one of {', '.join(MODES)}")
    check_calibration(calibration)
    allowed = model.capabilities()["quantize"]
    if not allowed.allowed:
        raise StudioError(allowed.reason, model.source)
    settings = Settings(mode, calibration, samples, per_channel, bits, weightless,
                        extra_options={"TensorQuantOverrides": overrides} if overrides else None)
    if MODES[mode].needs_data and data is None:
        raise StudioError(f"{mode} quantization calibrates on data: choose a data set (labels are not needed)")
    if (keep_float or max_drop is not None) and data is None:
        raise StudioError("keeping the most sensitive layers float ranks them on data: choose a data set")
    if max_drop is not None and not keep_float:
        raise StudioError("quantize.max_drop needs a budget: keep_float, the most layers that may stay float")
    yield Progress(0, 2, "exporting to ONNX" if model.onnx is None else "preparing the model")
    with prepared(model, mode, None if data is None else data.example_for(model.inputs)) as prep:
        cancel.check()
        names = prep.resolve(list(exclude))
        if keep_float:
            job = keep_sensitive_float(prep, data, settings, names, keep_float, max_drop, device, cancel)
            proto, kept = yield from offset(job, 0, 2)
            if max_drop is not None:
                probe = Probe(prep, data, device)
                left = probe.loss(proto)
                if left > max_drop:
                    prep.notes.append(f"max_drop NOT MET: {left:.1%} of {probe.metric} lost, more than the {max_drop:.1%} allowed, "
                                      f"with the best of 0 to {keep_float} layers kept float ({len(kept)})")
        else:
            yield Progress(1, 2, f"quantizing: {settings.describe()}")
            proto, kept = quantize_prepared(prep, settings, names, data, cancel), []
            if tolerance and data is not None and len(data.test()):
                proto, kept, said = yield from _within_tolerance(prep, proto, data, settings, names, tolerance, device, cancel)
                prep.notes.extend(said)
    notes = list(prep.model.notes) + prep.notes + [f"quantized by ONNX Runtime: {settings.describe()}"]
    if settings.seven_bit:
        notes.append(SEVEN_BIT)
    if exclude or kept:
        notes.append("kept float: " + ", ".join([*exclude, *kept]))
        still = rounded_around(proto, [*names, *kept]) if mode == "static" else []
        if still:
            shown = ", ".join(still[:4]) + (", …" if len(still) > 4 else "")
            notes.append(f"only the weights of {len(still)} of the layers kept float are float: their input or output is still rounded "
                         f"to 8 bits, because a quantized neighbour rounds it ({shown})")
    recurrent = sorted({op.op_type for op in quantized_ops(proto) if op.op_type in RECURRENT and op.precision == "float"})
    if recurrent and mode in ("dynamic", "static"):
        also = "; dynamic int8 quantizes LSTM" if mode == "static" and "LSTM" in recurrent else ""
        notes.append(f"{', '.join(recurrent)} layers stay float: ONNX Runtime's {mode} int8 leaves them{also}")
    before = prep.proto.ByteSize()
    if proto.ByteSize() > 0.95 * before:  # said in plain words: this is not the result people quantize for
        notes.append(f"NOT SMALLER: {proto.ByteSize() / before:.2f}× the float model's size — its weights mostly stayed float "
                     "(the Quantize sheet lists the operators left float, e.g. inside If branches or recurrent layers; the notes say why)")
    result = replace(prep.model, onnx=proto, size_bytes=proto.ByteSize(), notes=notes)
    yield Progress(2, 2, f"quantized: {settings.describe()}", {"size_bytes": result.size_bytes})
    return result


def _within_tolerance(prep, proto, data: DataSet, settings: Settings, names: list[str], tolerance: float, device: str,
                      cancel: CancelToken):
    """When the quantized model loses more than `tolerance` (accuracy, or agreement with the float model
    without labels): static int8 first keeps the activations of operators without weights float (where
    int8 often loses most: a power spectrum, a residual sum), then its most sensitive layers — as few as
    hold the loss within it."""
    probe = Probe(prep, data, device)
    loss = probe.loss(proto)
    if loss <= tolerance:
        return proto, [], []
    what = f"lost {loss:.1%} of {probe.metric}, more than the {tolerance:.1%} allowed"
    said = []
    if settings.mode == "static":  # first the activations of operators without weights (Pow, Add, Resize…) float
        yield Progress(1, 2, f"{what}: keeping the activations of operators without weights float")
        weighted = replace(settings, weightless=False)
        lighter = quantize_prepared(prep, weighted, names, data, cancel)
        left = probe.loss(lighter)
        if left <= loss:  # no worse: and from here keeping every layer float is the float model itself
            proto, settings, loss = lighter, weighted, left
            said = [f"{what}: kept the activations of operators without weights float (only layers with weights in int8): "
                    + ("within it" if left <= tolerance else f"{left:.1%} lost")]
            if left <= tolerance:
                return proto, [], said
    layers = [name for name, _ in prep.layers() if name not in names]
    if len(layers) > RANKED_LAYERS_MAX:
        return proto, [], said + [f"{what}; it has {len(layers)} layers, too many to rank each one here: keep layers float with "
                                  "keep_float or exclude"]
    yield Progress(1, 2, f"{what}: keeping the most sensitive layers float")
    job = keep_sensitive_float(prep, data, settings, names, len(layers), tolerance, device, cancel)
    proto, kept = yield from offset(job, 1, 2)
    left = probe.loss(proto)
    verdict = "within it" if left <= tolerance else f"still {left:.1%} lost with every layer tried"
    return proto, kept, said + [f"{what}: kept {len(kept)} layers float ({verdict})"]
