"""Statistics and histograms of a 100M-parameter model (target: histograms under 1 s), and its zipped
size (every version's size is measured zipped) on one thread and on every core."""

from __future__ import annotations

import os

import numpy as np
from common import median_time, write

from studio.core.evaluate.measure import zipped_size
from studio.core.inspect.layers import Layer
from studio.core.inspect.stats import histogram, model_stats

PARAMETERS = 100_000_000


def make_layers() -> list[Layer]:
    rng = np.random.default_rng(0)
    layers, left, i = [], PARAMETERS, 0
    while left:
        n = min(left, 4_000_000)
        w = rng.standard_normal(n, dtype=np.float32).reshape(-1, 1000)
        w[:, ::3] = 0  # a third pruned, so the zero counting is real work
        layers.append(Layer(f"layer{i}", "Linear", {f"layer{i}.weight": w}))
        left, i = left - n, i + 1
    return layers


def main() -> None:
    layers = make_layers()
    arrays = [w for layer in layers for w in layer.weights.values()]
    rows = []
    for label, fn in [
        ("whole-model histogram (100 bins, zeros apart)", lambda: histogram(arrays)),
        ("per-layer histograms, all 25 layers", lambda: [histogram(layer.weights.values()) for layer in layers]),
        ("statistics: count, zeros, bytes, min/max/mean/std", lambda: model_stats(layers)),
    ]:
        med, lo, hi = median_time(fn)
        rows.append([label, f"{med * 1000:.0f}", f"{lo * 1000:.0f}–{hi * 1000:.0f}", 5])
    for threads in sorted({1, os.cpu_count() or 1}):
        med, lo, hi = median_time(lambda: zipped_size("model", arrays, threads=threads), runs=3)
        rows.append([f"zipped size (deflate, 400 MB), {threads} thread{'s' * (threads > 1)}", f"{med * 1000:.0f}", f"{lo * 1000:.0f}–{hi * 1000:.0f}", 3])
    write("stats", "Statistics of a 100M-parameter model", ["operation", "median ms", "range ms", "runs"], rows,
          "Target: histograms of 100M parameters in under 1 s.")


if __name__ == "__main__":
    main()
