"""Two JAX processes on loopback: each reads disjoint rows, the union is the global batch, and ``fit``
reaches the parameters of one process on the global batch."""

import os
import socket
import subprocess
import sys
from pathlib import Path

import jax
import numpy as np
import optax
import pytest
from data_helpers import array_loader, make_tiny

from jaxcnn.train import fit

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow
def test_two_processes_read_their_rows_and_match_one_process(tmp_path):
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(REPO), str(HERE)]))
    env.pop("XLA_FLAGS", None)  # one CPU device per process
    port, out = _free_port(), str(tmp_path / "p")
    procs = [
        subprocess.Popen(
            [sys.executable, "two_process_worker.py", str(port), str(i), "2", out],
            cwd=HERE,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for i in range(2)
    ]
    try:
        logs = [p.communicate(timeout=240)[0] for p in procs]
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
    assert all(p.returncode == 0 for p in procs), "\n".join(log[-2000:] for log in logs)
    got = [np.load(f"{out}{i}.npz") for i in range(2)]
    assert all(int(g["processes"]) == 2 and int(g["local"]) == 4 for g in got)
    one = array_loader()  # this process alone: the global batches
    for i in range(3):
        glob = one.batch(i)["image"]
        assert np.array_equal(np.concatenate([got[0][f"image{i}"], got[1][f"image{i}"]]), glob)
    ref = fit(make_tiny(), one, 3, tx=optax.sgd(0.1, 0.9), progress=False).state
    leaves = [np.asarray(x) for x in jax.tree.leaves((ref.params, ref.batch_stats))]
    for k, r in enumerate(leaves):
        np.testing.assert_allclose(got[0][f"leaf{k}"], r, atol=1e-5, rtol=0)
        np.testing.assert_allclose(got[1][f"leaf{k}"], r, atol=1e-5, rtol=0)
