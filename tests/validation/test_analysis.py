"""``jaxcnn.analysis``: receptive fields and complexity refuse bad arguments before tracing the model."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxcnn.analysis import layerwise_receptive_fields, model_function, model_receptive_fields, receptive_field
from jaxcnn.analysis.complexity import count_macs, model_complexity
from jaxcnn.analysis.measured import (
    effective_receptive_field,
    input_gradient,
    measured_receptive_field,
    positive_variables,
)
from jaxcnn.models import ResNet

FN = lambda x: x[:, 1:, 1:, :] + x[:, :-1, :-1, :]  # noqa: E731 -- a 2x2 box, field 2
NET = ResNet(stage_sizes=(1, 1), widths=(8, 16), stem="cifar", num_classes=10)
WHILE = lambda x: jax.lax.while_loop(lambda c: c[1] < 3, lambda c: (2 * c[0], c[1] + 1), (x, 0))[0]  # noqa: E731
S = (1, 8, 8, 1)
C = (1, 32, 32, 3)
X = jnp.ones(S)  # made at import: the cases below must compile nothing
X3 = jax.ShapeDtypeStruct((3,), jnp.float32)
VARS = {"params": {"conv": {"kernel": np.ones((3, 3, 1, 1)), "bias": np.ones(1)}}}

CASES = [
    ("rf input_shape 2-D", lambda: receptive_field(FN, (8, 8)), ValueError, "input_shape"),
    ("rf input_shape 0", lambda: receptive_field(FN, (1, 0, 8, 1)), ValueError, "input_shape"),
    ("rf input_shape 8.5", lambda: receptive_field(FN, (1, 8.5, 8, 1)), TypeError, "input_shape"),
    ("rf f str", lambda: receptive_field("conv", S), TypeError, "f"),
    ("layerwise f None", lambda: layerwise_receptive_fields(None, S), TypeError, "f"),
    ("complexity model str", lambda: model_complexity("resnet18", C), TypeError, "model"),
    ("complexity input_shape 3-D", lambda: model_complexity(NET, (32, 32, 3)), ValueError, "input_shape"),
    ("complexity method unknown", lambda: model_complexity(NET, C, method="nope"), ValueError, "method"),
    ("count_macs f int", lambda: count_macs(5, X3), TypeError, "f"),
    ("count_macs f with a while loop", lambda: count_macs(WHILE, X3), ValueError, "f"),
    ("rf f with an fft", lambda: receptive_field(lambda x: jnp.fft.fft2(x).real, S), ValueError, "f"),
    ("model_rf method unknown", lambda: model_receptive_fields(NET, C, method="nope"), ValueError, "method"),
    ("model_rf input_shape 2-D", lambda: model_receptive_fields(NET, (32, 32)), ValueError, "input_shape"),
    ("model_function model int", lambda: model_function(5, C), TypeError, "model"),
    ("model_function method list", lambda: model_function(NET, C, method=["features"]), TypeError, "method"),
    ("measured num_samples 0", lambda: measured_receptive_field(FN, S, num_samples=0), ValueError, "num_samples"),
    ("measured unit out of range", lambda: measured_receptive_field(FN, S, unit=(99, 99)), ValueError, "unit"),
    ("measured unit float", lambda: measured_receptive_field(FN, S, unit=(1.5, 2)), TypeError, "unit"),
    ("measured batch of 2", lambda: measured_receptive_field(FN, (2, 8, 8, 1)), ValueError, "input_shape"),
    ("measured key float", lambda: measured_receptive_field(FN, S, key=1.5), TypeError, "key"),
    ("measured dtype int", lambda: measured_receptive_field(FN, S, dtype=jnp.int32), TypeError, "dtype"),
    ("measured f None", lambda: measured_receptive_field(None, S), TypeError, "f"),
    ("effective batch 0", lambda: effective_receptive_field(FN, S, batch=0), ValueError, "batch"),
    ("effective key str", lambda: effective_receptive_field(FN, S, key="0"), TypeError, "key"),
    ("effective unit 1 entry", lambda: effective_receptive_field(FN, S, unit=(0,)), ValueError, "unit"),
    ("input_gradient f int", lambda: input_gradient(5, X), TypeError, "f"),
    ("positive bn_scale -1", lambda: positive_variables(VARS, bn_scale=-1.0), ValueError, "bn_scale"),
    ("positive bn_scale str", lambda: positive_variables(VARS, bn_scale="0.5"), TypeError, "bn_scale"),
    ("positive seed -1", lambda: positive_variables(VARS, seed=-1), ValueError, "seed"),
    ("positive variables int", lambda: positive_variables(5), TypeError, "variables"),
]


@pytest.mark.parametrize("name,call,exc,argument", CASES, ids=[c[0] for c in CASES])
def test_bad_input(bad_input, name, call, exc, argument):
    bad_input(call, exc, argument)


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
