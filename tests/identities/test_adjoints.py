"""Each linear upsampler is the adjoint of its downsampling counterpart: <A x, y> = <x, Aᵀ y>."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxcnn.identities import adjoint_gap, transpose_of
from jaxcnn.upsample import conv_transpose, interpolate, pixel_shuffle, pixel_unshuffle


def _rand(shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape).astype(np.float32)


def _sum_pool(z, r):
    n, h, w, c = z.shape
    return z.reshape(n, h // r[0], r[0], w // r[1], r[1], c).sum(axis=(2, 4))


@pytest.mark.parametrize("r", [(2, 2), (3, 2)])
def test_nearest_transpose_is_sum_pool(r):
    x, z = _rand((2, 3, 4, 2)), _rand((2, 3 * r[0], 4 * r[1], 2), 1)
    up = lambda a: interpolate(a, scale_factor=r, mode="nearest")
    np.testing.assert_allclose(transpose_of(up, x)(z), _sum_pool(z, r), atol=1e-5)
    assert adjoint_gap(up, x, z) < 1e-6


def test_conv_transpose_and_conv_are_adjoint():
    k = _rand((3, 2, 2, 6), 2)
    conv = lambda a: jax.lax.conv_general_dilated(
        a,
        k,
        (2, 1),
        [(1, 1), (0, 0)],
        rhs_dilation=(1, 2),
        dimension_numbers=("NHWC", "HWIO", "NHWC"),
        feature_group_count=3,
    )
    ct = lambda b: conv_transpose(b, k, (2, 1), (1, 0), (1, 0), (1, 2), 3)
    x = _rand((1, 8, 6, 6), 3)
    y = _rand(conv(x).shape, 4)
    np.testing.assert_allclose(transpose_of(conv, x)(y), ct(y), atol=1e-5)
    np.testing.assert_allclose(transpose_of(ct, y)(x), conv(x), atol=1e-5)
    assert adjoint_gap(ct, y, x) < 1e-6


def test_pixel_shuffle_adjoint_gap():
    assert adjoint_gap(lambda a: pixel_shuffle(a, 3), _rand((1, 2, 2, 18)), _rand((1, 6, 6, 2), 1)) < 1e-6
    assert adjoint_gap(lambda a: pixel_unshuffle(a, 3), _rand((1, 6, 6, 2)), _rand((1, 2, 2, 18), 1)) < 1e-6


@pytest.mark.parametrize("mode,align", [("bilinear", False), ("bilinear", True), ("bicubic", False)])
def test_interpolation_is_linear_with_exact_adjoint(mode, align):
    x, z = _rand((1, 4, 5, 2)), _rand((1, 7, 9, 2), 1)
    assert adjoint_gap(lambda a: interpolate(a, size=(7, 9), mode=mode, align_corners=align), x, z) < 1e-5


def test_adjoint_gap_is_not_vacuous():
    # transpose_of is checked against an independent downsampler above; here the inner products
    # themselves: the shuffle's adjoint is not a plain sum-pool spread over channels
    x, z = _rand((1, 2, 2, 4)), _rand((1, 4, 4, 1), 1)
    good = float(jnp.vdot(pixel_shuffle(x, 2).ravel(), z.ravel()))
    np.testing.assert_allclose(good, float(jnp.vdot(x.ravel(), pixel_unshuffle(z, 2).ravel())), rtol=1e-5)
    wrong = float(jnp.vdot(x.ravel(), _sum_pool(z, (2, 2)).repeat(4, axis=-1).ravel()))
    assert abs(good - wrong) > 1e-3
