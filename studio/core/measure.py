"""Size of a model version as it would be stored: bytes of its serialised weights and zipped bytes."""

from __future__ import annotations

import io
import json
import struct
import zipfile

import torch

from studio.core.layers import layers_of
from studio.core.model import Model
from studio.core.prune import weight_sparsity
from studio.core.stats import model_stats


def zipped(name: str, data: bytes) -> bytes:
    """`data` as the one file `name` of a deflated zip archive: how a deployed file gets zipped."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr(name, data)
    return buf.getvalue()


def zipped_size(name: str, pieces: list[bytes]) -> int:
    """len(zipped(name, b"".join(pieces))), without joining them or keeping the archive: zlib
    releases Python's lock while it compresses each piece, a join of hundreds of MB does not."""
    sink = _Sink()
    with zipfile.ZipFile(sink, "w", zipfile.ZIP_DEFLATED) as z:
        with z.open(name, "w", force_zip64=sum(memoryview(p).nbytes for p in pieces) > zipfile.ZIP64_LIMIT) as f:
            for piece in pieces:
                view = memoryview(piece).cast("B")
                for start in range(0, len(view), PIECE):
                    f.write(view[start : start + PIECE])
    return sink.size


PIECE = 1 << 22


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
    A just-opened ONNX model whose weights are still apart (Model.external) is its proto plus those."""
    if model.external:
        return [model.onnx_structure.SerializeToString(), *model.external.values()]
    if model.onnx is not None:
        return [model.onnx.SerializeToString()]
    tensors = {k: v.detach().cpu().contiguous() for k, v in model.module.state_dict().items()}
    header, offset = {}, 0
    for name, t in tensors.items():
        n = t.numel() * t.element_size()
        header[name] = {"dtype": str(t.dtype).removeprefix("torch."), "shape": list(t.shape), "data_offsets": [offset, offset + n]}
        offset += n
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)
    return [struct.pack("<Q", len(text)) + text, *(memoryview(t.reshape(-1).view(torch.uint8).numpy()) for t in tensors.values() if t.numel())]


def size_metrics(model: Model) -> dict:
    stats = model_stats(layers_of(model))
    pieces = serialized(model)
    return {
        "parameters": stats.parameters,
        "nonzero_parameters": stats.nonzero,
        "sparsity": stats.sparsity,
        "weight_sparsity": weight_sparsity(model),
        "size_bytes": sum(memoryview(p).nbytes for p in pieces),
        "zip_bytes": zipped_size("model", pieces),
    }
