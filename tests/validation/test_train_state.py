"""``jaxcnn.train`` state, parallel and checkpoint: optimiser settings, devices, meshes and
checkpoint arguments named at the boundary."""

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from jax.sharding import Mesh

from jaxcnn.train import create_train_state, make_optimizer
from jaxcnn.train.checkpoint import Checkpointer, restore_arrays
from jaxcnn.train.parallel import (
    batch_sharding,
    check_batch_size,
    make_mesh,
    mesh_step,
    pmap_step,
    put_batch,
    put_replicated,
    replicate,
    replicated,
    select_devices,
    shard_batch,
    unreplicate,
)

NAN = float("nan")
K = jax.random.key(0)
X = jnp.ones((1, 4, 4, 1))
DEVICES = jax.devices()
MESH = make_mesh()
OTHER_MESH = Mesh(np.asarray(DEVICES), ("data",))
SCALAR = {"image": np.zeros(())}


class Tiny(nn.Module):
    @nn.compact
    def __call__(self, x, train: bool = False):
        return nn.Dense(3)(x.reshape(x.shape[0], -1))


STATE = create_train_state(Tiny(), K, X, optax.sgd(0.1))


def _file(path):
    path.write_text("x")
    return path


def _ckpt(tmp_path, name="c"):
    return Checkpointer(tmp_path / name, every=1)


CASES = [
    ("lr -0.1", lambda: make_optimizer(-0.1), ValueError, "learning_rate"),
    ("lr nan", lambda: make_optimizer(NAN), ValueError, "learning_rate"),
    ("lr str", lambda: make_optimizer("0.1"), TypeError, "learning_rate"),
    ("momentum 1.0", lambda: make_optimizer(0.1, momentum=1.0), ValueError, "momentum"),
    ("weight_decay -1", lambda: make_optimizer(0.1, weight_decay=-1.0), ValueError, "weight_decay"),
    ("nesterov str", lambda: make_optimizer(0.1, nesterov="yes"), TypeError, "nesterov"),
    ("create_train_state tx str", lambda: create_train_state(Tiny(), K, X, "sgd"), TypeError, "tx"),
    ("create_train_state model str", lambda: create_train_state("resnet18", K, X, optax.sgd(0.1)), TypeError, "model"),
    ("create_train_state key int", lambda: create_train_state(Tiny(), 0, X, optax.sgd(0.1)), TypeError, "key"),
    (
        "create_train_state sample_input list",
        lambda: create_train_state(Tiny(), K, [[1.0]], optax.sgd(0.1)),
        TypeError,
        "sample_input",
    ),
    ("select_devices 0", lambda: select_devices(0), ValueError, "n"),
    ("select_devices 99", lambda: select_devices(99), ValueError, "n"),
    ("select_devices 1.5", lambda: select_devices(1.5), TypeError, "n"),
    ("check_batch_size num_devices 0", lambda: check_batch_size(8, 0), ValueError, "num_devices"),
    ("check_batch_size indivisible", lambda: check_batch_size(7, 2), ValueError, "batch_size"),
    ("shard_batch 7 rows over 2", lambda: shard_batch({"image": np.zeros((7, 2))}, 2), ValueError, "batch"),
    ("shard_batch a scalar leaf", lambda: shard_batch(SCALAR, 1), ValueError, "batch"),
    ("make_mesh []", lambda: make_mesh([]), ValueError, "devices"),
    ("make_mesh str devices", lambda: make_mesh(["cpu"]), TypeError, "devices"),
    ("make_mesh duplicates", lambda: make_mesh(DEVICES * 2), ValueError, "devices"),
    ("replicate []", lambda: replicate({"a": np.zeros(2)}, []), ValueError, "devices"),
    ("unreplicate a scalar leaf", lambda: unreplicate({"step": np.zeros(())}), ValueError, "tree"),
    ("pmap_step step_fn None", lambda: pmap_step(None, DEVICES), TypeError, "step_fn"),
    ("pmap_step donate str", lambda: pmap_step(lambda s, b: s, DEVICES, donate="yes"), TypeError, "donate"),
    ("replicated mesh None", lambda: replicated(None), TypeError, "mesh"),
    ("batch_sharding other axis", lambda: batch_sharding(OTHER_MESH), ValueError, "mesh"),
    ("put_replicated mesh str", lambda: put_replicated({"a": np.zeros(2)}, "x"), TypeError, "mesh"),
    ("put_batch a scalar leaf", lambda: put_batch(SCALAR, MESH), ValueError, "global_batch"),
    ("mesh_step step_fn None", lambda: mesh_step(None, MESH), TypeError, "step_fn"),
]

CKPT_CASES = [
    ("every 0", lambda d: Checkpointer(d / "a", every=0), ValueError, "every"),
    ("every 2.5", lambda d: Checkpointer(d / "a", every=2.5), TypeError, "every"),
    ("keep 0", lambda d: Checkpointer(d / "a", keep=0), ValueError, "keep"),
    ("directory None", lambda d: Checkpointer(None), TypeError, "directory"),
    ("directory a file", lambda d: Checkpointer(_file(d / "f")), ValueError, "directory"),
    ("save state dict", lambda d: _ckpt(d).save({"step": 1}), TypeError, "state"),
    ("save force str", lambda d: _ckpt(d).save(STATE, force="yes"), TypeError, "force"),
    ("restore template None", lambda d: _ckpt(d).restore(None), TypeError, "template"),
    ("restore step -1", lambda d: _ckpt(d).restore(STATE, step=-1), ValueError, "step"),
    ("restore_arrays missing directory", lambda d: restore_arrays(d / "nope"), ValueError, "directory"),
    ("restore_arrays step -1", lambda d: restore_arrays(d, step=-1), ValueError, "step"),
    ("restore_arrays step not saved", lambda d: restore_arrays(d, step=5), ValueError, "step"),
]


@pytest.mark.parametrize("name,call,exc,argument", CASES, ids=[c[0] for c in CASES])
def test_bad_input(bad_input, name, call, exc, argument):
    bad_input(call, exc, argument)


@pytest.mark.parametrize("name,call,exc,argument", CKPT_CASES, ids=[c[0] for c in CKPT_CASES])
def test_bad_checkpoint_input(bad_input, tmp_path, name, call, exc, argument):
    bad_input(lambda: call(tmp_path), exc, argument)


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
