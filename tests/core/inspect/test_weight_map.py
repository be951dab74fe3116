import numpy as np

from studio.core.inspect.weight_map import as_matrix, weight_map


def test_matrices_of_every_rank():
    assert as_matrix(np.zeros((50, 20, 5, 5))).shape == (50, 500)
    assert as_matrix(np.zeros(7)).shape == (1, 7)
    assert as_matrix(np.float32(3)).shape == (1, 1)


def test_small_weights_are_shown_one_per_pixel():
    w = np.arange(-6, 6, dtype=np.float32).reshape(3, 4)
    m = weight_map(w)
    assert m.block == (1, 1) and m.shape == (3, 4)
    np.testing.assert_array_equal(m.values, w)
    np.testing.assert_array_equal(m.zero_share, w == 0)


def test_downsampling_keeps_zeros_and_signs():
    rng = np.random.default_rng(0)
    w = rng.normal(size=(1001, 2050)).astype(np.float32)
    w[100:300] = 0  # dead rows
    w[:, 7] = 0  # a dead column: every block keeps most of its weights
    w[0, 0] = -50.0  # the largest magnitude is negative
    m = weight_map(w, max_side=100)
    assert m.block == (11, 21) and m.values.shape == (91, 98) and m.shape == (1001, 2050)
    assert m.values[0, 0] == -50.0
    dead = slice(100 // 11 + 1, 300 // 11)  # pixels wholly inside the dead rows
    assert (m.values[dead] == 0).all() and (m.zero_share[dead] == 1).all()
    assert (m.values[:9] != 0).all()  # one zero column does not blank a block
    np.testing.assert_allclose(m.zero_share[0, 0], 11 / (11 * 21))
    # the last row and column of pixels hold fewer real weights: padding does not count as zeros
    assert m.zero_share[-1, -1] == 0 and m.zero_share[-1, 0] < 1
    expected = np.count_nonzero(w == 0) / w.size
    real = np.outer(np.minimum(11, 1001 - 11 * np.arange(91)), np.minimum(21, 2050 - 21 * np.arange(98)))
    np.testing.assert_allclose((m.zero_share * real).sum() / w.size, expected, rtol=1e-5)
