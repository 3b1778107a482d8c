"""MobileNetV2 inverted residual and depthwise-separable conv: structure and counts by formula."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxcnn import count_params
from jaxcnn.blocks import DepthwiseSeparableConv, InvertedResidual


def _params(module, x):
    return jax.eval_shape(lambda: module.init(jax.random.key(0), x))["params"]


@pytest.mark.parametrize("cin, cout, t", [(16, 24, 6), (24, 24, 6), (32, 16, 1), (10, 12, 2.5)])
def test_inverted_residual_parameter_formula(cin, cout, t):
    hidden = int(round(cin * t))
    expand = 0 if t == 1 else cin * hidden + 2 * hidden
    want = expand + 9 * hidden + 2 * hidden + hidden * cout + 2 * cout
    p = _params(InvertedResidual(cout, 1, t), jnp.zeros((1, 8, 8, cin)))
    assert count_params(p) == want
    assert ("expand_conv" in p) == (t != 1)  # no expansion conv when t = 1 (torchvision)


def test_linear_bottleneck_and_residual_rule():
    x = jax.random.normal(jax.random.key(1), (2, 8, 8, 16))
    # Residual iff stride 1 and in == out: with project_bn zeroed the block is then identity.
    block = InvertedResidual(16, 1, 6)
    v = block.init(jax.random.key(0), x)
    v["params"]["project_bn"]["scale"] = jnp.zeros(16)
    np.testing.assert_array_equal(np.asarray(block.apply(v, x)), np.asarray(x))
    # No activation after the projection: outputs take negative values.
    for cout, s in [(24, 1), (16, 2)]:
        y = InvertedResidual(cout, s, 6).apply(InvertedResidual(cout, s, 6).init(jax.random.key(0), x), x)
        assert y.shape == (2, 8 // s, 8 // s, cout) and (np.asarray(y) < 0).any()


def test_depthwise_separable_is_cheaper_by_the_formula():
    x = jnp.zeros((1, 8, 8, 32))
    p = _params(DepthwiseSeparableConv(64), x)
    assert p["dw_conv"]["kernel"].shape == (3, 3, 1, 32)
    assert count_params(p) == 9 * 32 + 2 * 32 + 32 * 64 + 2 * 64
