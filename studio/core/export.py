"""PyTorch → ONNX (torch.onnx, the dynamo exporter first, the TorchScript one as fallback), checked
with onnx's checker and shape inference; pruned weights optionally stored as sparse initializers; and
files written atomically: a failed export never leaves a half-written file and never harms one already
at the target path."""

from __future__ import annotations

import contextlib
import logging
import os
import tempfile
import warnings
from dataclasses import replace
from pathlib import Path

import numpy as np
import onnx
import torch
from onnx import numpy_helper

from studio.core.errors import StudioError, first_line
from studio.core.model import Format, Model, TensorSpec
from studio.core.tracing import MODULE_LOCK

DEFAULT_OPSET = 17


def to_onnx(model: Model, opset: int = DEFAULT_OPSET) -> Model:
    """The model as an in-memory ONNX Model with a dynamic batch axis (itself when already ONNX)."""
    if model.onnx_structure is not None:
        return model
    if model.module is None:
        raise StudioError("weights only: there is no architecture to export", model.source)
    from studio.core.prune_structured import example_inputs

    # batch 2: exporters specialise a size-1 axis, and the batch axis must stay dynamic
    args = tuple(torch.cat([a, a]) for a in example_inputs(model))
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
    _strip_debug_info(proto)
    check(proto, model.source)
    notes = list(model.notes) + ([f"exported after a fallback: {errors[0]}"] if errors else [])
    inputs = [TensorSpec(s.name, ("batch", *s.shape[1:]) if s.shape else None, s.dtype) for s in model.inputs]
    return replace(model, format=Format.ONNX, onnx=proto, module=None, program=None, inputs=inputs, notes=notes)


def _export(model, args, path, opset, in_names, out_names, axes, dynamo: bool) -> None:
    module = model.program if (dynamo and model.program is not None) else model.module
    kwargs = dict(opset_version=opset, input_names=in_names, output_names=out_names, dynamic_axes=axes, dynamo=dynamo)
    if dynamo:
        kwargs.update(external_data=False, verbose=False)
    with warnings.catch_warnings(), quiet("torch", "onnxscript"), MODULE_LOCK:
        warnings.simplefilter("ignore")
        torch.onnx.export(module.cpu() if hasattr(module, "cpu") else module, args, str(path), **kwargs)


@contextlib.contextmanager
def quiet(*names: str):
    """Silence stdout and the named loggers ("" is the root logger): exporters and ORT's quantizers
    print progress, hints and even tracebacks meant for script users; the studio reports their
    failures itself, in one line."""
    loggers = [logging.getLogger(name) for name in names]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.CRITICAL)
    with open(os.devnull, "w") as null, contextlib.redirect_stdout(null):
        try:
            yield
        finally:
            for logger, level in zip(loggers, levels):
                logger.setLevel(level)


def _strip_debug_info(proto: onnx.ModelProto) -> None:
    """The dynamo exporter stores each node's Python stack trace and FX node: often a tenth of a small
    model's file, and paths from the machine that exported it. A deployable file carries neither."""
    for node in proto.graph.node:
        node.ClearField("metadata_props")
        node.ClearField("doc_string")


def check(proto: onnx.ModelProto, source: str = "") -> None:
    try:
        onnx.checker.check_model(proto)
        onnx.shape_inference.infer_shapes(proto, check_type=True, strict_mode=True)
    except Exception as e:  # checker and inference raise ValidationError, InferenceError, …
        raise StudioError(f"the ONNX model fails validation ({first_line(e)})", source) from None


def sparse_initializers(model: Model) -> Model:
    """Float weights (2-D or more) stored as sparse initializers (COO, int64 indices as the ONNX spec
    requires) wherever that makes the tensor smaller: below about a third nonzero. ONNX Runtime loads
    them (it densifies them when the session starts), so the file shrinks and the speed does not change."""
    proto = onnx.ModelProto()
    proto.CopyFrom(model.onnx)
    graph, dense = proto.graph, []
    for t in graph.initializer:
        sparse = _as_sparse(t) if t.data_type in SPARSE_TYPES and len(t.dims) >= 2 else None
        if sparse is not None and sparse.ByteSize() < t.ByteSize():
            graph.sparse_initializer.append(sparse)
        else:
            dense.append(t)
    graph.ClearField("initializer")
    graph.initializer.extend(dense)
    return replace(model, onnx=proto, notes=list(model.notes))


SPARSE_TYPES = {onnx.TensorProto.FLOAT, onnx.TensorProto.FLOAT16, onnx.TensorProto.DOUBLE}


def _as_sparse(t: onnx.TensorProto) -> onnx.SparseTensorProto:
    flat = numpy_helper.to_array(t).ravel()
    nonzero = np.flatnonzero(flat)
    values = numpy_helper.from_array(flat[nonzero], t.name)
    indices = numpy_helper.from_array(nonzero.astype(np.int64), f"{t.name}.indices")
    return onnx.helper.make_sparse_tensor(values, indices, list(t.dims))


def atomic_write(path: Path, data: bytes) -> None:
    """Write beside the target, then replace it in one step: readers see the old file or the new one."""
    write_files({path: data})


def write_files(files: dict[Path, bytes]) -> None:
    """Write every file beside its target first; only when all are on disk, replace the targets. A
    failure before that leaves every existing target as it was and no temporary file behind."""
    staged: dict[Path, str] = {}
    try:
        for path, data in files.items():
            path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".part")
            staged[path] = tmp
            with os.fdopen(fd, "wb") as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
        for path, tmp in staged.items():
            os.replace(tmp, path)
    except BaseException:
        for tmp in staged.values():
            with contextlib.suppress(OSError):
                os.unlink(tmp)
        raise


def onnx_files(model: Model, path: Path, with_zip: bool = False) -> dict[Path, bytes]:
    """The bytes of an export: the .onnx file, and the same zipped beside it (`path.zip`)."""
    data = model.onnx.SerializeToString()
    files = {path: data}
    if with_zip:
        from studio.core.measure import zipped

        files[zip_path(path)] = zipped(path.name, data)
    return files


def zip_path(path: Path) -> Path:
    return path.with_name(path.name + ".zip")


def write_checked(files: dict[Path, bytes], target: Path) -> None:
    try:
        write_files(files)
    except OSError as e:
        raise StudioError(f"cannot write the export ({e.strerror or first_line(e)})", str(target)) from None


def write_onnx(model: Model, path: Path, with_zip: bool = False) -> dict:
    """Save an ONNX model to `path` (and `path.zip`); returns sizes on disk."""
    files = onnx_files(model, path, with_zip)
    write_checked(files, path)
    out = {"path": str(path), "size_bytes": path.stat().st_size}
    if with_zip:
        zpath = zip_path(path)
        out.update(zip_path=str(zpath), zip_bytes=zpath.stat().st_size)
    return out
