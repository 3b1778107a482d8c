"""Valid-by-decision inputs of ``jaxcnn.upsample`` (NumPy scalars and flags, precision names, odd kernels);
the bad ones are in the sweep."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxcnn.upsample import SubPixelConv, conv_transpose, interpolate, max_pool_with_indices, max_unpool

X = jnp.ones((1, 8, 8, 4))


def test_numpy_scalars_are_valid_sizes_and_scales():
    ref = interpolate(X, size=(5, 6), mode="bilinear")
    assert np.array_equal(interpolate(X, size=(np.int64(5), np.int32(6)), mode="bilinear"), ref)
    ref = interpolate(X, scale_factor=1.5, mode="bicubic")
    assert np.array_equal(interpolate(X, scale_factor=np.float32(1.5), mode="bicubic"), ref)
    assert interpolate(X, scale_factor=np.int64(2)).shape == (1, 16, 16, 4)
    assert interpolate(X, scale_factor=0.5, mode="bilinear", antialias=np.bool_(True)).shape == (1, 4, 4, 4)


@pytest.mark.parametrize("k", [1, 3, 5])
def test_odd_kernels_keep_the_promised_size(k):
    out = jax.eval_shape(lambda: SubPixelConv(2, 3, kernel_size=np.int64(k)).init_with_output(jax.random.key(0), X)[0])
    assert out.shape == (1, 24, 24, 2)


def test_numpy_ints_and_precision_names_are_valid():
    kernel = jnp.zeros((3, 3, 2, 4))  # forward HWIO kernel: 2 output channels from y's 4
    ref = conv_transpose(X, kernel, stride=2, groups=1)
    out = conv_transpose(X, kernel, stride=np.int64(2), groups=np.int32(1), precision="highest")
    np.testing.assert_allclose(out, ref)
    assert conv_transpose(X, kernel, precision=("highest", "default")).shape == (1, 10, 10, 2)


def test_numpy_ints_and_flags_are_valid():
    y, idx = max_pool_with_indices(X, np.int64(2), stride=(np.int32(2), 2), ceil_mode=np.bool_(False))
    ref_y, ref_idx = max_pool_with_indices(X, 2)
    assert np.array_equal(y, ref_y) and np.array_equal(idx, ref_idx)
    y, idx = max_pool_with_indices(jnp.arange(64.0).reshape(1, 4, 4, 4), 2)
    assert max_unpool(y, idx, 2, output_size=(np.int64(5), 5)).shape == (1, 5, 5, 4)
