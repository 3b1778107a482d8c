"""The data-parallel step in one process: ``vmap(step, axis_name=AXIS)`` runs the same collectives
as ``pmap`` (``axis_index``, ``pmean``, ``psum``) over simulated devices, no subprocess needed.

* Dropout masks differ across devices: each device's key is folded with its index. Observed
  through per-device BatchNorm statistics (not synchronised here), which depend on the mask.
* Gradients are averaged, not summed: the sharded step equals the closed-form SGD step of
  softmax regression on the global batch.
* Eval sums are summed over devices: they equal the global batch's.
"""

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from jaxcnn.train import parallel, steps
from jaxcnn.train import state as st

DEVICES = 4
RNG = np.random.default_rng(0)


class DropoutThenNorm(nn.Module):
    """Dropout, then a BatchNorm without axis_name: its running mean records the device's own mask."""

    @nn.compact
    def __call__(self, x, train=False):
        h = nn.Dropout(0.5, deterministic=not train)(x.reshape(x.shape[0], -1))
        h = nn.BatchNorm(use_running_average=not train, momentum=0.9)(h)
        return nn.Dense(3)(h)


class Linear(nn.Module):
    @nn.compact
    def __call__(self, x, train=False):
        return nn.Dense(3, kernel_init=nn.initializers.normal(0.5), bias_init=nn.initializers.normal(0.5))(
            x.reshape(x.shape[0], -1)
        )


def _replicate(tree, n=DEVICES):
    return jax.tree.map(lambda a: jnp.stack([a] * n), tree)


def _sharded_step(**kw):
    return jax.jit(jax.vmap(steps.make_train_step(axis_name=parallel.AXIS, **kw), axis_name=parallel.AXIS))


def test_dropout_masks_differ_across_devices():
    x = RNG.uniform(1.0, 2.0, size=(8, 2, 2, 4)).astype(np.float32)
    shard = {"image": x, "label": RNG.integers(0, 3, 8).astype(np.int32)}
    batch = jax.tree.map(lambda a: np.stack([a] * DEVICES), shard)  # every device gets the same rows
    state = st.create_train_state(
        DropoutThenNorm(),
        jax.random.key(0),
        jnp.zeros((1, 2, 2, 4)),
        st.make_optimizer(0.1, momentum=0.0, weight_decay=0.0),
    )
    new, _ = _sharded_step()(_replicate(state), batch)
    means = np.asarray(new.batch_stats["BatchNorm_0"]["mean"])  # (devices, features)
    # Same rows, same params: only the dropout masks can make the devices' statistics differ.
    for i in range(DEVICES):
        for j in range(i):
            assert np.abs(means[i] - means[j]).max() > 1e-3, (i, j)
    # They are dropout masks (keep 0.5, kept scaled by 2): E[new running mean] = 0.1 * mean(x).
    expected = 0.1 * x.reshape(8, -1).mean()
    assert abs(means.mean() - expected) < 0.1 * expected


def test_gradients_are_averaged_over_devices():
    n, lr = 16, 0.5
    x = RNG.normal(size=(n, 2, 2, 1)).astype(np.float32)
    y = RNG.integers(0, 3, n).astype(np.int32)
    state = st.create_train_state(
        Linear(), jax.random.key(1), jnp.zeros((1, 2, 2, 1)), st.make_optimizer(lr, momentum=0.0, weight_decay=0.0)
    )
    w, b = (np.asarray(state.params["Dense_0"][k], np.float64) for k in ("kernel", "bias"))
    new, m = _sharded_step()(_replicate(state), parallel.shard_batch({"image": x, "label": y}, DEVICES))
    # Closed form on the global batch: grad = x^T (softmax - onehot) / n.
    xf = x.reshape(n, -1).astype(np.float64)
    z = xf @ w + b
    p = np.exp(z - z.max(-1, keepdims=True))
    p /= p.sum(-1, keepdims=True)
    g = (p - np.eye(3)[y]) / n
    loss = -np.mean(np.log(p[np.arange(n), y]))
    for d in range(DEVICES):  # every replica holds the same, globally averaged update
        np.testing.assert_allclose(np.asarray(new.params["Dense_0"]["kernel"][d]), w - lr * xf.T @ g, atol=1e-5)
        np.testing.assert_allclose(np.asarray(new.params["Dense_0"]["bias"][d]), b - lr * g.sum(0), atol=1e-5)
        np.testing.assert_allclose(float(m["loss"][d]), loss, rtol=1e-5)


def test_eval_sums_add_up_over_devices():
    n = 16
    x = RNG.normal(size=(n, 2, 2, 1)).astype(np.float32)
    y = RNG.integers(0, 3, n).astype(np.int32)
    mask = (RNG.uniform(size=n) > 0.3).astype(np.float32)
    state = st.create_train_state(Linear(), jax.random.key(2), jnp.zeros((1, 2, 2, 1)), st.make_optimizer(0.1))
    batch = {"image": x, "label": y, "mask": mask}
    want = jax.jit(steps.make_eval_step())(state, batch)
    got = jax.jit(jax.vmap(steps.make_eval_step(axis_name=parallel.AXIS), axis_name=parallel.AXIS))(
        _replicate(state), parallel.shard_batch(batch, DEVICES)
    )
    assert float(want["count"]) == mask.sum()
    for k in want:
        np.testing.assert_allclose(np.asarray(got[k]), float(want[k]), rtol=1e-5, err_msg=k)
