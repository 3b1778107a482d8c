"""ESPCN: shapes, named features, the paper's parameter count, pixel-shuffle head."""

from collections import OrderedDict

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxcnn.models.espcn import ESPCN, espcn
from jaxcnn.upsample import pixel_shuffle
from jaxcnn.utils import count_params


@pytest.mark.parametrize("scale,channels", [(3, 1), (2, 3)])
def test_shapes_features_and_params(scale, channels):
    m = espcn(scale=scale, channels=channels)
    x = jnp.asarray(np.random.default_rng(0).standard_normal((2, 7, 5, channels)), jnp.float32)
    v = jax.jit(m.init)(jax.random.PRNGKey(0), x)  # jit: one compile instead of many eager ones
    both = jax.jit(lambda v, x: (m.apply(v, x, method=ESPCN.features), m.apply(v, x, train=True)))
    feats, out = both(v, x)
    assert isinstance(feats, OrderedDict) and list(feats) == ["conv1", "conv2", "conv3", "final"]
    assert feats["conv1"].shape == (2, 7, 5, 64) and feats["conv2"].shape == (2, 7, 5, 32)
    assert feats["conv3"].shape == (2, 7, 5, channels * scale**2)
    assert out.shape == (2, 7 * scale, 5 * scale, channels)
    np.testing.assert_array_equal(out, feats["final"])
    np.testing.assert_array_equal(out, pixel_shuffle(feats["conv3"], scale))
    assert np.abs(feats["conv2"]).max() <= 1  # tanh
    r2c = channels * scale**2
    assert count_params(v) == (25 * channels * 64 + 64) + (9 * 64 * 32 + 32) + (9 * 32 * r2c + r2c)


def test_icnr_option_and_nchw_error():
    m = espcn(scale=2, use_icnr=True)
    v = jax.jit(m.init)(jax.random.PRNGKey(0), jnp.zeros((1, 4, 4, 1)))
    k = v["params"]["conv3"]["kernel"]
    np.testing.assert_array_equal(k, jnp.repeat(k[..., ::4], 4, axis=-1))
    with pytest.raises(ValueError, match="x must be NHWC"):
        m.apply(v, jnp.zeros((1, 3, 4, 4)))
