"""Bad input fails loudly, with torch's rules and a message naming the argument."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxcnn.identities import conv_transpose_closed_form, conv_transpose_zero_insertion
from jaxcnn.upsample import (
    ConvTranspose,
    conv_transpose,
    icnr,
    interpolate,
    max_pool_with_indices,
    max_unpool,
    pixel_shuffle,
    pixel_unshuffle,
)

X = jnp.zeros((1, 4, 4, 2))
Y, IDX = max_pool_with_indices(jnp.arange(32.0).reshape(1, 4, 4, 2), 2)
K = jnp.zeros((3, 3, 5, 2))  # forward HWIO kernel: 5 output channels from y's 2

CASES = [
    # interpolate
    (lambda: interpolate(X, size=8, scale_factor=2), ValueError, "only one of size or scale_factor"),
    (lambda: interpolate(X), ValueError, "either size or scale_factor"),
    (lambda: interpolate(X, scale_factor=2, align_corners=True), ValueError, "align_corners"),
    (lambda: interpolate(X, scale_factor=2, mode="nearest-exact", align_corners=False), ValueError, "align_corners"),
    (lambda: interpolate(X, scale_factor=2, mode="linear"), ValueError, "mode"),
    (lambda: interpolate(X, scale_factor=2, antialias=True), ValueError, "antialias"),
    (lambda: interpolate(X, size=(2, 3, 4)), ValueError, "size"),
    (lambda: interpolate(X, size=2.5), TypeError, "size"),
    (lambda: interpolate(X, scale_factor=0.1), ValueError, "scale_factor"),
    (lambda: interpolate(X, scale_factor=-1.0), ValueError, "scale_factor"),
    (lambda: interpolate(X, size=4, recompute_scale_factor=True), ValueError, "recompute_scale_factor"),
    (lambda: interpolate(jnp.zeros((4, 4, 2)), size=2), ValueError, "x must be 4-D"),
    (lambda: interpolate(jnp.zeros((1, 2, 2, 1), jnp.int32), size=4, mode="bilinear"), TypeError, "floating"),
    # pooling / unpooling
    (lambda: max_pool_with_indices(X, 2, padding=2), ValueError, "padding"),
    (lambda: max_pool_with_indices(X, 0), ValueError, "kernel_size"),
    (lambda: max_pool_with_indices(X, 5), ValueError, "empty"),
    (lambda: max_unpool(Y, IDX[:, :1], 2), ValueError, "indices must have the shape"),
    (lambda: max_unpool(Y, IDX.astype(jnp.float32), 2), TypeError, "indices must be an integer"),
    (lambda: max_unpool(Y, IDX + 100, 2), ValueError, "indices must lie in"),
    (lambda: max_unpool(Y, IDX, 2, output_size=(6, 4)), ValueError, "output_size"),
    (lambda: max_unpool(Y, IDX, 2, output_size=(4,)), TypeError, "output_size"),
    # transposed conv
    (lambda: conv_transpose(X, K, stride=2, output_padding=2), ValueError, "output_padding must be smaller"),
    (lambda: conv_transpose(X, K, stride=1, dilation=1, output_padding=1), ValueError, "output_padding"),
    (lambda: conv_transpose(X, jnp.zeros((3, 3, 5, 3))), ValueError, "kernel's last axis"),
    (lambda: conv_transpose(X, jnp.zeros((3, 5, 2))), ValueError, "kernel must be 4-D"),
    (lambda: conv_transpose(X, jnp.zeros((3, 3, 5, 2)), groups=3), ValueError, "divisible by groups"),
    (lambda: conv_transpose(X, K, stride=0), ValueError, "stride"),
    (lambda: conv_transpose(X, K, padding=-1), ValueError, "padding"),
    (lambda: conv_transpose(X, K, padding=9), ValueError, "padding"),
    (lambda: conv_transpose(X, K, dilation=(1, 2, 3)), TypeError, "dilation"),
    (lambda: conv_transpose(X, [[1.0]]), TypeError, "kernel must be an array"),
    (lambda: conv_transpose(np.zeros((1, 3, 1, 4, 4)), K), ValueError, "y must be 4-D"),
    (lambda: ConvTranspose(5, 3, groups=2).init(jax.random.PRNGKey(0), X), ValueError, "features"),
    (lambda: conv_transpose_closed_form(X, K, stride=2, output_padding=3), ValueError, "output_padding"),
    (lambda: conv_transpose_zero_insertion(X, jnp.zeros((3, 3, 5, 4))), ValueError, "kernel"),
    # pixel shuffle / ICNR
    (lambda: pixel_shuffle(jnp.zeros((1, 2, 2, 6)), 2), ValueError, "divisible by r"),
    (lambda: pixel_unshuffle(jnp.zeros((1, 3, 4, 1)), 2), ValueError, "divisible by r"),
    (lambda: pixel_shuffle(X, 0), ValueError, "r must be a positive integer"),
    (lambda: pixel_shuffle(X, 1.5), ValueError, "r must be a positive integer"),
    (lambda: icnr(2)(None, (3, 3, 4, 6)), ValueError, "icnr"),
]


@pytest.mark.parametrize("call,exc,match", CASES, ids=[f"{i:02d}-{c[2][:30]}" for i, c in enumerate(CASES)])
def test_bad_input_raises_clear_error(call, exc, match):
    with pytest.raises(exc, match=match):
        call()
