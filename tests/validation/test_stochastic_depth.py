"""``stochastic_depth`` / ``StochasticDepth`` / ``stochastic_residual`` / ``survival_probabilities``:
bad arguments named at the boundary; integer inputs refused wherever a 1/p or p rescale would be
truncated, whatever the rate."""

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxcnn.regularizers import StochasticDepth, stochastic_depth, stochastic_residual, survival_probabilities

K = jax.random.key(0)
KEYS = jax.random.split(K, 2)
X = jnp.ones((2, 4, 4, 3))
XI = jnp.ones((2, 4, 4, 3), jnp.int32)
XB = XI.astype(bool)
X1 = jnp.ones((2, 4, 4, 1))  # one channel: a sum with X would broadcast
SCALAR = jnp.ones(())
P = jnp.float32(0.5)
NAN = float("nan")


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


CASES = [
    ("x int32", lambda: stochastic_depth(K, XI, 0.3), TypeError, "x"),
    ("x int32 at rate 0", lambda: stochastic_depth(K, XI, 0.0), TypeError, "x"),
    ("x bool", lambda: stochastic_depth(K, XB, 0.3), TypeError, "x"),
    ("x scalar", lambda: stochastic_depth(K, SCALAR, 0.3), ValueError, "x"),
    ("x list", lambda: stochastic_depth(K, [1.0, 2.0], 0.3), TypeError, "x"),
    ("key int", lambda: stochastic_depth(0, X, 0.3), TypeError, "key"),
    ("key batch", lambda: stochastic_depth(KEYS, X, 0.3), ValueError, "key"),
    ("drop_rate nan", lambda: stochastic_depth(K, X, NAN), ValueError, "drop_rate"),
    ("drop_rate 1.5", lambda: stochastic_depth(K, X, 1.5), ValueError, "drop_rate"),
    ("drop_rate str", lambda: stochastic_depth(K, X, "0.1"), TypeError, "drop_rate"),
    ("drop_rate True", lambda: stochastic_depth(K, X, True), TypeError, "drop_rate"),
    ("mode 'col'", lambda: stochastic_depth(K, X, 0.3, mode="col"), ValueError, "mode"),
    ("mode None", lambda: stochastic_depth(K, X, 0.3, mode=None), ValueError, "mode"),
    ("scale_by_keep 'no'", lambda: stochastic_depth(K, X, 0.3, scale_by_keep="no"), TypeError, "scale_by_keep"),
    ("scale_by_keep 1", lambda: stochastic_depth(K, X, 0.3, scale_by_keep=1), TypeError, "scale_by_keep"),
    ("num_blocks 0", lambda: survival_probabilities(0), ValueError, "num_blocks"),
    ("num_blocks 2.5", lambda: survival_probabilities(2.5), TypeError, "num_blocks"),
    ("num_blocks True", lambda: survival_probabilities(True), TypeError, "num_blocks"),
    ("final_survival nan", lambda: survival_probabilities(4, NAN), ValueError, "final_survival"),
    ("final_survival 1.5", lambda: survival_probabilities(4, 1.5), ValueError, "final_survival"),
    ("final_survival array", lambda: survival_probabilities(4, P), TypeError, "final_survival"),
    ("rule 'x'", lambda: survival_probabilities(4, 0.5, "x"), ValueError, "rule"),
    ("module deterministic 'no'", lambda: sd_module(X, deterministic="no"), TypeError, "deterministic"),
    ("module x int, training", lambda: sd_module(XI, deterministic=False), TypeError, "x"),
    ("module x int, inverted at test", lambda: sd_module(XI), TypeError, "x"),
    ("module x int, paper rule at test", lambda: sd_module(XI, test_rule="paper"), TypeError, "x"),
    ("module x scalar", lambda: sd_module(SCALAR), ValueError, "x"),
    (
        "residual branch wider than shortcut, test",
        lambda: residual(shortcut=X1, deterministic=True),
        ValueError,
        "branch_fn",
    ),
    (
        "module training without the dropout rng",
        lambda: StochasticDepth(0.3).apply({}, X, deterministic=False),
        ValueError,
        "dropout",
    ),
    ("residual module 5", lambda: residual(module=5), TypeError, "module"),
    ("residual branch_fn None", lambda: residual(branch_fn=None), TypeError, "branch_fn"),
    ("residual shortcut list", lambda: residual(shortcut=[1.0]), TypeError, "shortcut"),
    ("residual shortcut int", lambda: residual(shortcut=XI), TypeError, "shortcut"),
    ("residual survival_prob nan", lambda: residual(survival_prob=NAN), ValueError, "survival_prob"),
    ("residual survival_prob -0.1", lambda: residual(survival_prob=-0.1), ValueError, "survival_prob"),
    ("residual deterministic 'no'", lambda: residual(deterministic="no"), TypeError, "deterministic"),
    ("residual mode 'x'", lambda: residual(mode="x"), ValueError, "mode"),
    ("residual test_rule 'x'", lambda: residual(test_rule="x"), ValueError, "test_rule"),
    ("residual rng_collection None", lambda: residual(rng_collection=None), TypeError, "rng_collection"),
]


@pytest.mark.parametrize("name,call,exc,argument", CASES, ids=[c[0] for c in CASES])
def test_bad_input(bad_input, name, call, exc, argument):
    bad_input(call, exc, argument)


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
