"""``conv_transpose`` / ``ConvTranspose``: bad arguments named at the boundary, before compiling or allocating."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxcnn.upsample import ConvTranspose, conv_transpose

X = jnp.ones((1, 8, 8, 4))
X3 = jnp.ones((8, 8, 4))
XI = jnp.ones((1, 8, 8, 4), jnp.int32)
K = jnp.zeros((3, 3, 2, 4))  # forward HWIO kernel: 2 output channels from y's 4
KI = K.astype(jnp.int32)
K3 = jnp.zeros((3, 2, 4))
K_CIN = jnp.zeros((3, 3, 2, 5))
K_EMPTY = jnp.zeros((0, 3, 2, 4))
KEY = jax.random.key(0)


def init(module, y=X):
    return module.init(KEY, y)


CASES = [
    ("stride 0", lambda: conv_transpose(X, K, stride=0), ValueError, "stride"),
    ("stride 1.5", lambda: conv_transpose(X, K, stride=1.5), TypeError, "stride"),
    ("stride 2.0", lambda: conv_transpose(X, K, stride=2.0), TypeError, "stride"),
    ("stride triple", lambda: conv_transpose(X, K, stride=(1, 2, 3)), TypeError, "stride"),
    ("stride huge output", lambda: conv_transpose(X, K, stride=10**5), ValueError, "stride"),
    ("dilation huge output", lambda: conv_transpose(X, K, dilation=10**5), ValueError, "dilation"),
    ("padding -1", lambda: conv_transpose(X, K, padding=-1), ValueError, "padding"),
    ("padding empties output", lambda: conv_transpose(X, K, padding=9), ValueError, "padding"),
    ("padding 0.5", lambda: conv_transpose(X, K, padding=0.5), TypeError, "padding"),
    (
        "output_padding >= stride",
        lambda: conv_transpose(X, K, stride=2, output_padding=2),
        ValueError,
        "output_padding",
    ),
    ("output_padding -1", lambda: conv_transpose(X, K, output_padding=-1), ValueError, "output_padding"),
    ("dilation 0", lambda: conv_transpose(X, K, dilation=0), ValueError, "dilation"),
    ("dilation 1.5", lambda: conv_transpose(X, K, dilation=1.5), TypeError, "dilation"),
    ("groups 0", lambda: conv_transpose(X, K, groups=0), ValueError, "groups"),
    ("groups 1.5", lambda: conv_transpose(X, K, groups=1.5), TypeError, "groups"),
    ("groups True", lambda: conv_transpose(X, K, groups=True), TypeError, "groups"),
    ("groups not dividing", lambda: conv_transpose(X, K, groups=3), ValueError, "groups"),
    ("kernel 3-D", lambda: conv_transpose(X, K3), ValueError, "kernel"),
    ("kernel C_in", lambda: conv_transpose(X, K_CIN), ValueError, "kernel"),
    ("kernel list", lambda: conv_transpose(X, [[1.0]]), TypeError, "kernel"),
    ("kernel kH 0", lambda: conv_transpose(X, K_EMPTY), ValueError, "kernel"),
    ("kernel int", lambda: conv_transpose(X, KI), TypeError, "kernel"),
    ("y int", lambda: conv_transpose(XI, K), TypeError, "y"),
    ("y 3-D", lambda: conv_transpose(X3, K), ValueError, "y"),
    ("precision str", lambda: conv_transpose(X, K, precision="best!"), ValueError, "precision"),
    ("precision int", lambda: conv_transpose(X, K, precision=3), ValueError, "precision"),
    (
        "precision mixed pair",
        lambda: conv_transpose(X, K, precision=(jax.lax.Precision.HIGH, "high")),
        ValueError,
        "precision",
    ),
    (
        "module output_padding >= stride",
        lambda: init(ConvTranspose(2, 3, stride=2, output_padding=2)),
        ValueError,
        "output_padding",
    ),
    ("module y 3-D", lambda: init(ConvTranspose(2, 3), X3), ValueError, "y"),
]


@pytest.mark.parametrize("name,call,exc,argument", CASES, ids=[c[0] for c in CASES])
def test_bad_input(bad_input, name, call, exc, argument):
    bad_input(call, exc, argument)


def test_numpy_ints_and_precision_names_are_valid():
    ref = conv_transpose(X, K, stride=2, groups=1)
    out = conv_transpose(X, K, stride=np.int64(2), groups=np.int32(1), precision="highest")
    np.testing.assert_allclose(out, ref)
    assert conv_transpose(X, K, precision=("highest", "default")).shape == (1, 10, 10, 2)
