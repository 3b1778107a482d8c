"""``fit``: every argument checked before anything is built, read or traced; each batch checked on
the host (a dict lookup) before it reaches the step."""

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from jaxcnn.train import create_train_state, fit, make_mesh, make_optimizer

TX = make_optimizer(0.1)


class Tiny(nn.Module):
    @nn.compact
    def __call__(self, x, train: bool = False):
        return nn.Dense(3)(x.reshape(x.shape[0], -1))


STATE = create_train_state(Tiny(), jax.random.key(0), jnp.ones((1, 4, 4, 1)), optax.sgd(0.1))
MESH = make_mesh()


def data(step):
    return {"image": np.ones((2, 4, 4, 1), np.float32), "label": np.zeros(2, np.int32)}


EV = [data(0)]


def run(*args, **kwargs):
    return fit(*args, **{"progress": False, **kwargs})


CASES = [
    ("model_or_state str", lambda: run("resnet18", data, 1, tx=TX), TypeError, "model_or_state"),
    ("train_data 5", lambda: run(STATE, 5, 1), TypeError, "train_data"),
    ("steps -1", lambda: run(STATE, data, -1), ValueError, "steps"),
    ("steps 2.5", lambda: run(STATE, data, 2.5), TypeError, "steps"),
    ("steps True", lambda: run(STATE, data, True), TypeError, "steps"),
    ("tx str with a model", lambda: run(Tiny(), data, 1, tx="sgd"), TypeError, "tx"),
    ("tx missing with a model", lambda: run(Tiny(), data, 1), ValueError, "tx"),
    ("tx with a TrainState (ignored)", lambda: run(STATE, data, 1, tx=TX), ValueError, "tx"),
    ("train_data neither a function nor an iterable", lambda: run(Tiny(), 5, 1, tx=TX), TypeError, "train_data"),
    ("seed 1.5", lambda: run(Tiny(), data, 1, tx=TX, seed=1.5), TypeError, "seed"),
    ("task", lambda: run(STATE, data, 1, task="x"), ValueError, "task"),
    ("label_smoothing 1.5", lambda: run(STATE, data, 1, label_smoothing=1.5), ValueError, "label_smoothing"),
    ("compute_dtype float77", lambda: run(STATE, data, 1, compute_dtype="float77"), TypeError, "compute_dtype"),
    ("input_key None", lambda: run(STATE, data, 1, input_key=None), TypeError, "input_key"),
    ("rng_streams str", lambda: run(STATE, data, 1, rng_streams="dropout"), TypeError, "rng_streams"),
    ("loss_fn 5", lambda: run(STATE, data, 1, loss_fn=5), TypeError, "loss_fn"),
    ("eval_data 5", lambda: run(STATE, data, 1, eval_data=5), TypeError, "eval_data"),
    ("eval_data an iterator", lambda: run(STATE, data, 1, eval_data=iter(EV)), TypeError, "eval_data"),
    ("eval_fn 5", lambda: run(STATE, data, 1, eval_fn=5), TypeError, "eval_fn"),
    ("eval_data and eval_fn", lambda: run(STATE, data, 1, eval_data=EV, eval_fn=lambda s: {}), ValueError, "eval_fn"),
    ("eval_every 0", lambda: run(STATE, data, 1, eval_data=EV, eval_every=0), ValueError, "eval_every"),
    ("eval_every 2.5", lambda: run(STATE, data, 4, eval_data=EV, eval_every=2.5), TypeError, "eval_every"),
    ("eval_every [0]", lambda: run(STATE, data, 4, eval_data=EV, eval_every=[0]), ValueError, "eval_every"),
    ("eval_every [9] > steps", lambda: run(STATE, data, 4, eval_data=EV, eval_every=[9]), ValueError, "eval_every"),
    ("eval_every [1.5]", lambda: run(STATE, data, 4, eval_data=EV, eval_every=[1.5]), TypeError, "eval_every"),
    ("eval_every without evaluation", lambda: run(STATE, data, 4, eval_every=2), ValueError, "eval_every"),
    ("out 5", lambda: run(STATE, data, 1, out=5), TypeError, "out"),
    ("ckpt_every 0", lambda: run(STATE, data, 1, ckpt_every=0), ValueError, "ckpt_every"),
    ("ckpt_every 2.5", lambda: run(STATE, data, 1, ckpt_every=2.5), TypeError, "ckpt_every"),
    ("keep 0", lambda: run(STATE, data, 1, keep=0), ValueError, "keep"),
    ("keep str", lambda: run(STATE, data, 1, keep="3"), TypeError, "keep"),
    ("resume str", lambda: run(STATE, data, 1, resume="yes"), TypeError, "resume"),
    ("resume without out", lambda: run(STATE, data, 1, resume=True), ValueError, "resume"),
    ("devices 0", lambda: run(STATE, data, 1, devices=0), ValueError, "devices"),
    ("devices True", lambda: run(STATE, data, 1, devices=True), TypeError, "devices"),
    ("devices 99", lambda: run(STATE, data, 1, devices=99), ValueError, "devices"),
    ("devices []", lambda: run(STATE, data, 1, devices=[]), ValueError, "devices"),
    ("devices and mesh", lambda: run(STATE, data, 1, devices=1, mesh=MESH), ValueError, "mesh"),
    ("mesh str", lambda: run(STATE, data, 1, mesh="x"), TypeError, "mesh"),
    ("max_skipped 0", lambda: run(STATE, data, 1, max_skipped=0), ValueError, "max_skipped"),
    ("log_every 0", lambda: run(STATE, data, 1, log_every=0), ValueError, "log_every"),
    ("log_every 1.5", lambda: run(STATE, data, 1, log_every=1.5), TypeError, "log_every"),
    ("progress str", lambda: fit(STATE, data, 1, progress="no"), TypeError, "progress"),
    ("desc 5", lambda: run(STATE, data, 1, desc=5), TypeError, "desc"),
    ("on_step 5", lambda: run(STATE, data, 1, on_step=5), TypeError, "on_step"),
    ("model batch without input_key", lambda: run(Tiny(), data, 1, tx=TX, input_key="x"), ValueError, "train_data"),
]

# A batch is checked when the loop takes it: after the state is copied onto the mesh (small copy
# kernels compile) but before the step is traced, so the compile-free assertion does not apply.
BATCH_CASES = [
    (
        "batch without label",
        lambda: run(STATE, lambda s: {"image": data(s)["image"]}, 1),
        ValueError,
        r"train_data's batch of step 0 has no 'label' entry",
    ),
    (
        "batch without input_key",
        lambda: run(STATE, data, 1, input_key="x"),
        ValueError,
        r"train_data's batch of step 0 has no 'x' entry",
    ),
    (
        "batch a tuple",
        lambda: run(STATE, lambda s: (1, 2), 1),
        TypeError,
        r"train_data's batch of step 0 must be a dict of arrays, got tuple",
    ),
    (
        "second batch without label",
        lambda: run(STATE, lambda s: data(s) if s == 0 else {"image": 0}, 2),
        ValueError,
        r"train_data's batch of step 1 has no 'label' entry",
    ),
]


@pytest.mark.parametrize("name,call,exc,argument", CASES, ids=[c[0] for c in CASES])
def test_bad_input(bad_input, name, call, exc, argument):
    bad_input(call, exc, argument)


@pytest.mark.parametrize("name,call,exc,match", BATCH_CASES, ids=[c[0] for c in BATCH_CASES])
def test_bad_batch(name, call, exc, match):
    with pytest.raises(exc, match=match):
        call()


def test_valid_edges_are_accepted():
    res = run(STATE, data, 2, eval_data=EV, eval_every=[1, 2], devices=np.int64(1), log_every=2)
    assert [r["step"] for r in res.evals] == [1, 2]
    assert int(run(STATE, data, 0).state.step) == 0  # steps=0: nothing to do
