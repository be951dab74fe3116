"""Parameter counts, bytes by dtype, sparsity, moments and histograms. Vectorised; sampled when huge."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np

from studio.core.inspect.layers import Layer

HISTOGRAM_SAMPLE = 1_000_000  # values drawn for a histogram of anything larger
CHUNK = 1 << 22  # values per numpy call in the statistics (a few ms each)
BULK_SQUEEZE = 4  # outliers are cut off a histogram when its whole range is this many times its bulk's


@dataclass
class WeightStats:
    parameters: int = 0
    zeros: int = 0
    nonfinite: int = 0  # NaN and Inf values; moments are over the finite ones
    bytes: int = 0
    bytes_by_dtype: dict[str, int] = field(default_factory=dict)
    min: float = float("nan")
    max: float = float("nan")
    mean: float = float("nan")
    std: float = float("nan")

    @property
    def sparsity(self) -> float:
        return self.zeros / self.parameters if self.parameters else 0.0

    @property
    def nonzero(self) -> int:
        return self.parameters - self.zeros


@dataclass
class Histogram:
    edges: np.ndarray  # bin edges of the non-zero values
    counts: np.ndarray  # estimated counts per bin (scaled up when sampled)
    zeros: int  # exact zeros, kept out of the bins so they always show
    sampled: bool
    below: float = 0  # (estimated) non-zero values left of the bins: outliers beyond a bulk range (see histogram)
    above: float = 0


def weight_stats(arrays: Iterable[np.ndarray], stored: Iterable[tuple[str, int]] | None = None) -> WeightStats:
    """stored: each array's dtype and bytes in the file, where they differ from the values' (the
    integers of a quantized weight whose values are dequantized)."""
    s = WeightStats()
    total = total_sq = 0.0
    lo, hi = np.inf, -np.inf
    stored = iter(stored) if stored is not None else None
    for a in arrays:
        dtype, nbytes = next(stored) if stored is not None else (a.dtype.name, a.nbytes)
        if a.size == 0:
            continue
        s.parameters += a.size
        s.bytes += nbytes
        s.bytes_by_dtype[dtype] = s.bytes_by_dtype.get(dtype, 0) + nbytes
        for chunk in _chunks(a):
            s.zeros += chunk.size - int(np.count_nonzero(chunk))
            f = chunk if chunk.dtype.kind == "f" and chunk.dtype.itemsize >= 4 else chunk.astype(np.float32)
            c_sum, c_lo, c_hi = float(np.sum(f, dtype=np.float64)), float(f.min()), float(f.max())
            if not (np.isfinite(c_sum) and np.isfinite(c_lo) and np.isfinite(c_hi)):  # rare: take the slow path
                f = f[np.isfinite(f)]
                s.nonfinite += chunk.size - f.size
                if not f.size:
                    continue
                c_sum, c_lo, c_hi = float(np.sum(f, dtype=np.float64)), float(f.min()), float(f.max())
            total += c_sum
            total_sq += float(np.vdot(f, f)) if f.dtype == np.float32 else float(np.sum(np.square(f, dtype=np.float64)))
            lo, hi = min(lo, c_lo), max(hi, c_hi)
    finite_count = s.parameters - s.nonfinite
    if finite_count:
        s.mean = total / finite_count
        s.std = float(np.sqrt(max(total_sq / finite_count - s.mean**2, 0.0)))
        s.min, s.max = lo, hi
    return s


def zero_count(arrays: Iterable[np.ndarray]) -> int:
    """Exact zeros in the arrays, counted a piece at a time (see _chunks)."""
    return sum(chunk.size - int(np.count_nonzero(chunk)) for a in arrays for chunk in _chunks(a))


def _chunks(a: np.ndarray, size: int = CHUNK) -> Iterable[np.ndarray]:
    """A flat array in pieces: each numpy call on one stays short, so that a GUI thread waiting for
    Python's lock gets it between pieces instead of after a whole 100M-value reduction."""
    flat = a.reshape(-1)
    for start in range(0, flat.size, size):
        yield flat[start : start + size]


def layer_stats(layer: Layer) -> WeightStats:
    return model_stats([layer])


def model_stats(layers: Iterable[Layer]) -> WeightStats:
    layers = list(layers)
    stored = ((_stored_dtype(layer, k), layer.stored_bytes(k)) for layer in layers for k in layer.weights)
    return weight_stats((w for layer in layers for w in layer.weights.values()), stored)


def _stored_dtype(layer: Layer, name: str) -> str:
    q = layer.quantized.get(name)
    return layer.weights[name].dtype.name if q is None else q.dtype


def histogram(arrays: Iterable[np.ndarray], bins: int = 100, seed: int = 0, bulk: float | None = None) -> Histogram:
    """Histogram of the non-zero values, exact zeros counted apart. Above HISTOGRAM_SAMPLE values, a
    uniform sample (each array in proportion to its size) stands for the whole. `bulk` (e.g. 0.005):
    where a few outliers would squeeze every other value into one bar (real models: a batch norm's
    scale of 18 among weights of ±0.1), the bins span the bulk, from that quantile to 1 − it, and
    the values outside are counted in `below` and `above`."""
    arrays = [a.ravel() for a in arrays if a.size]
    total = sum(a.size for a in arrays)
    zeros = zero_count(arrays)
    if not total:
        return Histogram(np.linspace(-1, 1, bins + 1), np.zeros(bins), 0, False)
    sampled = total > HISTOGRAM_SAMPLE
    if sampled:
        rng = np.random.default_rng(seed)
        parts = [a[rng.integers(0, a.size, max(1, round(a.size * HISTOGRAM_SAMPLE / total)))] for a in arrays]
    else:
        parts = arrays
    values = np.concatenate([p.astype(np.float32, copy=False) for p in parts])
    values = values[(values != 0) & np.isfinite(values)]
    if values.size == 0:
        return Histogram(np.linspace(-1, 1, bins + 1), np.zeros(bins), zeros, sampled)
    lo, hi = float(values.min()), float(values.max())
    if bulk:
        b_lo, b_hi = (float(q) for q in np.quantile(values, [bulk, 1 - bulk]))
        if b_lo < b_hi and hi - lo > BULK_SQUEEZE * (b_hi - b_lo):
            lo, hi = b_lo, b_hi
    if lo == hi:
        lo, hi = lo - 0.5, hi + 0.5
    counts, edges = np.histogram(values, bins=bins, range=(lo, hi))
    scale = (total - zeros) / values.size if sampled else 1.0
    below, above = int(np.count_nonzero(values < lo)), int(np.count_nonzero(values > hi))
    return Histogram(edges, counts * scale, zeros, sampled, below * scale, above * scale)
