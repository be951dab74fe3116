"""Size of a model version as it would be stored: bytes of its serialised weights and zipped bytes."""

from __future__ import annotations

import io
import zipfile

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


def serialized(model: Model) -> bytes:
    if model.onnx is not None:
        return model.onnx.SerializeToString()
    from safetensors.torch import save

    return save({k: v.detach().cpu().contiguous() for k, v in model.module.state_dict().items()})


def size_metrics(model: Model) -> dict:
    stats = model_stats(layers_of(model))
    blob = serialized(model)
    return {
        "parameters": stats.parameters,
        "nonzero_parameters": stats.nonzero,
        "sparsity": stats.sparsity,
        "weight_sparsity": weight_sparsity(model),
        "size_bytes": len(blob),
        "zip_bytes": len(zipped("model", blob)),
    }
