"""``pixel_shuffle`` / ``pixel_unshuffle`` / ``icnr`` / ``SubPixelConv``: bad arguments named at the boundary."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxcnn.upsample import SubPixelConv, icnr, pixel_shuffle, pixel_unshuffle

X = jnp.ones((1, 8, 8, 4))
X3 = jnp.ones((8, 8, 4))
X5 = jnp.ones((1, 1, 4, 4, 1))
X6 = jnp.ones((1, 2, 2, 6))
X_ODD = jnp.ones((1, 3, 4, 1))
KEY = jax.random.key(0)


def init(module, x=X):
    return module.init(KEY, x)


CASES = [
    ("shuffle r 0", lambda: pixel_shuffle(X, 0), ValueError, "r"),
    ("shuffle r -2", lambda: pixel_shuffle(X, -2), ValueError, "r"),
    ("shuffle r 1.5", lambda: pixel_shuffle(X, 1.5), TypeError, "r"),
    ("shuffle r 2.0", lambda: pixel_shuffle(X, 2.0), TypeError, "r"),
    ("shuffle r True", lambda: pixel_shuffle(X, True), TypeError, "r"),
    ("shuffle r None", lambda: pixel_shuffle(X, None), TypeError, "r"),
    ("shuffle channels", lambda: pixel_shuffle(X6, 2), ValueError, "r"),
    ("shuffle x 3-D", lambda: pixel_shuffle(X3, 2), ValueError, "x"),
    ("shuffle x list", lambda: pixel_shuffle([[1.0]], 2), TypeError, "x"),
    ("unshuffle r 0", lambda: pixel_unshuffle(X, 0), ValueError, "r"),
    ("unshuffle r 2.5", lambda: pixel_unshuffle(X, 2.5), TypeError, "r"),
    ("unshuffle H", lambda: pixel_unshuffle(X_ODD, 2), ValueError, "r"),
    ("unshuffle x 5-D", lambda: pixel_unshuffle(X5, 2), ValueError, "x"),
    ("icnr r 0", lambda: icnr(0), ValueError, "r"),
    ("icnr r 1.5", lambda: icnr(1.5), TypeError, "r"),
    ("icnr base_init str", lambda: icnr(2, "normal"), TypeError, "base_init"),
    ("icnr shape channels", lambda: icnr(2)(KEY, (3, 3, 4, 6)), ValueError, "shape"),
    ("icnr shape 3-D", lambda: icnr(2)(KEY, (3, 4, 8)), ValueError, "shape"),
    ("x 3-D", lambda: init(SubPixelConv(1, 2), X3), ValueError, "x"),
]


@pytest.mark.parametrize("name,call,exc,argument", CASES, ids=[c[0] for c in CASES])
def test_bad_input(bad_input, name, call, exc, argument):
    bad_input(call, exc, argument)


@pytest.mark.parametrize("k", [1, 3, 5])
def test_odd_kernels_keep_the_promised_size(k):
    out = jax.eval_shape(lambda: SubPixelConv(2, 3, kernel_size=np.int64(k)).init_with_output(KEY, X)[0])
    assert out.shape == (1, 24, 24, 2)
