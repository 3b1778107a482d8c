"""The shared checks themselves (``jaxcnn.validation``)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from jaxcnn import validation as v

X = jnp.ones((1, 4, 4, 3))
XI = X.astype(jnp.int32)
X_EMPTY = jnp.ones((1, 0, 4, 3))
ONE = jnp.array(1)
NAN = float("nan")

CASES = [
    ("int float", lambda: v.check_int(2.0, "n"), TypeError, "n"),
    ("int bool", lambda: v.check_int(True, "n"), TypeError, "n"),
    ("int np.bool_", lambda: v.check_int(np.bool_(True), "n"), TypeError, "n"),
    ("int below", lambda: v.check_int(-1, "n", minimum=0), ValueError, "n"),
    ("int above", lambda: v.check_int(9, "n", maximum=8), ValueError, "n"),
    ("positive 0", lambda: v.check_positive_int(0, "size"), ValueError, "size"),
    ("positive str", lambda: v.check_positive_int("3", "size"), TypeError, "size"),
    ("odd kernel 4", lambda: v.check_odd_kernel(4, "kernel_size"), ValueError, "kernel_size"),
    ("odd kernel 3.0", lambda: v.check_odd_kernel(3.0, "kernel_size"), TypeError, "kernel_size"),
    ("pair float", lambda: v.check_int_pair((1, 1.5), "stride", 1), TypeError, "stride"),
    ("pair length", lambda: v.check_int_pair((1, 1, 1), "stride", 1), TypeError, "stride"),
    ("pair minimum", lambda: v.check_int_pair((1, 0), "stride", 1), ValueError, "stride"),
    ("number nan", lambda: v.check_number(NAN, "peak"), ValueError, "peak"),
    ("number inf", lambda: v.check_number(float("inf"), "peak"), ValueError, "peak"),
    ("number bool", lambda: v.check_number(True, "peak"), TypeError, "peak"),
    ("number exclusive minimum", lambda: v.check_number(0.0, "peak", 0.0, min_inclusive=False), ValueError, "peak"),
    ("number maximum", lambda: v.check_number(2.0, "momentum", maximum=1.0), ValueError, "momentum"),
    ("probability nan", lambda: v.check_probability(NAN, "p"), ValueError, "p"),
    ("probability np nan", lambda: v.check_probability(np.float32(NAN), "p"), ValueError, "p"),
    ("probability int array", lambda: v.check_probability(ONE, "p"), TypeError, "p"),
    ("bool str", lambda: v.check_bool("no", "flag"), TypeError, "flag"),
    ("bool None", lambda: v.check_bool(None, "flag"), TypeError, "flag"),
    ("bool int", lambda: v.check_bool(1, "flag", allow_none=True), TypeError, "flag"),
    ("choice", lambda: v.check_choice("c", "mode", ("a", "b")), ValueError, "mode"),
    ("choice array", lambda: v.check_choice(np.array(["a"]), "mode", ("a", "b")), ValueError, "mode"),
    ("callable", lambda: v.check_callable("relu", "act"), TypeError, "act"),
    ("str", lambda: v.check_str(5, "rng_collection"), TypeError, "rng_collection"),
    ("array", lambda: v.check_array([1.0], "x"), TypeError, "x"),
    ("nhwc channels", lambda: v.check_nhwc(X, "x", channels=1), ValueError, "x"),
    ("nhwc empty", lambda: v.check_nhwc(X_EMPTY, "x", nonempty=True), ValueError, "x"),
    ("floating", lambda: v.check_floating(XI, "x", "a rescale"), TypeError, "x"),
    ("output bound", lambda: v.check_output_size((1, 2**20, 2**20, 3), "scale_factor"), ValueError, "scale_factor"),
    ("output bound huge", lambda: v.check_output_size((10**400, 1), "size"), ValueError, "size"),
    ("key int", lambda: v.check_key(0), TypeError, "key"),
]


@pytest.mark.parametrize("name,call,exc,argument", CASES, ids=[c[0] for c in CASES])
def test_bad_input(bad_input, name, call, exc, argument):
    bad_input(call, exc, argument)


def test_type_errors_are_also_value_errors():
    # callers written against the old checks (ValueError for a float size) keep working
    with pytest.raises(ValueError):
        v.check_positive_int(2.5, "size")
    assert issubclass(v.ArgumentTypeError, TypeError) and issubclass(v.ArgumentTypeError, ValueError)


def test_output_bound_is_inclusive_and_adjustable(monkeypatch):
    assert v.check_output_size((v.MAX_OUTPUT_ELEMENTS,), "size") == (v.MAX_OUTPUT_ELEMENTS,)
    monkeypatch.setattr(v, "MAX_OUTPUT_ELEMENTS", 10)
    with pytest.raises(ValueError, match="size"):
        v.check_output_size((11,), "size")


def test_traced_probability_passes():
    assert jax.jit(lambda p: v.check_probability(p, "p") * 2)(0.25) == 0.5


@given(
    st.one_of(st.integers(-(10**6), 10**6), st.integers(-100, 100).map(np.int32), st.integers(-100, 100).map(np.int64))
)
def test_every_integer_is_accepted_unchanged(n):
    out = v.check_int(n, "n")
    assert type(out) is int and out == int(n)


@given(st.one_of(st.floats(allow_nan=True), st.floats(-1e6, 1e6).map(np.float32), st.booleans(), st.text(max_size=3)))
def test_no_non_integer_is_accepted_as_a_size(x):
    with pytest.raises(TypeError, match="n must be"):
        v.check_int(x, "n")


def test_bfloat16_and_float16_are_floating():
    # bfloat16 is not a NumPy floating type (np.issubdtype says no): the checks must use JAX's dtype tree
    import jax.numpy as jnp

    from jaxcnn.validation import check_floating, check_probability

    for dt in (jnp.bfloat16, jnp.float16, jnp.float32):
        check_floating(jnp.zeros((2,), dt), "y", "rescale")
        assert float(check_probability(jnp.asarray(0.25, dt), "p")) == 0.25
