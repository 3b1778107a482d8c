"""``jaxcnn.train.steps``: losses, step builders and the batch a step reads, checked at the boundary or
at trace time (free: valid jitted steps run exactly as before)."""

import jax
import jax.numpy as jnp
import numpy as np

from jaxcnn.train import (
    classification_loss,
    count_bad_labels,
    make_train_step,
)

LOGITS, LOGITS1 = jnp.zeros((4, 10)), jnp.zeros(10)
L4, L0 = jnp.zeros(4, jnp.int32), jnp.zeros((), jnp.int32)
L12 = jnp.full(4, 12, jnp.int32)


def test_valid_edges_are_accepted():
    make_train_step(compute_dtype=jnp.bfloat16)
    make_train_step(compute_dtype="float16", label_smoothing=0)  # an int 0 is a valid rate
    loss, aux = classification_loss(LOGITS, L4, mask=jnp.ones(4))
    assert np.isclose(float(loss), np.log(10.0)) and float(aux["accuracy"]) == 1.0
    # traced labels and a traced rate cannot be checked here: the step counts bad labels instead
    f = jax.jit(lambda labels, s: classification_loss(LOGITS, labels, s)[0])
    assert np.isfinite(float(f(L12, 0.1)))
    assert int(count_bad_labels(L12, 10)) == 4
