"""Subprocess worker: run the same few steps with none / pmap / mesh and print max abs diffs.

Run with XLA_FLAGS=--xla_force_host_platform_device_count=8 (set before jax is imported).
The single-device global-batch jit step is the oracle for the other paths.
"""

import json

import jax
import jax.numpy as jnp
import numpy as np
from train_tiny import TinyCNN

from jaxcnn.train import parallel, steps
from jaxcnn.train import state as st

STEPS, BATCH, SIZE = 3, 16, 8


def batches():
    rng = np.random.default_rng(0)
    return [
        {
            "image": rng.normal(size=(BATCH, SIZE, SIZE, 3)).astype(np.float32),
            "label": rng.integers(0, 10, BATCH).astype(np.int32),
        }
        for _ in range(STEPS)
    ]


def init(model):
    tx = st.make_optimizer(0.1, momentum=0.9, weight_decay=5e-4)
    return st.create_train_state(model, jax.random.key(0), jnp.zeros((1, SIZE, SIZE, 3)), tx)


def run_none():
    state, step = init(TinyCNN()), jax.jit(steps.make_train_step())
    losses = []
    for b in batches():
        state, m = step(state, b)
        losses.append(float(m["loss"]))
    return state, losses


def run_pmap(n, sync_bn=True):
    devices = parallel.select_devices(n)
    state = parallel.replicate(init(TinyCNN(bn_axis_name=parallel.AXIS if sync_bn else None)), devices)
    step = parallel.pmap_step(steps.make_train_step(axis_name=parallel.AXIS), devices)
    losses = []
    for b in batches():
        state, m = step(state, parallel.shard_batch(b, n))
        losses.append(float(m["loss"][0]))
    return parallel.unreplicate(state), losses


def run_mesh(n):
    mesh = parallel.make_mesh(parallel.select_devices(n))
    state = parallel.put_replicated(init(TinyCNN()), mesh)
    step = parallel.mesh_step(steps.make_train_step(), mesh)
    losses = []
    for b in batches():
        state, m = step(state, parallel.put_batch(b, mesh))
        losses.append(float(m["loss"]))
    return state, losses


def diff(a, b):
    (sa, la), (sb, lb) = a, b
    tree = lambda s: jax.tree.leaves((s.params, s.batch_stats, s.opt_state))
    return {
        "loss": float(np.max(np.abs(np.subtract(la, lb)))),
        "params": max(float(np.max(np.abs(np.asarray(x) - np.asarray(y)))) for x, y in zip(tree(sa), tree(sb))),
        "batch_stats": max(
            float(np.max(np.abs(np.asarray(x) - np.asarray(y))))
            for x, y in zip(jax.tree.leaves(sa.batch_stats), jax.tree.leaves(sb.batch_stats))
        ),
    }


def bad_batch_errors():
    """Messages for a global batch of 12 on 8 devices, via both paths."""
    b = {"image": np.zeros((12, SIZE, SIZE, 3), np.float32)}
    out = []
    for put in (lambda: parallel.shard_batch(b, 8), lambda: parallel.put_batch(b, parallel.make_mesh())):
        try:
            put()
            out.append(None)
        except ValueError as e:
            out.append(str(e))
    return out


if __name__ == "__main__":
    ref = run_none()
    out = {
        "devices": jax.device_count(),
        "pmap": diff(ref, run_pmap(8)),
        "mesh": diff(ref, run_mesh(8)),
        "pmap_unsynced_bn": diff(ref, run_pmap(8, sync_bn=False)),
        "bad_batch": bad_batch_errors(),
    }
    print(json.dumps(out))
