"""One of N processes: the jaxcnn.data loader and fit under ``jax.distributed`` on loopback.

argv: coordinator_port process_id num_processes out_prefix. Each process saves the rows it read
(``out_prefix{pid}.npz``) and process 0 the parameters after ``fit``.
"""

import sys

import jax

port, pid, nproc, out = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
jax.distributed.initialize(f"127.0.0.1:{port}", num_processes=nproc, process_id=pid, initialization_timeout=60)

import numpy as np  # noqa: E402
import optax  # noqa: E402
from data_helpers import array_loader, make_tiny  # noqa: E402

from jaxcnn.train import fit  # noqa: E402

STEPS = 3
ld = array_loader()
rows = [ld.batch(i) for i in range(STEPS)]
res = fit(make_tiny(), ld, STEPS, tx=optax.sgd(0.1, 0.9), progress=False)
leaves = [np.asarray(x.addressable_data(0)) for x in jax.tree.leaves((res.state.params, res.state.batch_stats))]
np.savez(
    f"{out}{pid}.npz",
    local=ld.local_batch_size,
    processes=jax.process_count(),
    **{f"image{i}": r["image"] for i, r in enumerate(rows)},
    **{f"leaf{i}": x for i, x in enumerate(leaves)},
)
jax.distributed.shutdown()
