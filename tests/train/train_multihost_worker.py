"""One of N processes running the mesh path under ``jax.distributed`` on loopback.

argv: coordinator_port process_id num_processes out.npz. XLA_FLAGS gives each process its
local CPU devices; the mesh spans all processes' devices. Process 0 writes losses and params.
"""

import sys

import jax

port, pid, nproc, out = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
jax.distributed.initialize(f"127.0.0.1:{port}", num_processes=nproc, process_id=pid, initialization_timeout=60)

import numpy as np  # noqa: E402
from train_tiny import TinyCNN  # noqa: E402
from train_worker import batches, init  # noqa: E402

from jaxcnn.train import parallel, steps  # noqa: E402

mesh = parallel.make_mesh()  # every device of every process
state = parallel.put_replicated(init(TinyCNN()), mesh)
step = parallel.mesh_step(steps.make_train_step(), mesh)
losses = []
for b in batches():  # each process builds the same global batch and feeds its own rows
    state, m = step(state, parallel.put_batch(b, mesh))
    losses.append(float(m["loss"]))
leaves = [np.asarray(x) for x in jax.tree.leaves((state.params, state.batch_stats))]
if pid == 0:
    np.savez(
        out,
        losses=np.array(losses),
        devices=jax.device_count(),
        processes=jax.process_count(),
        **{f"leaf{i}": x for i, x in enumerate(leaves)},
    )
jax.distributed.shutdown()
