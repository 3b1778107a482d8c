"""``max_pool_with_indices`` / ``max_unpool``: bad arguments named at the boundary, before allocating."""

import jax.numpy as jnp
import numpy as np
import pytest

from jaxcnn.upsample import max_pool_with_indices, max_unpool

X = jnp.ones((1, 8, 8, 4))
X3 = jnp.ones((8, 8, 4))
Y, IDX = max_pool_with_indices(jnp.arange(64.0).reshape(1, 4, 4, 4), 2)
IDX_FLOAT, IDX_HIGH = IDX.astype(jnp.float32), IDX + 100
IDX_NARROW = IDX[:, :1]
Y3, IDX3 = Y[0], IDX[0]

CASES = [
    ("kernel_size 0", lambda: max_pool_with_indices(X, 0), ValueError, "kernel_size"),
    ("kernel_size 2.0", lambda: max_pool_with_indices(X, 2.0), TypeError, "kernel_size"),
    ("kernel_size > input", lambda: max_pool_with_indices(X, 9), ValueError, "kernel_size"),
    ("stride 0", lambda: max_pool_with_indices(X, 2, 0), ValueError, "stride"),
    ("padding -1", lambda: max_pool_with_indices(X, 2, padding=-1), ValueError, "padding"),
    ("padding > k/2", lambda: max_pool_with_indices(X, 2, padding=2), ValueError, "padding"),
    ("ceil_mode str", lambda: max_pool_with_indices(X, 2, ceil_mode="yes"), TypeError, "ceil_mode"),
    ("x 3-D", lambda: max_pool_with_indices(X3, 2), ValueError, "x"),
    ("x list", lambda: max_pool_with_indices([[1.0]], 2), TypeError, "x"),
    ("indices shape", lambda: max_unpool(Y, IDX_NARROW, 2), ValueError, "indices"),
    ("indices float", lambda: max_unpool(Y, IDX_FLOAT, 2), TypeError, "indices"),
    ("indices too high", lambda: max_unpool(Y, IDX_HIGH, 2), ValueError, "indices"),
    ("indices list", lambda: max_unpool(Y, [[0]], 2), ValueError, "indices"),
    ("y 3-D", lambda: max_unpool(Y3, IDX3, 2), ValueError, "y"),
    ("output_size int", lambda: max_unpool(Y, IDX, 2, output_size=4), TypeError, "output_size"),
    ("output_size range", lambda: max_unpool(Y, IDX, 2, output_size=(9, 4)), ValueError, "output_size"),
    ("unpool kernel_size 0", lambda: max_unpool(Y, IDX, 0), ValueError, "kernel_size"),
    ("unpool huge kernel", lambda: max_unpool(Y, IDX, 10**5), ValueError, "kernel_size"),
    ("unpool huge stride", lambda: max_unpool(Y, IDX, 2, stride=10**5), ValueError, "stride"),
]


@pytest.mark.parametrize("name,call,exc,argument", CASES, ids=[c[0] for c in CASES])
def test_bad_input(bad_input, name, call, exc, argument):
    bad_input(call, exc, argument)


def test_numpy_ints_and_flags_are_valid():
    y, idx = max_pool_with_indices(X, np.int64(2), stride=(np.int32(2), 2), ceil_mode=np.bool_(False))
    ref_y, ref_idx = max_pool_with_indices(X, 2)
    assert np.array_equal(y, ref_y) and np.array_equal(idx, ref_idx)
    assert max_unpool(Y, IDX, 2, output_size=(np.int64(5), 5)).shape == (1, 5, 5, 4)
