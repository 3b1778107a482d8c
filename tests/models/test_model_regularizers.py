"""Stochastic depth and DropBlock wired into the models."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxcnn.models import create_model


def test_cifar_resnet110_paper_schedule():
    m = create_model("cifar_resnet110", drop_path_rate=0.5)
    # Huang et al.: p_l = 1 - l/L * (1 - p_L), L = 54 blocks, p_L = 0.5.
    np.testing.assert_allclose(m.drop_rates(), [l / 54 * 0.5 for l in range(1, 55)], rtol=0, atol=1e-12)


def test_dropped_blocks_get_zero_gradient_and_keep_bn_stats():
    m = create_model("cifar_resnet20", stage_sizes=(2, 2, 2), drop_path_rate=0.5, drop_path_rule="uniform")
    x = jax.random.normal(jax.random.key(1), (4, 16, 16, 3))
    v = m.init(jax.random.key(0), x)

    @jax.jit
    def grads(key):
        def loss(p):
            y, st = m.apply(
                {"params": p, "batch_stats": v["batch_stats"]},
                x,
                train=True,
                mutable=["batch_stats"],
                rngs={"dropout": key},
            )
            return jnp.sum(y**2), st

        return jax.grad(loss, has_aux=True)(v["params"])

    g, st = grads(jax.random.key(5))
    blocks = [k for k in g if k.startswith("layer")]
    dropped = [k for k in blocks if all(float(jnp.abs(a).max()) == 0.0 for a in jax.tree_util.tree_leaves(g[k]))]
    kept = [k for k in blocks if k not in dropped]
    assert dropped and kept  # survival 0.5 over 6 blocks: both happen for this key
    for k in dropped:
        for a, b in zip(
            jax.tree_util.tree_leaves(st["batch_stats"][k]), jax.tree_util.tree_leaves(v["batch_stats"][k])
        ):
            np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    for k in kept:
        assert any(float(jnp.abs(a).max()) > 0 for a in jax.tree_util.tree_leaves(g[k]))


def test_paper_test_rule_scales_branches_by_survival():
    # With every block's branch scaled by p at test time, a model whose branches are all
    # scaled by hand (BN gamma/beta of the branch's last BN times p) gives the same output.
    p = 0.7
    m_sd = create_model("cifar_resnet20", drop_path_rate=1 - p, drop_path_rule="uniform")
    m = create_model("cifar_resnet20")
    x = jax.random.normal(jax.random.key(1), (2, 16, 16, 3))
    v = m.init(jax.random.key(0), x)
    scaled = jax.tree_util.tree_map(lambda a: a, v)
    for k, sub in scaled["params"].items():
        if k.startswith("layer"):
            sub["bn2"] = {"scale": sub["bn2"]["scale"] * p, "bias": sub["bn2"]["bias"] * p}
    np.testing.assert_allclose(np.asarray(m_sd.apply(v, x)), np.asarray(m.apply(scaled, x)), atol=1e-5)


def test_training_without_dropout_rng_fails_loudly():
    m = create_model("cifar_resnet20", drop_path_rate=0.5)
    x = jnp.zeros((2, 16, 16, 3))
    v = m.init(jax.random.key(0), x)
    with pytest.raises(ValueError, match=r"rng stream 'dropout'.*rngs=\{'dropout': key\}"):
        m.apply(v, x, train=True, mutable=["batch_stats"])


def test_drop_block_only_in_listed_stages_and_only_in_training():
    x = jax.random.normal(jax.random.key(1), (2, 32, 32, 3))
    m = create_model("cifar_resnet20", drop_block_rate=0.3, drop_block_size=3, drop_block_stages=(3,))
    v = m.init(jax.random.key(0), x)
    plain = create_model("cifar_resnet20")
    np.testing.assert_array_equal(np.asarray(m.apply(v, x)), np.asarray(plain.apply(v, x)))
    f_db = m.apply(v, x, train=True, mutable=["batch_stats"], rngs={"dropout": jax.random.key(2)}, method="features")[0]
    f = plain.apply(v, x, train=True, mutable=["batch_stats"], method="features")[0]
    np.testing.assert_array_equal(np.asarray(f_db["stage2"]), np.asarray(f["stage2"]))
    assert float(jnp.abs(f_db["stage3"] - f["stage3"]).max()) > 0


def test_inverted_residual_drop_path_is_per_sample_and_keyed():
    from jaxcnn.blocks import InvertedResidual

    block = InvertedResidual(8, 1, 2, drop_path_rate=0.5)
    x = jax.random.normal(jax.random.key(1), (64, 4, 4, 8))
    v = block.init(jax.random.key(0), x)
    run = jax.jit(lambda k: block.apply(v, x, train=True, mutable=["batch_stats"], rngs={"dropout": k})[0])
    a, b = run(jax.random.key(3)), run(jax.random.key(3))
    np.testing.assert_array_equal(np.asarray(a), np.asarray(b))  # same key, same bits
    # Per sample: some samples are exactly the identity (branch dropped), others are not.
    dropped = np.all(np.asarray(a) == np.asarray(x), axis=(1, 2, 3))
    assert 0 < dropped.sum() < 64
    # 64 Bernoulli(0.5): a 5-sigma band around 32.
    assert abs(dropped.sum() - 32) <= 5 * 4
