"""``stochastic_depth`` / ``StochasticDepth`` / ``stochastic_residual`` / ``survival_probabilities``:
bad arguments named at the boundary; integer inputs refused wherever a 1/p or p rescale would be
truncated, whatever the rate."""

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxcnn.regularizers import StochasticDepth, stochastic_depth, stochastic_residual

K = jax.random.key(0)
X = jnp.ones((2, 4, 4, 3))
X1 = jnp.ones((2, 4, 4, 1))  # one channel: a sum with X would broadcast


def residual(**kw):
    """``stochastic_residual`` called from a module, ``kw`` overriding good arguments."""
    args = dict(module=None, branch_fn=lambda mdl, h: h, x=X, shortcut=X, survival_prob=0.8, deterministic=False)
    args.update(kw)

    class Host(nn.Module):
        @nn.compact
        def __call__(self, x):
            a = dict(args)
            module = a.pop("module") or self
            return stochastic_residual(module, a.pop("branch_fn"), a.pop("x"), a.pop("shortcut"), **a)

    return Host().apply({}, X, rngs={"dropout": K})


def sd_module(x, deterministic=True, **fields):
    return StochasticDepth(**dict(dict(drop_rate=0.3), **fields)).apply(
        {}, x, deterministic=deterministic, rngs={"dropout": K}
    )


def test_integer_and_bool_masks_without_rescale_are_valid_and_exact():
    """With ``scale_by_keep=False`` nothing is rescaled: an integer ``x`` is masked exactly."""
    x = jnp.arange(2 * 3, dtype=jnp.int32).reshape(2, 3) + 1
    out = stochastic_depth(K, x, 0.5, scale_by_keep=False)
    assert out.dtype == jnp.int32
    for row_in, row_out in zip(np.asarray(x), np.asarray(out)):
        assert np.array_equal(row_out, row_in) or not row_out.any()
    assert stochastic_depth(K, x.astype(bool), 0.5, scale_by_keep=False).dtype == bool


def test_float_inputs_and_numpy_flags_unchanged():
    a = stochastic_depth(K, X, 0.5, scale_by_keep=np.bool_(True))
    b = stochastic_depth(K, X, 0.5)
    np.testing.assert_array_equal(a, b)
    assert set(np.unique(np.asarray(b)).tolist()) <= {0.0, 2.0}
    np.testing.assert_array_equal(sd_module(X, test_rule="paper"), X * 0.7)
    np.testing.assert_array_equal(residual(deterministic=True, test_rule="paper", survival_prob=0.5), X * 1.5)


def test_a_branch_shaped_unlike_its_shortcut_is_refused_not_broadcast():
    """Batch mode: the branch is traced inside the cond, after the coin is drawn (so not before any compile)."""
    with pytest.raises(ValueError, match=r"branch_fn must return an array shaped like shortcut \(2, 4, 4, 1\)"):
        residual(shortcut=X1)
    with pytest.raises(ValueError, match="branch_fn"):
        residual(shortcut=X1, mode="row")
