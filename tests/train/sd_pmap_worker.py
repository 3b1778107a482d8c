"""Subprocess worker: batch-mode stochastic depth with synchronised BatchNorm on 4 devices.

Run with XLA_FLAGS=--xla_force_host_platform_device_count=4. Prints one JSON line: per-device
losses under pmap, max abs differences of pmap and of ``fit`` on a mesh of 4 from one device on the
global batch (the oracle), and the row/batch masks each device draws from the step's keys.
"""

import json

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
from train_tiny import small_resnet

from jaxcnn.regularizers import StochasticDepth
from jaxcnn.train import fit, parallel, steps
from jaxcnn.train import state as st

N, STEPS, BATCH, SIZE = 4, 3, 16, 8


def batches():
    rng = np.random.default_rng(0)
    return [
        {
            "image": rng.normal(size=(BATCH, SIZE, SIZE, 3)).astype(np.float32),
            "label": rng.integers(0, 10, BATCH).astype(np.int32),
        }
        for _ in range(STEPS)
    ]


def init(**kw):
    return st.create_train_state(
        small_resnet(num_classes=10, **kw), jax.random.key(0), jnp.zeros((1, SIZE, SIZE, 3)), st.make_optimizer(0.1)
    )


def run_one(**kw):
    state, step, losses = init(**kw), jax.jit(steps.make_train_step()), []
    for b in batches():
        state, m = step(state, b)
        losses.append(float(m["loss"]))
    return state, losses


def run_pmap():
    devices = parallel.select_devices(N)
    state = parallel.replicate(init(drop_path_rate=0.5, bn_axis_name=parallel.AXIS), devices)
    step = parallel.pmap_step(steps.make_train_step(axis_name=parallel.AXIS), devices)
    losses = []
    for b in batches():
        state, m = step(state, parallel.shard_batch(b, N))
        losses.append([float(v) for v in m["loss"]])
    return parallel.unreplicate(state), losses


def run_fit_mesh():
    """``fit`` on a mesh of N (no bn_axis_name: under jit the statistics are already global)."""
    data = batches()
    res = fit(init(drop_path_rate=0.5), lambda step: data[step], STEPS, devices=N, progress=False)
    return res.state, [r["loss"] for r in res.history], res.devices


def max_diff(a, b):
    return max(
        float(np.max(np.abs(np.asarray(x) - np.asarray(y)))) for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b))
    )


class Masks(nn.Module):
    """The masks a row-mode and a batch-mode StochasticDepth put on a batch of ones."""

    @nn.compact
    def __call__(self, x):
        return (
            StochasticDepth(0.5, mode="row")(x, deterministic=False),
            StochasticDepth(0.5, mode="batch")(x, deterministic=False),
        )


def device_masks():
    def f(x):
        return Masks().apply({}, x, rngs=steps.step_rngs(jax.random.key(0), 0, ("dropout",), parallel.AXIS))

    row, batch = jax.pmap(f, axis_name=parallel.AXIS)(jnp.ones((N, 8, 1)))
    return np.asarray(row)[..., 0].tolist(), np.asarray(batch)[..., 0].tolist()


if __name__ == "__main__":
    ref_state, ref_losses = run_one(drop_path_rate=0.5)
    _, plain_losses = run_one()
    pm_state, pm_losses = run_pmap()
    row, batch = device_masks()
    fit_state, fit_losses, fit_devices = run_fit_mesh()
    print(
        json.dumps(
            {
                "devices": jax.device_count(),
                "pmap_losses": pm_losses,
                "ref_losses": ref_losses,
                "plain_losses": plain_losses,
                "pmap_vs_one": {
                    "loss": float(np.max(np.abs(np.array(pm_losses)[:, 0] - ref_losses))),
                    "params": max_diff(pm_state.params, ref_state.params),
                    "batch_stats": max_diff(pm_state.batch_stats, ref_state.batch_stats),
                    "opt_state": max_diff(pm_state.opt_state, ref_state.opt_state),
                },
                "fit_devices": fit_devices,
                "fit_vs_one": {
                    "loss": float(np.max(np.abs(np.array(fit_losses) - ref_losses))),
                    "params": max_diff(fit_state.params, ref_state.params),
                    "batch_stats": max_diff(fit_state.batch_stats, ref_state.batch_stats),
                    "opt_state": max_diff(fit_state.opt_state, ref_state.opt_state),
                },
                "row_masks": row,
                "batch_masks": batch,
            }
        )
    )
