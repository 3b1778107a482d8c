"""Max-unpool with padding, without torch: torch's documented output size
``(H - 1) * stride - 2 * padding + kernel_size`` and the pool -> unpool round trip."""

import numpy as np
import pytest

from jaxcnn.upsample import max_pool_with_indices, max_unpool


@pytest.mark.parametrize("h, w, k, s, p", [(5, 7, 3, 2, 1), (9, 6, 4, 3, 2), (6, 6, 2, 2, 0)])
def test_padded_unpool_size_and_round_trip(h, w, k, s, p):
    x = np.random.default_rng(h * w).standard_normal((2, h, w, 3)).astype(np.float32)
    y, idx = max_pool_with_indices(x, k, s, p)
    out = np.asarray(max_unpool(y, idx, k, s, p))
    ho, wo = y.shape[1:3]
    assert out.shape == (2, (ho - 1) * s - 2 * p + k, (wo - 1) * s - 2 * p + k, 3)  # torch docs' formula
    # In these cases the formula gives back x's size, so each window's maximum goes back to
    # where it came from: x at the flat index h * W + w.
    assert out.shape[1:3] == (h, w)
    flat_x = x.reshape(2, -1, 3)
    i = np.asarray(idx)
    np.testing.assert_array_equal(np.asarray(y), np.take_along_axis(flat_x, i.reshape(2, -1, 3), 1).reshape(y.shape))
    rows, cols = i // w, i % w
    for b in range(2):
        for c in range(3):
            np.testing.assert_array_equal(out[b, rows[b, ..., c], cols[b, ..., c], c], np.asarray(y)[b, ..., c])
