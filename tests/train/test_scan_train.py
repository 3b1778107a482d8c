"""A train step of the scan+remat ResNet equals the unrolled one on the same weights,
BatchNorm running statistics included (``unrolled_to_scan`` maps the layouts between them)."""

import jax
import jax.numpy as jnp
import numpy as np
from train_tiny import small_resnet

from jaxcnn.models import scan_to_unrolled, unrolled_to_scan
from jaxcnn.train import state as st
from jaxcnn.train import steps

SIZES = (3, 1, 1)


def test_scan_remat_train_step_equals_unrolled():
    rng = np.random.default_rng(2)
    batch = {
        "image": rng.normal(size=(8, 8, 8, 3)).astype(np.float32),
        "label": rng.integers(0, 10, 8).astype(np.int32),
    }
    tx, x0 = st.make_optimizer(0.1), jnp.zeros((1, 8, 8, 3))
    flat = st.create_train_state(small_resnet(stage_sizes=SIZES), jax.random.key(0), x0, tx)
    scan = st.create_train_state(
        small_resnet(stage_sizes=SIZES, scan_stages=True, remat=True), jax.random.key(0), x0, tx
    )
    v = unrolled_to_scan(flat.variables, SIZES)
    scan = scan.replace(params=v["params"], batch_stats=v["batch_stats"], opt_state=tx.init(v["params"]))
    flat, m_flat = jax.jit(steps.make_train_step())(flat, batch)
    scan, m_scan = jax.jit(steps.make_train_step())(scan, batch)
    assert abs(float(m_flat["loss"]) - float(m_scan["loss"])) <= 1e-5
    back = scan_to_unrolled(scan.variables, SIZES)
    assert jax.tree.structure(back) == jax.tree.structure(flat.variables)
    for a, b in zip(jax.tree.leaves(flat.variables), jax.tree.leaves(back)):
        np.testing.assert_allclose(b, a, atol=1e-5, rtol=0)
