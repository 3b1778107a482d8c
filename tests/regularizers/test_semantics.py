"""Regularizer semantics that symmetric or degenerate settings hide.

* Batch-mode stochastic depth at p != 0.5: at p = 0.5 a coin and its inverse are the same
  distribution, so the keep frequency is checked at p = 0.9 and p = 0.25 against binomial
  bounds, on the ``nn.cond`` path and through a residual block's ``drop_path_rate``.
* DropBlock renormalisation in both mask modes: a shared (N, H, W, 1) mask must be renormalised
  by its own size, not the input's (C times too large otherwise).
* Cutout's square position for odd and even sizes: the coverage frequency of every row and
  column against the exact enumeration over uniform centres, rows [c - L//2, c - L//2 + L).
"""

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxcnn.blocks import BasicBlock
from jaxcnn.regularizers import cutout, drop_block, stochastic_residual


def within_binomial(k, n, p, z=4.5):
    return abs(k / n - p) <= z * np.sqrt(p * (1 - p) / n)


# ---- stochastic depth: the batch-mode coin ---------------------------------------------------


class PlusOne(nn.Module):
    """A residual whose branch adds exactly 1: kept and dropped outputs are told apart exactly."""

    p: float
    test_rule: str = "paper"

    @nn.compact
    def __call__(self, x, train):
        return stochastic_residual(
            self,
            lambda mdl, h: jnp.ones_like(h),
            x,
            x,
            survival_prob=self.p,
            deterministic=not train,
            mode="batch",
            test_rule=self.test_rule,
        )


@pytest.mark.parametrize("p, rule", [(0.9, "paper"), (0.25, "paper"), (0.8, "inverted")])
def test_batch_coin_keeps_with_probability_p(p, rule):
    n = 3000
    x = jnp.zeros((2, 3))
    block = PlusOne(p, rule)
    # lax.map keeps nn.cond a real conditional (vmap would turn it into a select).
    ys = np.asarray(
        jax.jit(lambda keys: jax.lax.map(lambda k: block.apply({}, x, True, rngs={"dropout": k}), keys))(
            jax.random.split(jax.random.key(0), n)
        )
    )
    flat = ys.reshape(n, -1)
    scale = 1 / p if rule == "inverted" else 1.0
    kept = np.all(np.isclose(flat, scale, rtol=1e-6), axis=1)
    dropped = np.all(flat == 0, axis=1)
    assert np.all(kept ^ dropped)  # the whole batch is kept or dropped together
    assert within_binomial(kept.sum(), n, p), (kept.mean(), p)


def test_block_drop_path_rate_is_the_drop_probability():
    """BasicBlock(drop_path_rate=0.1) in batch mode keeps its branch 90 % of the time, not 10 %."""
    n, rate = 1000, 0.1
    x = jax.random.normal(jax.random.key(1), (2, 4, 4, 4))
    block = BasicBlock(4, drop_path_rate=rate, drop_path_mode="batch")
    v = block.init(jax.random.key(0), x)

    def fwd(k):
        return block.apply(v, x, train=True, rngs={"dropout": k}, mutable=["batch_stats"])[0]

    ys = np.asarray(jax.jit(lambda keys: jax.lax.map(fwd, keys))(jax.random.split(jax.random.key(2), n)))
    dropped = np.all(ys == np.maximum(np.asarray(x), 0), axis=(1, 2, 3, 4))  # relu(shortcut) alone
    assert within_binomial(dropped.sum(), n, rate), (dropped.mean(), rate)


# ---- DropBlock: renormalisation in both mask modes ----------------------------------------


@pytest.mark.parametrize("per_channel", [True, False])
@pytest.mark.parametrize("channels", [1, 4])
def test_dropblock_preserves_the_mean_of_a_constant(per_channel, channels):
    x = jnp.full((6, 12, 12, channels), 2.5)
    y = np.asarray(drop_block(jax.random.key(3), x, 0.3, 3, per_channel))
    dropped = y == 0
    assert 0.05 < dropped.mean() < 0.5  # something was dropped, not everything
    if not per_channel:
        assert np.all(dropped == dropped[..., :1])
    # count / count_kept: kept entries are x / (kept fraction), so the mean is exactly preserved.
    np.testing.assert_allclose(y[~dropped], 2.5 / (1 - dropped.mean()), rtol=1e-5)
    assert float(y.mean()) == pytest.approx(2.5, rel=1e-5)


def test_dropblock_shared_mask_is_unbiased():
    """E[drop_block(x)] = x per pixel up to border effects; here on a constant map, exactly the mean."""
    x = 1.0 + jax.random.uniform(jax.random.key(4), (2, 10, 10, 3))
    keys = jax.random.split(jax.random.key(5), 400)
    means = np.asarray(jax.vmap(lambda k: jnp.mean(drop_block(k, x, 0.25, 3, False)))(keys))
    se = means.std() / np.sqrt(len(keys))
    assert abs(means.mean() - float(jnp.mean(x))) < 4 * se + 0.01


# ---- Cutout: where the square lands, odd and even sizes ---------------------------------------


def coverage_probability(n, size):
    """P(line y is inside the square) for a centre c uniform on [0, n): c - size//2 <= y < c - size//2 + size."""
    c = np.arange(n)
    top = c - size // 2
    return np.array([np.mean((top <= y) & (y < top + size)) for y in range(n)])


@pytest.mark.parametrize("h, w, size", [(8, 11, 4), (8, 11, 3), (9, 7, 6), (6, 6, 5), (5, 7, 2)])
def test_cutout_square_position_against_uniform_centres(h, w, size):
    n = 12000
    m = np.asarray(cutout(jax.random.key(h * w + size), jnp.ones((n, h, w, 1)), size)[..., 0] == 0)
    rows, cols = m.any(axis=2), m.any(axis=1)
    # The hole is one axis-aligned rectangle: rows x cols.
    assert np.array_equal(m, rows[:, :, None] & cols[:, None, :])
    for seen, extent in ((rows, h), (cols, w)):
        q = coverage_probability(extent, size)
        freq = seen.mean(axis=0)
        bound = 4.5 * np.sqrt(q * (1 - q) / n) + 1e-12
        assert np.all(np.abs(freq - q) <= bound), (freq.round(3), q.round(3))
    # Rows and columns come from independent centre coordinates.
    joint = m.mean(axis=0)
    np.testing.assert_allclose(joint, np.outer(coverage_probability(h, size), coverage_probability(w, size)), atol=0.03)
