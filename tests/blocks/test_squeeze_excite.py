"""Squeeze-and-Excitation against its formula written in numpy."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxcnn.blocks import SqueezeExcite


def test_se_formula():
    x = jax.random.normal(jax.random.key(1), (2, 5, 7, 32))
    se = SqueezeExcite(reduction=4)
    v = se.init(jax.random.key(0), x)
    p = jax.tree_util.tree_map(np.asarray, v["params"])
    xn = np.asarray(x)
    s = xn.mean(axis=(1, 2))
    h = np.maximum(s @ p["fc1"]["kernel"] + p["fc1"]["bias"], 0)
    gate = 1 / (1 + np.exp(-(h @ p["fc2"]["kernel"] + p["fc2"]["bias"])))
    np.testing.assert_allclose(np.asarray(se.apply(v, x)), xn * gate[:, None, None, :], rtol=1e-5, atol=1e-6)
    assert p["fc1"]["kernel"].shape == (32, 8) and p["fc2"]["kernel"].shape == (8, 32)


def test_se_rejects_reduction_larger_than_channels():
    with pytest.raises(ValueError, match="reduction"):
        SqueezeExcite(reduction=64).init(jax.random.key(0), jnp.zeros((1, 4, 4, 32)))
