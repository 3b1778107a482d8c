"""``jaxcnn.train`` state, parallel and checkpoint: optimiser settings, devices, meshes and
checkpoint arguments named at the boundary."""

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from jaxcnn.train import create_train_state, make_optimizer
from jaxcnn.train.checkpoint import Checkpointer, restore_arrays
from jaxcnn.train.parallel import (
    check_batch_size,
    make_mesh,
)

K = jax.random.key(0)
X = jnp.ones((1, 4, 4, 1))
DEVICES = jax.devices()


class Tiny(nn.Module):
    @nn.compact
    def __call__(self, x, train: bool = False):
        return nn.Dense(3)(x.reshape(x.shape[0], -1))


STATE = create_train_state(Tiny(), K, X, optax.sgd(0.1))


def test_valid_edges_are_accepted():
    make_optimizer(0.0, momentum=0.0, weight_decay=0.0)  # torch accepts lr 0 (a frozen run)
    make_optimizer(0.1, momentum=None)  # plain SGD, as momentum=0
    make_optimizer(optax.cosine_decay_schedule(0.1, 10))  # schedules are callables, not checked
    assert check_batch_size(np.int64(8), np.int64(2)) == 4
    assert make_mesh(np.asarray(DEVICES)).devices.size == len(DEVICES)


def test_restore_arrays_names_the_saved_steps(tmp_path):
    with Checkpointer(tmp_path, every=1) as ckpt:
        ckpt.save(STATE, force=True)
    with pytest.raises(ValueError, match=r"step 3 is not saved .*\[0\]"):
        restore_arrays(tmp_path, step=3)
    assert int(restore_arrays(tmp_path, step=0)["step"]) == 0
