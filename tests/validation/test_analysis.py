"""``jaxcnn.analysis``: receptive fields and complexity refuse bad arguments before tracing the model."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxcnn.analysis import receptive_field
from jaxcnn.analysis.complexity import count_macs
from jaxcnn.analysis.measured import (
    measured_receptive_field,
    positive_variables,
)

FN = lambda x: x[:, 1:, 1:, :] + x[:, :-1, :-1, :]  # noqa: E731 -- a 2x2 box, field 2
WHILE = lambda x: jax.lax.while_loop(lambda c: c[1] < 3, lambda c: (2 * c[0], c[1] + 1), (x, 0))[0]  # noqa: E731
S = (1, 8, 8, 1)
X3 = jax.ShapeDtypeStruct((3,), jnp.float32)
VARS = {"params": {"conv": {"kernel": np.ones((3, 3, 1, 1)), "bias": np.ones(1)}}}


def test_unsupported_primitives_are_named():
    with pytest.raises(ValueError, match=r"f: primitive 'while' is unsupported by count_macs"):
        count_macs(WHILE, X3)
    with pytest.raises(ValueError, match=r"f applies primitive 'fft' .* it is unsupported by receptive_field"):
        receptive_field(lambda x: jnp.fft.fft2(x).real, S)


def test_valid_edge_cases():
    # a list and NumPy integers are a fine input_shape; the field of a 2x2 box is 2
    assert receptive_field(FN, [1, np.int64(8), 8, 1]).size == (2, 2)
    # bn_scale above 1 is allowed (only its sign matters for the support); an empty tree passes through
    assert positive_variables(VARS, bn_scale=2.0)["params"]["conv"]["bias"].tolist() == [0.0]
    assert positive_variables({}) == {}
    assert measured_receptive_field(FN, S, unit=(0, 0), num_samples=1).size == (2, 2)
