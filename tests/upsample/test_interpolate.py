"""interpolate: torch-free oracles (hand values, formulas, jax.image.resize) and torch parity."""

import math

import jax
import numpy as np
import pytest

from jaxcnn.upsample import interpolate

SHAPES = [(1, 5, 7, 2), (2, 3, 4, 1), (1, 1, 6, 3)]  # a small pool keeps recompiles few


def _rand(shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape).astype(np.float32)


def test_nearest_integer_factor_is_repeat():
    x = _rand((2, 3, 4, 3))
    out = interpolate(x, scale_factor=(2, 3), mode="nearest")
    np.testing.assert_array_equal(out, np.repeat(np.repeat(x, 2, axis=1), 3, axis=2))


def test_bilinear_hand_values():
    x = np.array([0.0, 1.0], np.float32).reshape(1, 1, 2, 1)
    corners = interpolate(x, size=(1, 5), mode="bilinear", align_corners=True)
    np.testing.assert_allclose(np.ravel(corners), [0, 0.25, 0.5, 0.75, 1], atol=1e-7)
    # half-pixel centres: src = (dst + 0.5) / 2 - 0.5, clamped at 0
    half = interpolate(x, size=(1, 4), mode="bilinear")
    np.testing.assert_allclose(np.ravel(half), [0, 0.25, 0.75, 1], atol=1e-7)


def test_nearest_indexes_with_one_over_scale_factor():
    # in=4, scale_factor=2.6 -> out=10; torch indexes with 1/2.6, not 4/10 (dst=5: 1 vs 2)
    x = np.arange(4, dtype=np.float32).reshape(1, 4, 1, 1)
    out = np.ravel(interpolate(x, scale_factor=(2.6, 1), mode="nearest"))
    np.testing.assert_array_equal(out, [math.floor(d / 2.6) for d in range(10)])
    recomputed = np.ravel(interpolate(x, scale_factor=(2.6, 1), mode="nearest", recompute_scale_factor=True))
    np.testing.assert_array_equal(recomputed, [math.floor(d * 0.4) for d in range(10)])
    assert out[5] != recomputed[5]


def _bilinear_1d(v, n_out, scale):
    """float64 half-pixel linear interpolation from the formula, for one axis."""
    out = []
    for d in range(n_out):
        src = max(scale * (d + 0.5) - 0.5, 0.0)
        i0 = min(int(math.floor(src)), len(v) - 1)
        lam = min(max(src - i0, 0.0), 1.0)
        out.append((1 - lam) * v[i0] + lam * v[min(i0 + 1, len(v) - 1)])
    return np.array(out)


@pytest.mark.parametrize("recompute", [None, True])
def test_bilinear_scale_factor_rule(recompute):
    v = np.array([1.0, -2.0, 4.0], np.float32)
    out = np.ravel(
        interpolate(v.reshape(1, 3, 1, 1), scale_factor=(1.7, 1), mode="bilinear", recompute_scale_factor=recompute)
    )
    scale = 3 / 5 if recompute else 1 / 1.7
    np.testing.assert_allclose(out, _bilinear_1d(v, 5, scale), atol=1e-6)


def test_nearest_exact_ties_round_up():
    # 10 -> 25: dst=2 lands exactly on src 1.0; torch (and this) take 1, jax.image.resize takes 0
    x = np.arange(10, dtype=np.float32).reshape(1, 1, 10, 1)
    out = np.ravel(interpolate(x, size=(1, 25), mode="nearest-exact"))
    np.testing.assert_array_equal(out, [min(math.floor((d + 0.5) * 0.4), 9) for d in range(25)])


@pytest.mark.parametrize("size", [(5, 4), (7, 3), (24, 25), (9, 17)])
@pytest.mark.parametrize(
    "mode,antialias,jax_method",
    [
        ("bilinear", False, "linear"),
        ("bicubic", False, "cubic-pytorch"),
        ("bilinear", True, "linear"),  # jax's triangle filter, stretched and renormalised
        ("bicubic", True, "cubic"),  # Keys a=-0.5, as torch's antialiased bicubic
    ],
)
def test_matches_jax_image_resize(size, mode, antialias, jax_method):
    x = _rand((1, 12, 10, 2))
    ours = interpolate(x, size=size, mode=mode, antialias=antialias)
    ref = jax.image.resize(x, (1, *size, 2), jax_method, antialias=antialias)
    np.testing.assert_allclose(ours, ref, atol=5e-6)


def test_jit_and_dtype():
    x = _rand((1, 4, 4, 2)).astype(np.float16)
    f = jax.jit(lambda a: interpolate(a, scale_factor=2, mode="bicubic", align_corners=True))
    assert f(x).dtype == np.float16 and f(x).shape == (1, 8, 8, 2)
