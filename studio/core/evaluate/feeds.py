"""How a data set's arrays become a model's inputs: the dtypes the model declares, inputs that are the
same for every example (0-d arrays: a sample rate), inputs whose batch is not their first axis (an RNN
state [2, batch, 128]), and models that take a fixed batch (often 1)."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from studio.core.errors import StudioError
from studio.core.formats.model import Model, TensorSpec, batch_axes, is_fixed

# numpy dtype of each ONNX / PyTorch type name a TensorSpec carries
DTYPES = {"float32": np.float32, "float": np.float32, "float16": np.float16, "double": np.float64, "float64": np.float64,
          "int64": np.int64, "int32": np.int32, "int16": np.int16, "int8": np.int8, "uint8": np.uint8, "bool": np.bool_}


def is_constant(arr: np.ndarray) -> bool:
    """A 0-d array is one value given with every batch, not an example."""
    return arr.ndim == 0


def cast_for(arr: np.ndarray, spec: TensorSpec, source: str) -> np.ndarray:
    """The array in the dtype the model declares: float ↔ float and int ↔ int freely (int64 token ids
    read as int32 stay whole), float → int only for whole numbers, anything → bool only from 0/1."""
    want = DTYPES.get(spec.dtype)
    if want is None or arr.dtype == want:
        return arr
    kind, want_kind = arr.dtype.kind, np.dtype(want).kind
    if want_kind == "f" and kind in "fiub":
        return arr.astype(want)
    if want_kind in "iu" and kind in "iub":
        return arr.astype(want)
    if want_kind in "iu" and kind == "f" and np.array_equal(arr, np.round(arr)):
        return arr.astype(want)
    if want_kind == "b" and np.isin(arr, (0, 1)).all():
        return arr.astype(want)
    raise StudioError(f"input {spec.name!r} takes {spec.dtype}, but the data holds {arr.dtype} values that do not convert", source)


def fixed_batch(model: Model) -> int | None:
    """The one batch size a model takes, when its file fixes it: ONNX Runtime holds an ONNX model to
    its declared shapes (many exported files fix the batch to 1); PyTorch modules take any batch."""
    sizes = set()
    axes = batch_axes(model.inputs)
    for spec in model.inputs:
        if spec.shape and len(spec.shape) > axes[spec.name] and is_fixed(spec.shape[axes[spec.name]]):
            sizes.add(spec.shape[axes[spec.name]])
    return model.fixed_batch or (min(sizes) if sizes and model.onnx is not None else None)


def examples(x: dict[str, np.ndarray]) -> int:
    return next((len(a) for a in x.values() if not is_constant(a)), 1)


def batches(model: Model, x: dict[str, np.ndarray], batch: int) -> Iterator[tuple[int, dict[str, np.ndarray]]]:
    """(examples in it, feed) for each batch: constants given as they are, each input's examples moved
    to its batch axis, a fixed batch size kept (the last batch padded by repeating its last example)."""
    fixed = fixed_batch(model)
    size = fixed or batch
    axes = batch_axes(model.inputs) if model.inputs else {}
    n = examples(x)
    for start in range(0, n, size):
        count = min(size, n - start)
        feed = {}
        for name, arr in x.items():
            if is_constant(arr):
                feed[name] = arr
                continue
            part = arr[start : start + size]
            if fixed and len(part) < fixed:
                part = np.concatenate([part, np.repeat(part[-1:], fixed - len(part), axis=0)])
            feed[name] = np.moveaxis(part, 0, axes.get(name, 0)) if axes.get(name, 0) else part
        yield count, feed


def examples_axis(out: np.ndarray, fed: int) -> int:
    """Which axis of an output holds the examples (axis 0 but for models that put them elsewhere)."""
    if out.ndim == 0 or out.shape[0] == fed:
        return 0
    return next((k for k, d in enumerate(out.shape) if d == fed), 0)


def random_examples(inputs: list[TensorSpec], batch: int) -> dict[str, np.ndarray]:
    """Examples of the declared shapes where no data was chosen (unknown sizes 1): uniform values for
    float inputs, zeros for integer ones. Only for checks that say so, never for a reported accuracy."""
    rng = np.random.default_rng(0)
    out = {}
    for spec in inputs:
        dtype = DTYPES.get(spec.dtype, np.float32)
        shape = (batch, *(d if is_fixed(d) else 1 for d in (spec.shape or (None,))[1:]))
        out[spec.name] = rng.random(shape).astype(dtype) if np.dtype(dtype).kind == "f" else np.zeros(shape, dtype)
    return out
