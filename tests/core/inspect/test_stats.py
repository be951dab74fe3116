import numpy as np

from studio.core.inspect.layers import Layer
from studio.core.inspect.stats import CHUNK, HISTOGRAM_SAMPLE, histogram, layer_stats, weight_stats, zero_count


def test_counts_zeros_bytes_and_moments_exactly():
    a = np.array([[0.0, 1.0], [-2.0, 0.0]], np.float32)
    b = np.array([3.0, 0.0], np.float16)
    s = weight_stats([a, b])
    assert (s.parameters, s.zeros, s.nonzero) == (6, 3, 3)
    assert s.sparsity == 0.5
    assert s.bytes_by_dtype == {"float32": 16, "float16": 4} and s.bytes == 20
    assert (s.min, s.max) == (-2.0, 3.0)
    assert np.isclose(s.mean, 2 / 6) and np.isclose(s.std, np.std([0, 1, -2, 0, 3, 0]))


def test_nonfinite_values_are_counted_apart():
    s = weight_stats([np.array([1.0, 3.0], np.float32), np.array([np.nan, np.inf, 2.0], np.float32)])
    assert s.nonfinite == 2 and s.parameters == 5
    assert (s.min, s.max, s.mean) == (1.0, 3.0, 2.0)


def test_arrays_larger_than_a_chunk_give_the_same_statistics():
    rng = np.random.default_rng(0)
    a = rng.standard_normal((3, CHUNK // 2 + 5)).astype(np.float32)  # 1.5 chunks, a ragged end
    a[:, ::4] = 0
    a[2, -1], a[0, 0] = np.nan, np.inf
    s = weight_stats([a])
    finite = a[np.isfinite(a)].astype(np.float64)
    assert (s.parameters, s.zeros, s.nonfinite) == (a.size, int((a == 0).sum()), 2)
    assert (s.min, s.max) == (finite.min(), finite.max())
    assert np.isclose(s.mean, finite.mean()) and np.isclose(s.std, finite.std(), rtol=1e-5)


def test_histogram_keeps_zeros_in_their_own_bin():
    w = np.concatenate([np.zeros(900, np.float32), np.linspace(-1, 1, 100, dtype=np.float32)])
    h = histogram([w], bins=10)
    assert h.zeros == 900 and h.counts.sum() == 100 and not h.sampled


def test_histogram_of_huge_arrays_is_sampled_but_scaled_to_the_whole():
    rng = np.random.default_rng(1)
    big = rng.normal(size=HISTOGRAM_SAMPLE * 3).astype(np.float32)
    big[: HISTOGRAM_SAMPLE] = 0
    h = histogram([big, np.ones(10, np.float32)])
    assert h.sampled and h.zeros == HISTOGRAM_SAMPLE
    assert abs(h.counts.sum() - (big.size + 10 - HISTOGRAM_SAMPLE)) < 0.001 * big.size



def test_histogram_of_the_bulk_counts_the_outliers_beside_it():
    """A real model's few large values (a batch norm's scale of 18) squeezed every other weight into one bar."""
    rng = np.random.default_rng(2)
    w = np.concatenate([rng.normal(0, 0.1, 100_000), [-17.0, 18.0, 18.5]]).astype(np.float32)
    h = histogram([w], bins=50, bulk=0.005)
    assert -0.4 < h.edges[0] < -0.2 and 0.2 < h.edges[-1] < 0.4  # the bulk, not -17 … 18.5
    assert h.below + h.counts.sum() + h.above == w.size and h.below >= 1 and h.above >= 2
    spread = rng.uniform(-1, 1, 10_000).astype(np.float32)  # no outliers: the whole range, nothing left out
    h = histogram([spread], bulk=0.005)
    assert h.edges[0] == spread.min() and h.edges[-1] == spread.max() and h.below == h.above == 0

def test_layer_stats_covers_all_its_weights():
    layer = Layer("fc", "Linear", {"fc.weight": np.ones((3, 4), np.float32), "fc.bias": np.zeros(3, np.float32)})
    assert layer_stats(layer).parameters == 15 and layer.shape == (3, 4)


def test_zeros_are_counted_exactly_a_piece_at_a_time():
    a = np.ones(CHUNK * 2 + 5, np.float32)
    a[::7] = 0
    assert zero_count([a, np.zeros((3, 3))]) == int((a == 0).sum()) + 9
