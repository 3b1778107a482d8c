"""pixel_shuffle / unshuffle / ICNR / SubPixelConv: index formula, inverse, adjoint, torch parity."""

import jax
import jax.numpy as jnp
import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from jaxcnn.identities import transpose_of
from jaxcnn.upsample import SubPixelConv, icnr, pixel_shuffle, pixel_unshuffle


def _rand(shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape).astype(np.float32)


def test_shuffle_index_formula():
    r, c = 3, 2
    x = _rand((2, 2, 3, c * r * r))
    out = np.asarray(pixel_shuffle(x, r))
    for h in range(2):
        for w in range(3):
            for i in range(r):
                for j in range(r):
                    for ch in range(c):  # torch reads channel c*r*r + i*r + j
                        assert out[:, h * r + i, w * r + j, ch].tolist() == x[:, h, w, ch * r * r + i * r + j].tolist()


def test_not_depth_to_space_order():
    x = _rand((1, 2, 2, 8))
    tf_order = x.reshape(1, 2, 2, 2, 2, 2).transpose(0, 1, 3, 2, 4, 5).reshape(1, 4, 4, 2)  # (i, j, c)
    assert not np.array_equal(pixel_shuffle(x, 2), tf_order)


@settings(max_examples=25, deadline=None)
@given(r=st.integers(1, 3), c=st.integers(1, 3), h=st.integers(1, 3), w=st.integers(1, 3))
def test_round_trip_bit_exact(r, c, h, w):
    x = _rand((1, h, w, c * r * r), r + c)
    np.testing.assert_array_equal(pixel_unshuffle(pixel_shuffle(x, r), r), x)
    z = _rand((1, h * r, w * r, c), h + w)
    np.testing.assert_array_equal(pixel_shuffle(pixel_unshuffle(z, r), r), z)


def test_shuffle_adjoint_is_unshuffle():
    x, z = _rand((2, 3, 2, 12)), _rand((2, 6, 4, 3), 1)
    np.testing.assert_array_equal(transpose_of(lambda a: pixel_shuffle(a, 2), x)(z), pixel_unshuffle(z, 2))


def test_icnr_repeats_each_filter():
    k = icnr(2)(jax.random.PRNGKey(0), (3, 3, 4, 3 * 4))
    for c in range(3):
        for t in range(4):
            np.testing.assert_array_equal(k[..., c * 4 + t], k[..., c * 4])
    assert not np.array_equal(k[..., 0], k[..., 4])


def test_icnr_subpixel_equals_nearest_upsampling_of_base_conv():
    r, x = 3, _rand((2, 5, 4, 3))
    m = SubPixelConv(features=2, scale=r)
    params = m.init(jax.random.PRNGKey(1), x)["params"]["conv"]
    params = {"kernel": params["kernel"], "bias": jnp.arange(2 * r * r, dtype=jnp.float32) // (r * r)}
    out = m.apply({"params": {"conv": params}}, x)
    base = (
        jax.lax.conv_general_dilated(
            x, params["kernel"][..., :: r * r], (1, 1), [(1, 1), (1, 1)], dimension_numbers=("NHWC", "HWIO", "NHWC")
        )
        + params["bias"][:: r * r]
    )
    nearest = np.repeat(np.repeat(base, r, axis=1), r, axis=2)
    np.testing.assert_allclose(out, nearest, atol=1e-5)
    # no checkerboard: every r x r block is constant
    assert np.ptp(np.asarray(out).reshape(2, 5, r, 4, r, 2), axis=(2, 4)).max() < 1e-5
