"""The shared checks themselves (``jaxcnn.validation``)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from jaxcnn import validation as v


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

    from jaxcnn.validation import check_floating, check_probability

    for dt in (jnp.bfloat16, jnp.float16, jnp.float32):
        check_floating(jnp.zeros((2,), dt), "y", "rescale")
        assert float(check_probability(jnp.asarray(0.25, dt), "p")) == 0.25
