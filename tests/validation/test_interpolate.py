"""``interpolate``: every bad argument is refused at the boundary with its name, before allocating."""

import jax.numpy as jnp
import numpy as np
import pytest

from jaxcnn.upsample import interpolate

X = jnp.ones((1, 8, 8, 4))
XI = jnp.ones((1, 8, 8, 4), jnp.int32)
X_EMPTY_H = jnp.ones((1, 0, 4, 1))
X_LONG = jnp.ones((1, 1, 2**16, 1))
X3 = jnp.ones((8, 8, 4))
NAN = float("nan")

CASES = [
    # output-size bound: refused before the index tables or the output are allocated
    ("scale 1e9", lambda: interpolate(X, scale_factor=1e9), ValueError, "scale_factor"),
    ("size 10**6", lambda: interpolate(X, size=10**6), ValueError, "size"),
    ("bilinear matrix too big", lambda: interpolate(X_LONG, size=(1, 2**16 - 1), mode="bilinear"), ValueError, "size"),
    # size
    ("size 0", lambda: interpolate(X, size=0), ValueError, "size"),
    ("size 4.0 (not truncated)", lambda: interpolate(X, size=4.0), TypeError, "size"),
    ("size str", lambda: interpolate(X, size="4"), TypeError, "size"),
    ("size (4,)", lambda: interpolate(X, size=(4,)), ValueError, "size"),
    ("size array", lambda: interpolate(X, size=np.array([4, 4])), TypeError, "size"),
    # scale_factor
    ("scale nan", lambda: interpolate(X, scale_factor=NAN), ValueError, "scale_factor"),
    ("scale 0", lambda: interpolate(X, scale_factor=0), ValueError, "scale_factor"),
    ("scale empty output", lambda: interpolate(X, scale_factor=0.01), ValueError, "scale_factor"),
    ("scale str", lambda: interpolate(X, scale_factor="2"), TypeError, "scale_factor"),
    ("scale (2, 2, 2)", lambda: interpolate(X, scale_factor=(2, 2, 2)), ValueError, "scale_factor"),
    ("size and scale", lambda: interpolate(X, size=4, scale_factor=2), ValueError, "scale_factor"),
    ("neither", lambda: interpolate(X), ValueError, "scale_factor"),
    # mode and flags
    ("mode linear", lambda: interpolate(X, scale_factor=2, mode="linear"), ValueError, "mode"),
    ("mode upper case", lambda: interpolate(X, scale_factor=2, mode="BILINEAR"), ValueError, "mode"),
    ("align_corners nearest", lambda: interpolate(X, scale_factor=2, align_corners=True), ValueError, "align_corners"),
    (
        "align_corners 1",
        lambda: interpolate(X, scale_factor=2, mode="bilinear", align_corners=1),
        TypeError,
        "align_corners",
    ),
    ("antialias nearest", lambda: interpolate(X, scale_factor=2, antialias=True), ValueError, "antialias"),
    (
        "antialias str",
        lambda: interpolate(X, scale_factor=0.5, mode="bilinear", antialias="yes"),
        TypeError,
        "antialias",
    ),
    (
        "recompute with size",
        lambda: interpolate(X, size=4, recompute_scale_factor=True),
        ValueError,
        "recompute_scale_factor",
    ),
    (
        "recompute str",
        lambda: interpolate(X, scale_factor=2, recompute_scale_factor="yes"),
        TypeError,
        "recompute_scale_factor",
    ),
    # x
    ("x 3-D", lambda: interpolate(X3, size=4), ValueError, "x"),
    ("x list", lambda: interpolate([[1.0]], size=4), TypeError, "x"),
    ("x int bilinear", lambda: interpolate(XI, size=4, mode="bilinear"), TypeError, "x"),
    ("x empty H", lambda: interpolate(X_EMPTY_H, size=4), ValueError, "x"),
]


@pytest.mark.parametrize("name,call,exc,argument", CASES, ids=[c[0] for c in CASES])
def test_bad_input(bad_input, name, call, exc, argument):
    bad_input(call, exc, argument)


def test_numpy_scalars_are_valid_sizes_and_scales():
    ref = interpolate(X, size=(5, 6), mode="bilinear")
    assert np.array_equal(interpolate(X, size=(np.int64(5), np.int32(6)), mode="bilinear"), ref)
    ref = interpolate(X, scale_factor=1.5, mode="bicubic")
    assert np.array_equal(interpolate(X, scale_factor=np.float32(1.5), mode="bicubic"), ref)
    assert interpolate(X, scale_factor=np.int64(2)).shape == (1, 16, 16, 4)
    assert interpolate(X, scale_factor=0.5, mode="bilinear", antialias=np.bool_(True)).shape == (1, 4, 4, 4)
