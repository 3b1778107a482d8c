"""Stochastic depth: exact schedules, binomial drop counts, E[train] = test, real compute skip."""

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxcnn.regularizers import StochasticDepth, stochastic_depth, stochastic_residual, survival_probabilities

# ---- schedules: exact hand-computed lists --------------------------------------------------


@pytest.mark.parametrize(
    "n, p_last, rule, expected",
    [
        (4, 0.5, "paper", [0.875, 0.75, 0.625, 0.5]),  # 1 - l/4 * 0.5
        (5, 0.6, "timm", [1.0, 0.9, 0.8, 0.7, 0.6]),  # drop 0.4 * i / 4
        (4, 0.8, "torchvision", [1.0, 0.95, 0.9, 0.85]),  # drop 0.2 * i / 4
        (3, 0.7, "uniform", [0.7, 0.7, 0.7]),
        (1, 0.5, "paper", [0.5]),
        (1, 0.5, "timm", [1.0]),  # torch.linspace(0, r, 1) == [0]
        (1, 0.5, "torchvision", [1.0]),
        (2, 0.0, "paper", [0.5, 0.0]),
    ],
)
def test_survival_schedule_exact(n, p_last, rule, expected):
    assert survival_probabilities(n, p_last, rule) == pytest.approx(expected, abs=1e-12)


def test_paper_schedule_resnet110():
    # 54 blocks, p_L = 0.5: first block keeps 1 - 0.5/54, decrement exactly 0.5/54 each.
    p = np.array(survival_probabilities(54))
    assert p[0] == pytest.approx(1 - 0.5 / 54, abs=1e-12) and p[-1] == pytest.approx(0.5, abs=1e-12)
    np.testing.assert_allclose(np.diff(p), -0.5 / 54, atol=1e-12)


# ---- pure function ------------------------------------------------------------------------


def test_row_mode_binomial_and_scale():
    n, rate = 20000, 0.3
    x = jnp.ones((n, 2, 2, 3))
    y = np.asarray(stochastic_depth(jax.random.key(0), x, rate, mode="row"))
    per_row = y.reshape(n, -1)
    assert np.all(per_row == per_row[:, :1])  # a row is dropped or kept as a whole
    kept = per_row[per_row[:, 0] != 0]
    np.testing.assert_allclose(kept, 1 / 0.7, rtol=1e-6)  # inverted scale
    dropped = np.mean(per_row[:, 0] == 0)
    assert abs(dropped - rate) < 4 * np.sqrt(rate * (1 - rate) / n)


def test_batch_mode_all_or_nothing():
    keys = jax.random.split(jax.random.key(1), 4000)
    x = jnp.arange(1.0, 25.0).reshape(2, 2, 3, 2)
    y = np.asarray(jax.vmap(lambda k: stochastic_depth(k, x, 0.25, mode="batch", scale_by_keep=False))(keys))
    flat = y.reshape(len(keys), -1)
    dropped = np.all(flat == 0, axis=1)
    kept = np.all(flat == np.asarray(x).ravel(), axis=1)
    assert np.all(dropped ^ kept)
    assert abs(dropped.mean() - 0.25) < 4 * np.sqrt(0.25 * 0.75 / len(keys))


def test_same_key_same_bits_and_key_kinds():
    x = jax.random.normal(jax.random.key(5), (64, 3))
    a = stochastic_depth(jax.random.key(7), x, 0.5)
    b = stochastic_depth(jax.random.key(7), x, 0.5)
    legacy = stochastic_depth(jax.random.PRNGKey(7), x, 0.5)
    other = stochastic_depth(jax.random.key(8), x, 0.5)
    assert np.array_equal(a, b) and np.array_equal(a, legacy)  # PRNGKey(7) wraps the same bits
    assert not np.array_equal(a, other)


def test_edge_rates():
    x = jnp.ones((8, 3))
    assert np.array_equal(stochastic_depth(jax.random.key(0), x, 0.0), x)
    zeros = stochastic_depth(jax.random.key(0), x, 1.0)
    assert np.array_equal(zeros, jnp.zeros_like(x))  # torchvision: all dropped, no inf/nan


# ---- E[train] equals test, error ~ 1/sqrt(n) ----------------------------------------------


@pytest.mark.parametrize("mode, rule", [("batch", "paper"), ("row", "inverted"), ("row", "paper")])
def test_expected_train_output_equals_test(mode, rule):
    p = 0.7
    m = StochasticDepth(1 - p, mode=mode, test_rule=rule)
    x = jnp.array([[1.0, -2.0], [3.0, 0.5]])
    test = m.apply({}, x, deterministic=True)
    scale = 1 / p if rule == "inverted" else 1.0
    # Each entry is x * scale * Bernoulli(p): sd of a mean of n draws is |x| scale sqrt(p(1-p)/n).
    reps = 200
    for n in (64, 4096):
        keys = jax.random.split(jax.random.key(n), reps * n)
        out = jax.vmap(lambda k: m.apply({}, x, deterministic=False, rngs={"dropout": k}))(keys)
        err = out.reshape(reps, n, *x.shape).mean(1) - test  # `reps` independent estimates
        rms = np.sqrt(np.mean(np.asarray(err) ** 2, axis=0))
        sd = np.abs(np.asarray(x)) * scale * np.sqrt(p * (1 - p) / n)
        np.testing.assert_allclose(rms, sd, rtol=0.2)  # rms of 200 errors: rel. se ~ 5%
    assert np.allclose(test, x if rule == "inverted" else p * x)


def test_module_needs_rng_in_training():
    with pytest.raises(ValueError, match="rng stream"):
        StochasticDepth(0.5).apply({}, jnp.ones((2, 3)), deterministic=False)
    y = StochasticDepth(0.5, rng_collection="drop_path").apply(
        {}, jnp.ones((2, 3)), deterministic=False, rngs={"drop_path": jax.random.key(0)}
    )
    assert y.shape == (2, 3)


# ---- stochastic_residual on a test-local residual block ------------------------------------


class Block(nn.Module):
    p: float
    mode: str = "batch"
    test_rule: str = "paper"

    @nn.compact
    def __call__(self, x, train):
        def branch(mdl, x):
            y = nn.Conv(x.shape[-1], (3, 3), padding=1, name="conv")(x)
            return nn.BatchNorm(use_running_average=not train, momentum=0.9, name="bn")(y)

        return stochastic_residual(
            self,
            branch,
            x,
            x,
            survival_prob=self.p,
            deterministic=not train,
            mode=self.mode,
            test_rule=self.test_rule,
        )


X = jax.random.normal(jax.random.key(1), (4, 5, 5, 3))


def _train_step(block, variables):
    """Jitted ``key -> ((loss, (y, new_state)), grads)`` for one training step on X."""

    def loss(params, key):
        y, new = block.apply(
            {"params": params, "batch_stats": variables["batch_stats"]},
            X,
            True,
            rngs={"dropout": key},
            mutable=["batch_stats"],
        )
        return jnp.sum(y**2), (y, new)

    grad = jax.value_and_grad(loss, has_aux=True)
    return jax.jit(lambda key: grad(variables["params"], key))


def test_dropped_branch_zero_grad_and_frozen_bn():
    block = Block(p=0.5)
    variables = block.init(jax.random.key(0), X, False)
    assert set(variables["params"]) == {"conv", "bn"}  # init always builds the branch
    step, seen = _train_step(block, variables), set()
    for s in range(12):
        (_, (y, new)), grads = step(jax.random.key(s))
        dropped = bool(np.array_equal(y, X))
        seen.add(dropped)
        leaves = jax.tree_util.tree_leaves(grads)
        stats_same = jax.tree_util.tree_all(jax.tree.map(np.array_equal, new["batch_stats"], variables["batch_stats"]))
        if dropped:
            assert all(np.all(g == 0) for g in leaves) and stats_same
        else:
            assert all(np.any(g != 0) for g in leaves) and not stats_same
    assert seen == {True, False}  # both outcomes exercised


def test_batch_mode_is_a_real_conditional():
    block = Block(p=0.5)
    variables = block.init(jax.random.key(0), X, False)
    jaxpr = jax.make_jaxpr(_train_step(block, variables))(jax.random.key(0))
    text = str(jaxpr)
    # The only convolutions (forward and backward) live inside cond branches: none at top level.
    top = [e.primitive.name for e in jaxpr.jaxpr.eqns[0].params["jaxpr"].eqns]
    assert "cond" in top and "conv_general_dilated" not in top
    # Forward conv and kernel-gradient conv, each in its own cond (the backward one is transposed).
    assert text.count("conv_general_dilated") == 2 and text.count("cond[") >= 2


def test_test_time_rules():
    v = Block(p=1.0).init(jax.random.key(0), X, False)
    full = Block(p=1.0).apply(v, X, False) - X
    paper = Block(p=0.3).apply(v, X, False) - X
    inverted = Block(p=0.3, test_rule="inverted").apply(v, X, False) - X
    np.testing.assert_allclose(paper, 0.3 * full, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(inverted, full, rtol=1e-6)


def _forward(block, v, x):
    """Jitted train-mode forward ``key -> output``."""
    return jax.jit(lambda key: block.apply(v, x, True, rngs={"dropout": key}, mutable=["batch_stats"])[0])


def test_residual_inverted_batch_scale():
    block = Block(p=0.5, test_rule="inverted")
    v = block.init(jax.random.key(0), X, False)
    ref = Block(p=1.0).apply(v, X, True, mutable=["batch_stats"])[0] - X  # train-mode branch
    fwd = _forward(block, v, X)
    outs = {bool(np.array_equal(y, X)): y for y in (fwd(jax.random.key(s)) for s in range(8))}
    assert set(outs) == {True, False}
    np.testing.assert_allclose(outs[False] - X, 2.0 * ref, rtol=1e-5, atol=1e-5)


def test_residual_row_mode_fraction():
    block = Block(p=0.6, mode="row", test_rule="inverted")
    x = jax.random.normal(jax.random.key(2), (2000, 2, 2, 2))
    v = block.init(jax.random.key(0), x[:4], False)
    branch = _forward(Block(p=1.0), v, x)(jax.random.key(0)) - x  # always kept, unscaled
    y = _forward(block, v, x)(jax.random.key(3)) - x
    kept = np.all(np.isclose(y, branch / 0.6, rtol=1e-5, atol=1e-5), axis=(1, 2, 3))
    dropped = np.all(y == 0, axis=(1, 2, 3))
    assert np.all(kept ^ dropped)
    assert abs(dropped.mean() - 0.4) < 4 * np.sqrt(0.24 / 2000)


def test_residual_needs_rng_in_training():
    block = Block(p=0.5)
    v = block.init(jax.random.key(0), X, False)
    with pytest.raises(ValueError, match="rng stream"):
        block.apply(v, X, True, mutable=["batch_stats"])
