"""Example inputs for tracing and exporting a PyTorch model: two examples of the user's data where there
is data (their shapes, dtypes and values: a model that checks its sample rate gets the real one), else
zeros of the declared shapes."""

from __future__ import annotations

import numpy as np
import torch

from studio.core.errors import StudioError
from studio.core.formats.model import Model

TORCH_DTYPES = {"int64": torch.int64, "int32": torch.int32, "bool": torch.bool, "float16": torch.float16, "float64": torch.float64}


def example_inputs(model: Model, example: dict[str, np.ndarray] | None = None) -> tuple:
    """One argument per input: a batch of 2 (exporters specialise a size-1 axis, and the batch axis
    must stay dynamic; so do the other axes a TensorSpec names, 2 long), or a Python number for an input that
    is one value (`sr: int`)."""
    if example is not None and all(s.name in example for s in model.inputs):
        return tuple(_from_data(example[s.name]) for s in model.inputs)
    if not model.input_shapes_known:
        raise StudioError("needs the model's input shape: give it with --input-shape", model.source)
    scalars = [s.name for s in model.inputs if s.shape == ()]
    if scalars:
        raise StudioError(f"input {scalars[0]!r} is a single value the model may check: choose data to export it", model.source)
    return tuple(torch.zeros((2, *(d if isinstance(d, int) else 2 if isinstance(d, str) else 1 for d in s.shape[1:])),
                             dtype=TORCH_DTYPES.get(s.dtype, torch.float32)) for s in model.inputs)


def _from_data(arr: np.ndarray):
    if arr.ndim == 0:
        return arr.item()
    arr = arr[:2] if len(arr) >= 2 else np.concatenate([arr, arr])
    return torch.from_numpy(np.ascontiguousarray(arr))
