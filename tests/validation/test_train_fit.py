"""``fit``: every argument checked before anything is built, read or traced; each batch checked on
the host (a dict lookup) before it reaches the step."""

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from jaxcnn.train import create_train_state, fit


class Tiny(nn.Module):
    @nn.compact
    def __call__(self, x, train: bool = False):
        return nn.Dense(3)(x.reshape(x.shape[0], -1))


STATE = create_train_state(Tiny(), jax.random.key(0), jnp.ones((1, 4, 4, 1)), optax.sgd(0.1))


def data(step):
    return {"image": np.ones((2, 4, 4, 1), np.float32), "label": np.zeros(2, np.int32)}


EV = [data(0)]


def run(*args, **kwargs):
    return fit(*args, **{"progress": False, **kwargs})


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


@pytest.mark.parametrize("name,call,exc,match", BATCH_CASES, ids=[c[0] for c in BATCH_CASES])
def test_bad_batch(name, call, exc, match):
    with pytest.raises(exc, match=match):
        call()


def test_valid_edges_are_accepted():
    res = run(STATE, data, 2, eval_data=EV, eval_every=[1, 2], devices=np.int64(1), log_every=2)
    assert [r["step"] for r in res.evals] == [1, 2]
    assert int(run(STATE, data, 0).state.step) == 0  # steps=0: nothing to do
