"""PyTorch → ONNX (torch.onnx, the dynamo exporter first, the TorchScript one as fallback), checked
with onnx's checker and shape inference; pruned weights optionally stored as sparse initializers; and
files written atomically: a failed export never leaves a half-written file and never harms one already
at the target path."""

from __future__ import annotations

import contextlib
import os
import tempfile
from dataclasses import replace
from pathlib import Path

import numpy as np
import onnx
from onnx import numpy_helper

from studio.core.errors import StudioError, first_line
from studio.core.evaluate.measure import zipped
from studio.core.formats.load_onnx import full_onnx
from studio.core.formats.model import Model


def sparse_initializers(model: Model) -> Model:
    """Float weights (2-D or more) stored as sparse initializers (COO, int64 indices as the ONNX spec
    requires) wherever that makes the tensor smaller: below about a third nonzero. ONNX Runtime loads
    them (it densifies them when the session starts), so the file shrinks and the speed does not change."""
    proto = onnx.ModelProto()
    proto.CopyFrom(full_onnx(model))
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
            os.fchmod(fd, 0o666 & ~_umask())  # mkstemp makes it 0600: a file for others to deploy gets the usual mode
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
    data = full_onnx(model).SerializeToString()
    files = {path: data}
    if with_zip:
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


def _umask() -> int:
    """The process's umask, read without changing it where Linux tells it (setting it to read it would
    race with other threads creating files)."""
    with contextlib.suppress(OSError, StopIteration, ValueError):
        with open("/proc/self/status") as status:
            return int(next(line for line in status if line.startswith("Umask:")).split()[1], 8)
    mask = os.umask(0o022)
    os.umask(mask)
    return mask
