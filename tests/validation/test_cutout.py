"""``cutout`` / ``Cutout``: bad arguments named at the boundary, fields checked in both modes."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxcnn.regularizers import Cutout, cutout

K = jax.random.key(0)
KEYS = jax.random.split(K, 2)
X = jnp.ones((2, 8, 8, 4))
X3 = jnp.ones((8, 8, 4))
XI = jnp.ones((2, 8, 8, 4), jnp.int32)
XU8 = XI.astype(jnp.uint8)
XB = XI.astype(bool)
FILL3 = jnp.zeros(3)
FILL_HALF = jnp.full(4, 0.5)

CASES = [
    ("size 0", lambda: cutout(K, X, 0), ValueError, "size"),
    ("size -4", lambda: cutout(K, X, -4), ValueError, "size"),
    ("size 2.5", lambda: cutout(K, X, 2.5), TypeError, "size"),
    ("size 4.0", lambda: cutout(K, X, 4.0), TypeError, "size"),
    ("size True", lambda: cutout(K, X, True), TypeError, "size"),
    ("size str", lambda: cutout(K, X, "4"), TypeError, "size"),
    ("size 2**40 (int32 corners)", lambda: cutout(K, X, 2**40), ValueError, "size"),
    (
        "module training without the dropout rng",
        lambda: Cutout(4).apply({}, X, deterministic=False),
        ValueError,
        "dropout",
    ),
    ("fill str", lambda: cutout(K, X, 4, fill="mean"), TypeError, "fill"),
    ("fill None", lambda: cutout(K, X, 4, fill=None), TypeError, "fill"),
    ("fill list", lambda: cutout(K, X, 4, fill=[0.0] * 4), TypeError, "fill"),
    ("fill bool", lambda: cutout(K, X, 4, fill=True), TypeError, "fill"),
    ("fill shape", lambda: cutout(K, X, 4, fill=FILL3), ValueError, "fill"),
    ("fill 0.5 on int images", lambda: cutout(K, XI, 4, fill=0.5), ValueError, "fill"),
    ("fill array 0.5 on int images", lambda: cutout(K, XI, 4, fill=FILL_HALF), ValueError, "fill"),
    ("fill -1 on uint8", lambda: cutout(K, XU8, 4, fill=-1), ValueError, "fill"),
    ("fill 256 on uint8", lambda: cutout(K, XU8, 4, fill=256), ValueError, "fill"),
    ("fill nan on int", lambda: cutout(K, XI, 4, fill=float("nan")), ValueError, "fill"),
    ("fill 2 on bool", lambda: cutout(K, XB, 4, fill=2), ValueError, "fill"),
    ("images 3-D", lambda: cutout(K, X3, 4), ValueError, "images"),
    ("images list", lambda: cutout(K, [[1.0]], 4), TypeError, "images"),
    ("key int", lambda: cutout(0, X, 4), TypeError, "key"),
    ("key None", lambda: cutout(None, X, 4), TypeError, "key"),
    ("key batch", lambda: cutout(KEYS, X, 4), ValueError, "key"),
    ("module fill str", lambda: Cutout(4, fill="mean").apply({}, X, deterministic=True), TypeError, "fill"),
    ("module fill 0.5 int", lambda: Cutout(4, fill=0.5).apply({}, XI, deterministic=True), ValueError, "fill"),
    ("module deterministic str", lambda: Cutout(4).apply({}, X, deterministic="no"), TypeError, "deterministic"),
    ("module images 3-D", lambda: Cutout(4).apply({}, X3, deterministic=True), ValueError, "images"),
]


@pytest.mark.parametrize("name,call,exc,argument", CASES, ids=[c[0] for c in CASES])
def test_bad_input(bad_input, name, call, exc, argument):
    bad_input(call, exc, argument)


def test_fills_the_dtype_holds_are_valid():
    out = cutout(K, XU8, 4, fill=255)
    assert out.dtype == jnp.uint8 and set(np.unique(out).tolist()) <= {1, 255}
    assert cutout(K, XI, 4, fill=np.float32(3.0)).dtype == jnp.int32  # integral float: exact
    assert cutout(K, XB, 4, fill=0).dtype == bool
    assert np.array_equal(cutout(K, X, np.int64(4)), cutout(K, X, 4))
