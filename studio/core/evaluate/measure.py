"""Size of a model version as it would be stored: bytes of its serialised weights and zipped bytes."""

from __future__ import annotations

import io
import json
import struct
import zipfile
import zlib
from concurrent.futures import ThreadPoolExecutor

import torch

from studio.core.formats.load_onnx import full_onnx
from studio.core.formats.model import CONTROL_FLOW, Model
from studio.core.formats.onnx_to_torch import back_to_onnx, export_pieces
from studio.core.inspect.layers import layers_of
from studio.core.inspect.prunable import weight_sparsity
from studio.core.inspect.stats import model_stats
from studio.core.process.threads import job_threads


def zipped(name: str, data: bytes) -> bytes:
    """`data` as the one file `name` of a deflated zip archive: how a deployed file gets zipped."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr(name, data)
    return buf.getvalue()


def zipped_size(name: str, pieces: list[bytes], threads: int | None = None) -> int:
    """len(zipped(name, b"".join(pieces))), without joining them or keeping the archive: zlib
    releases Python's lock while it compresses each piece, a join of hundreds of MB does not.
    Past PARALLEL_FROM bytes, blocks are compressed on `threads` threads (threads.job_threads() by
    default), as pigz does: each block starts from the 32 kB before it as its dictionary and ends in a
    sync flush, so the blocks together are one deflate stream within ~0.01 % of zipfile's own length."""
    blocks = [view[start : start + PIECE] for view in (memoryview(p).cast("B") for p in pieces) for start in range(0, len(view), PIECE)]
    total = sum(len(b) for b in blocks)
    zip64 = total > zipfile.ZIP64_LIMIT
    threads = threads or job_threads()
    if total < PARALLEL_FROM or threads < 2:
        return _zip_length(name, blocks, zip64)
    with ThreadPoolExecutor(threads) as pool:
        deflated = sum(pool.map(_deflated_length, blocks, [None, *blocks[:-1]], [False] * (len(blocks) - 1) + [True]))
    return _zip_length(name, [], zip64) - len(zlib.compress(b"", wbits=-15)) + deflated


PIECE = 1 << 22
PARALLEL_FROM = 64 << 20


def _zip_length(name: str, blocks: list, zip64: bool) -> int:
    sink = _Sink()
    with zipfile.ZipFile(sink, "w", zipfile.ZIP_DEFLATED) as z:
        with z.open(name, "w", force_zip64=zip64) as f:
            for block in blocks:
                f.write(block)
    return sink.size


def _deflated_length(block, before, last: bool) -> int:
    """The deflated length of one block of a stream, primed with the 32 kB before it (as zipfile's level)."""
    kwargs = {"zdict": before[-(1 << 15) :]} if before is not None else {}
    z = zlib.compressobj(zlib.Z_DEFAULT_COMPRESSION, zlib.DEFLATED, -15, **kwargs)
    return len(z.compress(block)) + len(z.flush(zlib.Z_FINISH if last else zlib.Z_SYNC_FLUSH))


class _Sink(io.RawIOBase):
    """A seekable file that keeps only its length."""

    def __init__(self) -> None:
        self.size = self.pos = 0

    def writable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def write(self, b) -> int:
        n = memoryview(b).nbytes
        self.pos += n
        self.size = max(self.size, self.pos)
        return n

    def seek(self, pos: int, whence: int = 0) -> int:
        self.pos = pos if whence == 0 else self.pos + pos if whence == 1 else self.size + pos
        return self.pos

    def tell(self) -> int:
        return self.pos


def serialized(model: Model) -> list:
    """The model's bytes as stored, in pieces (bytes-like): an ONNX proto, or the PyTorch weights
    laid out as in a safetensors file (a JSON header, then each tensor's raw bytes; the header is
    ours, within tens of bytes of safetensors' own, whose save() copies everything in one call that
    holds Python's lock for over a second at 100M parameters). Large weights are not
    joined or copied: a copy of hundreds of MB in one call holds Python's lock and freezes a window.
    A just-opened ONNX model whose weights are still apart (Model.external) is its proto plus those; a
    converted one adds the rest of the file its weights go back to (its graph, and the metadata and
    constants a file may hold in plenty), so that it weighs what its export will."""
    if model.external:
        return [model.onnx.SerializeToString(), *model.external.values()]
    if model.onnx is not None:
        return [full_onnx(model).SerializeToString()]
    if model.origin is not None:  # converted from ONNX: what its export will hold
        return export_pieces(model)
    tensors = {k: v.detach().cpu().contiguous() for k, v in model.module.state_dict().items()}
    header, offset = {}, 0
    for name, t in tensors.items():
        n = t.numel() * t.element_size()
        header[name] = {"dtype": str(t.dtype).removeprefix("torch."), "shape": list(t.shape), "data_offsets": [offset, offset + n]}
        offset += n
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)
    return [struct.pack("<Q", len(text)) + text, *(memoryview(t.reshape(-1).view(torch.uint8).numpy()) for t in tensors.values() if t.numel())]


def _counted(model: Model) -> Model:
    """The model whose weights are counted: a version converted from a graph with If branches as the file
    it writes, since its module holds some weights twice (a copy in each branch that reads them)."""
    if model.origin is not None and any(n.op_type in CONTROL_FLOW for n in model.origin.proto.graph.node):
        return back_to_onnx(model)
    return model


def size_metrics(model: Model) -> dict:
    counted = _counted(model)
    stats = model_stats(layers_of(counted))
    pieces = serialized(model)
    return {
        "parameters": stats.parameters,
        "nonzero_parameters": stats.nonzero,
        "sparsity": stats.sparsity,
        "weight_sparsity": weight_sparsity(counted),
        "size_bytes": sum(memoryview(p).nbytes for p in pieces),
        "zip_bytes": zipped_size("model", pieces),
    }
