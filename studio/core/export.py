"""PyTorch → ONNX (torch.onnx, the dynamo exporter first, the TorchScript one as fallback), checked
with onnx's checker and shape inference, and files written atomically: a failed export never leaves a
half-written file and never harms one already at the target path."""

from __future__ import annotations

import contextlib
import logging
import os
import tempfile
import warnings
import zipfile
from dataclasses import replace
from pathlib import Path

import onnx
import torch

from studio.core.errors import StudioError, first_line
from studio.core.model import Format, Model, TensorSpec

DEFAULT_OPSET = 17


def to_onnx(model: Model, opset: int = DEFAULT_OPSET) -> Model:
    """The model as an in-memory ONNX Model with a dynamic batch axis (itself when already ONNX)."""
    if model.onnx is not None:
        return model
    if model.module is None:
        raise StudioError("weights only: there is no architecture to export", model.source)
    from studio.core.prune_structured import example_inputs

    args = example_inputs(model)
    in_names = [s.name for s in model.inputs]
    out_names = [s.name for s in model.outputs] or ["output"]
    axes = {n: {0: "batch"} for n in in_names + out_names}
    errors = []
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "model.onnx"
        for dynamo in (True, False):
            try:
                _export(model, args, path, opset, in_names, out_names, axes, dynamo)
                proto = onnx.load(path)
                break
            except Exception as e:  # exporters raise many types; the next one may succeed
                errors.append(f"{'dynamo' if dynamo else 'TorchScript'} exporter: {first_line(e, 120)}")
        else:
            raise StudioError("ONNX export failed (" + "; ".join(errors) + ")", model.source)
    check(proto, model.source)
    notes = list(model.notes) + ([f"exported after a fallback: {errors[0]}"] if errors else [])
    inputs = [TensorSpec(s.name, ("batch", *s.shape[1:]) if s.shape else None, s.dtype) for s in model.inputs]
    return replace(model, format=Format.ONNX, onnx=proto, module=None, program=None, inputs=inputs, notes=notes)


def _export(model, args, path, opset, in_names, out_names, axes, dynamo: bool) -> None:
    module = model.program if (dynamo and model.program is not None) else model.module
    kwargs = dict(opset_version=opset, input_names=in_names, output_names=out_names, dynamic_axes=axes, dynamo=dynamo)
    if dynamo:
        kwargs.update(external_data=False, verbose=False)
    with warnings.catch_warnings(), _quiet():
        warnings.simplefilter("ignore")
        torch.onnx.export(module.cpu() if hasattr(module, "cpu") else module, args, str(path), **kwargs)


@contextlib.contextmanager
def _quiet():
    """The dynamo exporter prints its progress and torchvision warnings; keep the CLI's output clean."""
    loggers = [logging.getLogger(name) for name in ("torch", "onnxscript")]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.ERROR)
    with open(os.devnull, "w") as null, contextlib.redirect_stdout(null):
        try:
            yield
        finally:
            for logger, level in zip(loggers, levels):
                logger.setLevel(level)


def check(proto: onnx.ModelProto, source: str = "") -> None:
    try:
        onnx.checker.check_model(proto)
        onnx.shape_inference.infer_shapes(proto, check_type=True, strict_mode=True)
    except Exception as e:  # checker and inference raise ValidationError, InferenceError, …
        raise StudioError(f"the ONNX model fails validation ({first_line(e)})", source) from None


def atomic_write(path: Path, data: bytes) -> None:
    """Write beside the target, then replace it in one step: readers see the old file or the new one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".part")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def write_onnx(model: Model, path: Path, with_zip: bool = False) -> dict:
    """Save an ONNX model to `path` (and `path.zip`); returns sizes on disk."""
    data = model.onnx.SerializeToString()
    try:
        atomic_write(path, data)
        out = {"path": str(path), "size_bytes": path.stat().st_size}
        if with_zip:
            zpath = path.with_name(path.name + ".zip")
            tmp = zpath.with_name(f".{zpath.name}.part")
            with zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as z:
                z.writestr(path.name, data)
            os.replace(tmp, zpath)
            out.update(zip_path=str(zpath), zip_bytes=zpath.stat().st_size)
    except OSError as e:
        raise StudioError(f"cannot write the export ({e.strerror or first_line(e)})", str(path)) from None
    return out
