"""conv_transpose / ConvTranspose: torch's size rule by hand, torch parity, weight import, grads."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxcnn.identities import conv_transpose_closed_form
from jaxcnn.upsample import ConvTranspose, conv_transpose


def _rand(shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape).astype(np.float32)


@pytest.mark.parametrize(
    "hw,k,s,p,op,d,expected",
    [
        ((4, 5), 3, 2, 1, 1, 1, (8, 10)),  # (H-1)s - 2p + d(k-1) + op + 1
        ((3, 3), 4, 2, 1, 0, 1, (6, 6)),  # the DCGAN doubling layer
        ((2, 6), 3, 1, 0, 1, 2, (7, 11)),  # output_padding 1 >= stride 1, allowed since dilation 2
        ((5, 5), 1, 3, 0, 2, 1, (15, 15)),
    ],
)
def test_output_size_rule(hw, k, s, p, op, d, expected):
    y = jnp.zeros((1, *hw, 2))
    out = conv_transpose(y, jnp.zeros((k, k, 3, 2)), s, p, op, d)
    assert out.shape == (1, *expected, 3)


def test_is_gradient_of_conv():
    # <conv(x), y> differentiated in x is conv_transpose(y): checked with jax.grad, a different API
    x, y, k = _rand((1, 7, 6, 4)), _rand((1, 4, 4, 6), 1), _rand((3, 2, 2, 6), 2)
    conv = lambda a: jax.lax.conv_general_dilated(
        a, k, (2, 2), [(1, 1), (1, 1)], dimension_numbers=("NHWC", "HWIO", "NHWC"), feature_group_count=2
    )
    grad = jax.grad(lambda a: jnp.sum(conv(a) * y))(x)
    np.testing.assert_allclose(conv_transpose(y, k, 2, 1, 0, 1, 2), grad, atol=1e-5)


def test_kernel_gradient_matches_closed_form_directional_derivative():
    # conv_transpose is bilinear in (y, kernel): d/dt f(y, K + t V) = f(y, V)
    y, k, v = _rand((2, 3, 4, 2), 3), _rand((2, 3, 3, 2), 4), _rand((2, 3, 3, 2), 5)
    f = lambda kk: conv_transpose(y, kk, 2, 0, 1)
    _, tangent = jax.jvp(f, (k,), (v,))
    np.testing.assert_allclose(tangent, conv_transpose_closed_form(y, v, 2, 0, 1), atol=1e-5)


def test_module_default_init_bound_and_shapes():
    m = ConvTranspose(features=6, kernel_size=(3, 2), stride=2, groups=2)
    params = jax.jit(m.init)(jax.random.PRNGKey(0), jnp.zeros((1, 5, 5, 4)))["params"]
    assert params["kernel"].shape == (3, 2, 3, 4)  # (kH, kW, features/groups, in_features)
    bound = 1 / np.sqrt(3 * 3 * 2)  # torch: fan_in = weight.size(1) * kH * kW
    assert np.abs(params["kernel"]).max() <= bound and np.abs(params["kernel"]).max() > 0.7 * bound
    assert np.abs(params["bias"]).max() <= bound
