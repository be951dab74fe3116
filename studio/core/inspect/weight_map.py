"""A weight tensor as a 2-D map for display: where its zeros are, downsampled when huge.

Conv weights become out × in·kh·kw, 1-D weights 1 × n. Above `max_side` pixels on a side, each pixel
stands for a block of weights; downsampling never hides zeros: a pixel reads 0 only if its whole block
is zero, and the block's share of zeros is kept beside.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np

MAX_SIDE = 1024  # pixels per side of a displayed map


@dataclass
class WeightMap:
    values: np.ndarray  # pixels: per block, the weight of largest magnitude (sign kept)
    zero_share: np.ndarray  # pixels: per block, the fraction of exact zeros (0..1)
    shape: tuple[int, int]  # rows × columns of the full matrix
    block: tuple[int, int]  # weights per pixel, rows × columns


def as_matrix(weight: np.ndarray) -> np.ndarray:
    """First axis (outputs) as rows, everything else flattened into columns."""
    if weight.ndim == 0:
        return weight.reshape(1, 1)
    if weight.ndim == 1:
        return weight.reshape(1, -1)
    return weight.reshape(weight.shape[0], -1)


def weight_map(weight: np.ndarray, max_side: int = MAX_SIDE) -> WeightMap:
    m = as_matrix(weight)
    m = m if m.dtype == np.float32 else m.astype(np.float32)
    rows, cols = m.shape
    br, bc = -(-rows // max_side), -(-cols // max_side)
    if br == bc == 1:
        return WeightMap(m, (m == 0).astype(np.float32), (rows, cols), (1, 1))
    pr, pc = -(-rows // br), -(-cols // bc)  # pixels
    if (pr * br, pc * bc) != (rows, cols):
        m = np.pad(m, ((0, pr * br - rows), (0, pc * bc - cols)))
    high, low = _pool(m, br, bc, np.maximum), _pool(m, br, bc, np.minimum)
    values = np.where(high >= -low, high, low)
    # per pixel, how many real (unpadded) weights its block holds; the padding counted as zeros
    real = np.outer(np.minimum(br, rows - br * np.arange(pr)), np.minimum(bc, cols - bc * np.arange(pc)))
    zeros = _pool(m == 0, br, bc, np.add, np.int32) - (br * bc - real)
    return WeightMap(values, (zeros / real).astype(np.float32), (rows, cols), (br, bc))


def _pool(m: np.ndarray, br: int, bc: int, ufunc: np.ufunc, dtype=None) -> np.ndarray:
    """Reduce each br × bc block with ufunc. Rows first (long contiguous runs), then columns by
    strided slices when blocks are narrow, which numpy reduces far faster than a short inner axis."""
    rows, cols = m.shape
    x = ufunc.reduce(m.reshape(rows // br, br, cols), axis=1, dtype=dtype)
    if bc >= 32:
        return ufunc.reduce(x.reshape(rows // br, cols // bc, bc), axis=2)
    return functools.reduce(ufunc, [x[:, j::bc] for j in range(bc)])
