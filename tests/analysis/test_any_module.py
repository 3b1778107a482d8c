"""Receptive fields and MACs of a user's own flax module, which has no ``features`` method:
named submodule outputs (``capture_intermediates``) against hand-computed values."""

import flax.linen as nn
import jax.numpy as jnp
import pytest

from jaxcnn.analysis import model_receptive_fields
from jaxcnn.analysis.complexity import model_complexity


class Tiny(nn.Module):
    """3x3 conv, 3x3 stride-2 conv, 3x3 dilation-2 conv (all VALID), then a pooled dense head."""

    @nn.compact
    def __call__(self, x):
        x = nn.relu(nn.Conv(4, (3, 3), padding="VALID", name="c1")(x))
        x = nn.Conv(6, (3, 3), strides=2, padding="VALID", name="c2")(x)
        x = nn.Conv(8, (3, 3), kernel_dilation=2, padding="VALID", name="c3")(x)
        return nn.Dense(5, name="fc")(jnp.mean(x, axis=(1, 2)))


class Nested(nn.Module):
    """A user block inside a user model: paths are 'stem', 'block/a', 'block/b', 'block'."""

    @nn.compact
    def __call__(self, x, train: bool = False):
        x = nn.Conv(4, (3, 3), padding="VALID", name="stem")(x)
        return Block(name="block")(x)


class Block(nn.Module):
    @nn.compact
    def __call__(self, x):
        y = nn.Conv(4, (3, 3), padding=1, name="a")(x)
        return x + nn.Conv(4, (3, 3), strides=2, padding=1, name="b")(y)[:, :, :, :].repeat(2, 1).repeat(2, 2)


def test_receptive_fields_of_a_module_without_features():
    assert not hasattr(Tiny(), "features")
    r = model_receptive_fields(Tiny(), (1, 16, 16, 3))
    assert list(r) == ["c1", "c2", "c3"]  # the Dense output is not spatial
    # r = 1 + sum (k_l - 1) prod s_i: 3; 3 + 2*1 = 5; 5 + (2*(3-1)+1 - 1) * 2 = 13
    assert [r[k].size for k in r] == [(3, 3), (5, 5), (13, 13)]
    assert [r[k].stride for k in r] == [(1, 1), (2, 2), (2, 2)]


def test_nested_paths_and_call_order():
    r = model_receptive_fields(Nested(), (1, 12, 12, 3))
    assert list(r) == ["stem", "block/a", "block/b", "block"]
    assert r["block/a"].size == (5, 5) and r["block/b"].size == (7, 7)


def test_macs_and_params_of_a_module_without_features():
    c = model_complexity(Tiny(), (1, 16, 16, 3))
    # c1: 14x14x4 outputs x 27; c2: 6x6x6 x 36; c3: 2x2x8 x 54; fc: 8 x 5; nothing after fc
    macs = {"c1": 14 * 14 * 4 * 27, "c2": 6 * 6 * 6 * 36, "c3": 2 * 2 * 8 * 54, "fc": 8 * 5, "head": 0}
    params = {"c1": 27 * 4 + 4, "c2": 36 * 6 + 6, "c3": 54 * 8 + 8, "fc": 8 * 5 + 5, "head": 0}
    assert {k: v[1] for k, v in c.stages.items()} == macs
    assert {k: v[0] for k, v in c.stages.items()} == params
    assert c.macs == sum(macs.values()) and c.params == sum(params.values())


def test_a_non_module_is_refused():
    with pytest.raises(TypeError, match="flax.linen Module"):
        model_receptive_fields(lambda x: x, (1, 8, 8, 1))
