"""max_pool_with_indices / max_unpool: a NumPy loop oracle, the adjoint, and torch parity."""

import numpy as np
import pytest

from jaxcnn.identities import transpose_of
from jaxcnn.upsample import max_pool_with_indices, max_unpool
from jaxcnn.upsample.unpool import pool_output_size


def _pool_loop(x, k, s, p, ceil_mode):
    """Window by window, first maximum in row-major order, padding never wins (ATen CPU rule)."""
    n, h, w, c = x.shape
    ho, wo = pool_output_size(h, k, s, p, ceil_mode), pool_output_size(w, k, s, p, ceil_mode)
    y = np.zeros((n, ho, wo, c), x.dtype)
    idx = np.zeros((n, ho, wo, c), np.int64)
    for b in range(n):
        for ch in range(c):
            for i in range(ho):
                for j in range(wo):
                    best, arg = -np.inf, None
                    for di in range(k):
                        for dj in range(k):
                            r, q = i * s - p + di, j * s - p + dj
                            if 0 <= r < h and 0 <= q < w:
                                if arg is None or x[b, r, q, ch] > best:
                                    best, arg = x[b, r, q, ch], r * w + q
                    y[b, i, j, ch], idx[b, i, j, ch] = best, arg
    return y, idx


@pytest.mark.parametrize(
    "k,s,p,ceil_mode", [(2, 2, 0, False), (3, 2, 1, False), (3, 2, 1, True), (2, 3, 1, True), (3, 1, 0, False)]
)
def test_pool_matches_loop_with_ties(k, s, p, ceil_mode):
    x = np.random.default_rng(0).integers(0, 3, (2, 7, 6, 2)).astype(np.float32)  # many ties
    x[0, :3, :3, 0] = -np.inf  # a window of -inf points at its first real cell
    y, idx = max_pool_with_indices(x, k, s, p, ceil_mode)
    y_ref, idx_ref = _pool_loop(x, k, s, p, ceil_mode)
    np.testing.assert_array_equal(y, y_ref)
    np.testing.assert_array_equal(idx, idx_ref)


def test_unpool_places_values_at_indices():
    x = np.random.default_rng(1).standard_normal((2, 6, 4, 3)).astype(np.float32)
    y, idx = max_pool_with_indices(x, 2)
    out = np.asarray(max_unpool(y, idx, 2))
    ref = np.zeros_like(x).reshape(2, -1, 3)
    for b in range(2):
        for c in range(3):
            ref[b, np.asarray(idx)[b, ..., c].ravel(), c] = np.asarray(y)[b, ..., c].ravel()
    np.testing.assert_array_equal(out, ref.reshape(x.shape))
    assert np.count_nonzero(out) == y.size  # one survivor per window, zeros elsewhere


def test_unpool_is_adjoint_of_index_gather():
    x = np.random.default_rng(2).standard_normal((1, 6, 6, 2)).astype(np.float32)
    y, idx = max_pool_with_indices(x, 2)  # non-overlapping windows: indices are unique
    unpool = lambda v: max_unpool(v, idx, 2)
    z = np.random.default_rng(3).standard_normal(x.shape).astype(np.float32)
    gathered = np.take_along_axis(z.reshape(1, -1, 2), np.asarray(idx).reshape(1, -1, 2), axis=1).reshape(y.shape)
    np.testing.assert_array_equal(transpose_of(unpool, y)(z), gathered)


def test_gradient_flows_to_the_max():
    import jax

    x = np.random.default_rng(4).standard_normal((1, 4, 4, 1)).astype(np.float32)
    g = jax.grad(lambda a: max_pool_with_indices(a, 2)[0].sum())(x)
    _, idx = _pool_loop(x, 2, 2, 0, False)
    expected = np.zeros(16, np.float32)
    expected[idx.ravel()] = 1
    np.testing.assert_array_equal(np.ravel(g), expected)
