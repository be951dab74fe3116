"""An ONNX model made trainable: converted to PyTorch (formats/onnx_to_torch) and checked against ONNX
Runtime on examples of the data before anything trains on it. A conversion that does not give the same
outputs is refused: training it would train a different model."""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from studio.core.errors import StudioError
from studio.core.evaluate.data import DataSet
from studio.core.evaluate.feeds import fixed_batch
from studio.core.evaluate.metrics import fidelity
from studio.core.evaluate.runtime import predict_outputs
from studio.core.formats.model import Format, Model
from studio.core.formats.onnx_to_torch import onnx_to_torch
from studio.core.process.jobs import Job, Progress

CHECK_EXAMPLES = 64
MIN_SQNR_DB = 40.0  # float32 round-off between two runtimes stays far above it; a wrong operator falls far below
MIN_AGREEMENT = 0.99


def trainable_version(model: Model, data: DataSet, device: str = "cpu", refused: str = "") -> Job[Model]:
    """The version a training starts from: refused (with `refused` before the reason) where the model
    cannot train; an ONNX model converted and checked (trainable); a PyTorch one as it is."""
    allowed = model.capabilities()["finetune"]
    if not allowed.allowed:
        raise StudioError(refused + allowed.reason, model.source)
    if model.onnx is not None:
        yield Progress(0, 1, "converting to PyTorch and checking it against ONNX Runtime")
        model = trainable(model, data, device)
    if model.module is None:
        raise StudioError("no PyTorch module to train", model.source)
    return model


def trainable(model: Model, data: DataSet, device: str = "cpu") -> Model:
    """`model` when it is a PyTorch module; an ONNX model converted and checked, its parity in its notes."""
    if model.format is not Format.ONNX:
        return model
    batch = fixed_batch(model)
    if batch:
        raise StudioError(f"its file fixes the batch to {batch}: training needs a dynamic batch axis (export it with one)", model.source)
    converted = onnx_to_torch(model)
    x = data.test().shaped_for(model.inputs).subset(slice(0, CHECK_EXAMPLES)).x
    reference = predict_outputs(model, x, device)
    try:
        outputs = predict_outputs(converted, x, device)
    except StudioError:
        raise
    except Exception as e:  # a converted operator that fails on these inputs
        raise StudioError(f"converted to PyTorch, but it fails on the data: {type(e).__name__}: {str(e).splitlines()[0][:160]}",
                          model.source) from e
    parity = _parity(outputs, reference)
    if parity["sqnr_db"] < MIN_SQNR_DB or parity["agreement"] < MIN_AGREEMENT:
        raise StudioError(f"converted to PyTorch, but it does not compute the same: {parity['text']}", model.source)
    return replace(converted, notes=[*converted.notes, f"converted to PyTorch by onnx2torch: {parity['text']}"])


def _parity(outputs: list[np.ndarray], reference: list[np.ndarray]) -> dict:
    """Largest difference, SQNR of the worst output and agreement, against ONNX Runtime's outputs."""
    floats = [(o, r) for o, r in zip(outputs, reference) if r.dtype.kind == "f"]
    if not floats or len(outputs) != len(reference) or any(o.shape != r.shape for o, r in floats):
        shapes = ", ".join(f"{list(o.shape)} for {list(r.shape)}" for o, r in zip(outputs, reference) if o.shape != r.shape)
        raise StudioError("converted to PyTorch, but its outputs differ from the ONNX model's in number or shape" + (f" ({shapes})" if shapes else ""))
    scores = fidelity([o for o, _ in floats], [r for _, r in floats])
    largest = max(float(np.abs(o.astype(np.float64) - r).max()) for o, r in floats)
    text = f"max difference {largest:.1e}, {scores['agreement']:.0%} agreement on {len(floats[0][1])} examples"
    return {**scores, "largest": largest, "text": text}
