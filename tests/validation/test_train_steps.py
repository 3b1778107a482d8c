"""``jaxcnn.train.steps``: losses, step builders and the batch a step reads, checked at the boundary or
at trace time (free: valid jitted steps run exactly as before)."""

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from jaxcnn.train import (
    classification_loss,
    count_bad_labels,
    create_train_state,
    make_eval_step,
    make_train_step,
    regression_loss,
    step_rngs,
)

K = jax.random.key(0)
LOGITS, LOGITS1 = jnp.zeros((4, 10)), jnp.zeros(10)
L4, L0 = jnp.zeros(4, jnp.int32), jnp.zeros((), jnp.int32)
L41 = jnp.zeros((4, 1), jnp.int32)
LF = jnp.zeros(4)
L12 = jnp.full(4, 12, jnp.int32)
ONES3 = jnp.ones(3)
P1, P3, P3D = jnp.zeros((2, 4, 4, 1)), jnp.zeros((2, 4, 4, 3)), jnp.zeros((2, 4, 4))
IMAGE = jnp.ones((2, 4, 4, 1))


class Tiny(nn.Module):
    @nn.compact
    def __call__(self, x, train: bool = False):
        return nn.Dense(3)(x.reshape(x.shape[0], -1))


STATE = create_train_state(Tiny(), K, IMAGE[:1], optax.sgd(0.1))
NO_LABEL = {"image": IMAGE}
LABEL_2D = {"image": IMAGE, "label": jnp.zeros((2, 1), jnp.int32)}

CASES = [
    ("labels (B, 1)", lambda: classification_loss(LOGITS, L41), ValueError, "labels"),
    ("labels float", lambda: classification_loss(LOGITS, LF), TypeError, "labels"),
    ("labels out of range (eager)", lambda: classification_loss(LOGITS, L12), ValueError, "labels"),
    ("labels a list", lambda: classification_loss(LOGITS, [0, 1, 2, 3]), TypeError, "labels"),
    ("label_smoothing 1.0", lambda: classification_loss(LOGITS, L4, 1.0), ValueError, "label_smoothing"),
    ("mask wrong shape", lambda: classification_loss(LOGITS, L4, mask=ONES3), ValueError, "mask"),
    ("logits 1-D", lambda: classification_loss(LOGITS1, L0), ValueError, "logits"),
    ("regression target mismatch", lambda: regression_loss(P1, P3), ValueError, "target"),
    ("regression pred 3-D", lambda: regression_loss(P3D, P3D), ValueError, "pred"),
    ("count_bad_labels num_classes 0", lambda: count_bad_labels(L4, 0), ValueError, "num_classes"),
    ("step_rngs rng int", lambda: step_rngs(0, 0), TypeError, "rng"),
    ("step_rngs axis_name int", lambda: step_rngs(K, 0, ("dropout",), 5), TypeError, "axis_name"),
    ("make_train_step task", lambda: make_train_step("x"), ValueError, "task"),
    (
        "make_train_step label_smoothing str",
        lambda: make_train_step(label_smoothing="0.1"),
        TypeError,
        "label_smoothing",
    ),
    (
        "make_train_step compute_dtype int32",
        lambda: make_train_step(compute_dtype=jnp.int32),
        TypeError,
        "compute_dtype",
    ),
    ("make_train_step axis_name empty", lambda: make_train_step(axis_name=""), TypeError, "axis_name"),
    ("make_train_step loss_fn 5", lambda: make_train_step(loss_fn=5), TypeError, "loss_fn"),
    ("make_train_step rng_streams str", lambda: make_train_step(rng_streams="dropout"), TypeError, "rng_streams"),
    ("make_train_step rng_streams dup", lambda: make_train_step(rng_streams=("a", "a")), ValueError, "rng_streams"),
    ("make_train_step input_key None", lambda: make_train_step(input_key=None), TypeError, "input_key"),
    ("jitted train_step batch without label", lambda: jax.jit(make_train_step())(STATE, NO_LABEL), ValueError, "batch"),
    ("train_step batch a tuple", lambda: make_train_step()(STATE, (IMAGE,)), TypeError, "batch"),
    ("jitted train_step labels (B, 1)", lambda: jax.jit(make_train_step())(STATE, LABEL_2D), ValueError, "labels"),
    ("eval_step batch without label", lambda: jax.jit(make_eval_step())(STATE, NO_LABEL), ValueError, "batch"),
]


@pytest.mark.parametrize("name,call,exc,argument", CASES, ids=[c[0] for c in CASES])
def test_bad_input(bad_input, name, call, exc, argument):
    bad_input(call, exc, argument)


def test_valid_edges_are_accepted():
    make_train_step(compute_dtype=jnp.bfloat16)
    make_train_step(compute_dtype="float16", label_smoothing=0)  # an int 0 is a valid rate
    loss, aux = classification_loss(LOGITS, L4, mask=jnp.ones(4))
    assert np.isclose(float(loss), np.log(10.0)) and float(aux["accuracy"]) == 1.0
    # traced labels and a traced rate cannot be checked here: the step counts bad labels instead
    f = jax.jit(lambda labels, s: classification_loss(LOGITS, labels, s)[0])
    assert np.isfinite(float(f(L12, 0.1)))
    assert int(count_bad_labels(L12, 10)) == 4
