"""The last-conv least-squares fit against a dense design matrix and against jax.grad of a real conv."""

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from experiments.lstsq import ConvLstsqSystem, conv_normal_equations, solve_conv_lstsq


def dense_design(features, k):
    """Row per output pixel, built by index loops (no im2col): the pixel's k x k neighbourhood
    under SAME zero padding in (dy, dx, c) order, then a 1."""
    n, h, w, c = features.shape
    rows = []
    for i in range(n):
        for y in range(h):
            for x in range(w):
                row = []
                for dy in range(k):
                    for dx in range(k):
                        yy, xx = y + dy - k // 2, x + dx - k // 2
                        for ch in range(c):
                            row.append(features[i, yy, xx, ch] if 0 <= yy < h and 0 <= xx < w else 0.0)
                rows.append(row + [1.0])
    return np.array(rows)


@pytest.mark.parametrize("k", [1, 3])
def test_solution_equals_dense_lstsq(k):
    rng = np.random.default_rng(0)
    f = rng.normal(size=(2, 5, 6, 3))
    t = rng.normal(size=(2, 5, 6, 2))
    kernel, bias = solve_conv_lstsq(conv_normal_equations(f, t, k), k)
    want = np.linalg.lstsq(dense_design(f, k), t.reshape(-1, 2), rcond=None)[0]
    np.testing.assert_allclose(kernel.reshape(-1, 2), want[:-1], atol=1e-10)
    np.testing.assert_allclose(bias, want[-1], atol=1e-10)


def test_solution_is_a_stationary_point_of_the_flax_conv_loss():
    """jax.grad of the MSE through nn.Conv (XLA's conv, Flax's kernel layout) vanishes at the
    solution on the masked pixels, and any perturbation raises the loss."""
    rng = np.random.default_rng(1)
    f = rng.normal(size=(3, 7, 8, 4)).astype(np.float32)
    t = rng.normal(size=(3, 7, 8, 5)).astype(np.float32)
    mask = rng.random((3, 7, 8)) < 0.6
    kernel, bias = solve_conv_lstsq(conv_normal_equations(f, t, 3, mask), 3)
    conv = nn.Conv(5, (3, 3), padding="SAME")

    def loss(p):
        err = conv.apply({"params": p}, jnp.asarray(f, jnp.float64)) - t
        return jnp.sum(jnp.where(mask[..., None], err**2, 0.0)) / (mask.sum() * 5)

    with jax.enable_x64():
        p = {"kernel": jnp.asarray(kernel), "bias": jnp.asarray(bias)}
        g = jax.grad(loss)(p)
        assert max(float(jnp.abs(v).max()) for v in jax.tree.leaves(g)) < 1e-9
        system = conv_normal_equations(f, t, 3, mask)
        assert system.mse(kernel, bias) == pytest.approx(float(loss(p)), rel=1e-9)
        bumped = {"kernel": p["kernel"] + 1e-2 * rng.normal(size=kernel.shape), "bias": p["bias"]}
        assert float(loss(bumped)) > float(loss(p))


def test_systems_add_over_batches():
    rng = np.random.default_rng(2)
    f, t = rng.normal(size=(4, 5, 5, 2)), rng.normal(size=(4, 5, 5, 3))
    whole = conv_normal_equations(f, t, 3)
    parts = conv_normal_equations(f[:1], t[:1], 3) + conv_normal_equations(f[1:], t[1:], 3)
    np.testing.assert_allclose(parts.a, whole.a, rtol=1e-12)
    np.testing.assert_allclose(parts.b, whole.b, rtol=1e-12)
    assert parts.count == whole.count == 100


def test_ridge_shrinks_the_kernel_not_the_bias():
    rng = np.random.default_rng(3)
    f, t = rng.normal(size=(1, 6, 6, 2)), rng.normal(size=(1, 6, 6, 1)) + 5.0
    system = conv_normal_equations(f, t, 3)
    k0, _ = solve_conv_lstsq(system, 3)
    k1, b1 = solve_conv_lstsq(system, 3, ridge=1e6)
    assert np.abs(k1).max() < 1e-4 < np.abs(k0).max()
    assert b1[0] == pytest.approx(t.mean(), abs=1e-3)  # a zero kernel leaves the mean as the best bias


def test_bad_input():
    f, t = np.zeros((1, 4, 4, 2)), np.zeros((1, 4, 4, 1))
    with pytest.raises(ValueError, match="kernel_size"):
        conv_normal_equations(f, t, 2)
    with pytest.raises(ValueError, match="agree on N, H, W"):
        conv_normal_equations(f, np.zeros((1, 4, 5, 1)), 3)
    with pytest.raises(ValueError, match="mask"):
        conv_normal_equations(f, t, 3, mask=np.ones((4, 4), bool))
    with pytest.raises(ValueError, match="ridge"):
        solve_conv_lstsq(conv_normal_equations(f, t, 3), 3, ridge=-1)
    with pytest.raises(ValueError, match="cannot add"):
        conv_normal_equations(f, t, 3) + conv_normal_equations(f, t, 1)
    assert isinstance(conv_normal_equations(f, t, 1), ConvLstsqSystem)
