"""none / pmap / mesh / multi-host give what one device gives on the global batch."""

import json
import socket
import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from train_helpers import HERE, run_python, worker_env
from train_tiny import small_resnet
from train_worker import run_none

from jaxcnn.train import parallel, steps
from jaxcnn.train import state as st

TOL = 1e-5


def test_none_pmap_mesh_agree_over_8_devices():
    out = json.loads(run_python(["train_worker.py"], devices=8).stdout.splitlines()[-1])
    assert out["devices"] == 8
    for path in ("pmap", "mesh"):
        for what, d in out[path].items():
            assert d <= TOL, (path, what, d)
    # The comparison can fail: pmap without BatchNorm sync is measurably different.
    assert out["pmap_unsynced_bn"]["batch_stats"] > 1e-3
    assert all("batch_size=12 is not divisible by the device count 8" in m for m in out["bad_batch"])


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_two_processes_over_loopback_match_one_process(tmp_path):
    out, port = tmp_path / "mh.npz", _free_port()
    procs = [
        subprocess.Popen(
            [sys.executable, "train_multihost_worker.py", str(port), str(i), "2", str(out)],
            cwd=HERE,
            env=worker_env(devices=2),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for i in range(2)
    ]
    try:
        logs = [p.communicate(timeout=100)[0] for p in procs]
    finally:
        for p in procs:  # bounded: never leave a worker behind
            if p.poll() is None:
                p.kill()
                p.wait()
    assert all(p.returncode == 0 for p in procs), "\n".join(log[-2000:] for log in logs)
    got = np.load(out)
    assert int(got["processes"]) == 2 and int(got["devices"]) == 4
    ref_state, ref_losses = run_none()
    ref = [np.asarray(x) for x in jax.tree.leaves((ref_state.params, ref_state.batch_stats))]
    np.testing.assert_allclose(got["losses"], ref_losses, atol=TOL, rtol=0)
    assert max(float(np.max(np.abs(got[f"leaf{i}"] - r))) for i, r in enumerate(ref)) <= TOL


def test_registry_model_batchnorm_sync_under_named_axis():
    """The registry ResNet with ``bn_axis_name`` under ``vmap(axis_name)`` (collectives as in pmap)
    equals the global-batch step; 4 shards of 4 images."""
    rng = np.random.default_rng(1)
    batch = {
        "image": rng.normal(size=(16, 8, 8, 3)).astype(np.float32),
        "label": rng.integers(0, 10, 16).astype(np.int32),
    }
    tx = st.make_optimizer(0.1)
    x0 = jnp.zeros((1, 8, 8, 3))
    ref = st.create_train_state(small_resnet(num_classes=10), jax.random.key(0), x0, tx)
    ref, ref_m = jax.jit(steps.make_train_step())(ref, batch)
    rep = st.create_train_state(small_resnet(num_classes=10, bn_axis_name=parallel.AXIS), jax.random.key(0), x0, tx)
    rep = jax.tree.map(lambda a: jnp.stack([a] * 4), rep)
    vstep = jax.jit(jax.vmap(steps.make_train_step(axis_name=parallel.AXIS), axis_name=parallel.AXIS))
    rep, m = vstep(rep, parallel.shard_batch(batch, 4))
    assert abs(float(m["loss"][0]) - float(ref_m["loss"])) <= TOL
    for a, b in zip(jax.tree.leaves(ref.variables), jax.tree.leaves(rep.variables)):
        np.testing.assert_allclose(b[3], a, atol=TOL, rtol=0)


def test_too_many_devices_and_bad_counts():
    with pytest.raises(ValueError, match="devices=99 requested but only"):
        parallel.select_devices(99)
    with pytest.raises(ValueError, match="n must be a positive integer"):
        parallel.select_devices(0)
    with pytest.raises(ValueError, match="batch_size=10 is not divisible by the device count 4"):
        parallel.check_batch_size(10, 4)


def test_batch_mode_stochastic_depth_pmap_and_fit_over_4_devices():
    """One batch-mode coin for the global batch: pmap with synchronised BatchNorm runs (it used to
    crash), every device reports the same loss, and 3 steps of pmap and of ``fit`` on a mesh of 4
    match one device on the global batch; row masks still differ across devices."""
    out = json.loads(run_python(["sd_pmap_worker.py"], devices=4, timeout=300).stdout.splitlines()[-1])
    assert out["devices"] == 4
    assert all(len(set(per_device)) == 1 for per_device in out["pmap_losses"])
    assert out["fit_devices"] == 4
    for path in ("pmap_vs_one", "fit_vs_one"):
        for what, d in out[path].items():
            assert d <= TOL, (path, what, d)
    assert out["ref_losses"] != out["plain_losses"]  # some branch really was dropped
    rows = [tuple(r) for r in out["row_masks"]]
    assert len(set(rows)) == 4 and all(set(r) <= {0.0, 2.0} for r in rows)  # per device, per sample
    assert len({tuple(r) for r in out["batch_masks"]}) == 1 and all(len(set(r)) == 1 for r in out["batch_masks"])
