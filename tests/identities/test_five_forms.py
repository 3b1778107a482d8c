"""The transposed conv five ways: every form agrees with ``conv_transpose`` (the vjp)."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from jaxcnn.identities import (
    conv_matrix,
    conv_transpose_closed_form,
    conv_transpose_forms,
    conv_transpose_zero_insertion,
    insert_zeros,
    max_disagreement,
)
from jaxcnn.upsample import conv_transpose

# The worked example (4x4 input, 3x3 kernel, stride 1, no padding), numbers typed by hand.
SEED_INPUT = np.array([[4, 5, 8, 7], [1, 8, 8, 8], [3, 6, 6, 4], [6, 5, 7, 8]], np.float32)
SEED_KERNEL = np.array([[1, 4, 1], [1, 4, 3], [3, 3, 1]], np.float32)
SEED_C = np.array(
    [
        [1, 4, 1, 0, 1, 4, 3, 0, 3, 3, 1, 0, 0, 0, 0, 0],
        [0, 1, 4, 1, 0, 1, 4, 3, 0, 3, 3, 1, 0, 0, 0, 0],
        [0, 0, 0, 0, 1, 4, 1, 0, 1, 4, 3, 0, 3, 3, 1, 0],
        [0, 0, 0, 0, 0, 1, 4, 1, 0, 1, 4, 3, 0, 3, 3, 1],
    ]
)
SEED_Y = np.array([[2, 1], [4, 4]], np.float32)
SEED_CT_Y = np.array([[2, 9, 6, 1], [6, 29, 30, 7], [10, 29, 33, 13], [12, 24, 16, 4]])


def test_seed_conv_matrix_is_4x16():
    c = conv_matrix(SEED_KERNEL[:, :, None, None], (4, 4))
    assert c.shape == (4, 16)
    np.testing.assert_array_equal(c, SEED_C)
    np.testing.assert_array_equal((c @ SEED_INPUT.ravel()).reshape(2, 2), [[122, 148], [126, 134]])


def test_seed_transposed_conv_every_form():
    y, k = SEED_Y.reshape(1, 2, 2, 1), SEED_KERNEL[:, :, None, None]
    for name, out in conv_transpose_forms(y, k).items():
        np.testing.assert_allclose(out.reshape(4, 4), SEED_CT_Y, atol=1e-5, err_msg=name)


def test_insert_zeros_hand_example():
    y = np.array([[1, 2], [3, 4]], np.float64).reshape(1, 2, 2, 1)
    np.testing.assert_array_equal(insert_zeros(y, (2, 3))[0, :, :, 0], [[1, 0, 0, 2], [0, 0, 0, 0], [3, 0, 0, 4]])


def test_forms_can_disagree():
    # the harness is not vacuous: a wrong stride or an unflipped kernel is caught
    rng = np.random.default_rng(0)
    y, k = rng.standard_normal((1, 3, 3, 2)), rng.standard_normal((3, 2, 1, 2))
    assert (
        np.abs(conv_transpose_closed_form(y, k, 2, 0, 1) - conv_transpose_zero_insertion(y, k, 2, 0, 1)).max() < 1e-12
    )
    unflipped = conv_transpose_zero_insertion(y, k[::-1, ::-1], 2, 0, 1)
    assert np.abs(conv_transpose_closed_form(y, k, 2, 0, 1) - unflipped).max() > 1e-3


def _draw_case(data):
    s = data.draw(st.tuples(st.integers(1, 3), st.integers(1, 3)), "stride")
    d = data.draw(st.tuples(st.integers(1, 2), st.integers(1, 2)), "dilation")
    k = data.draw(st.tuples(st.integers(1, 4), st.integers(1, 3)), "kernel hw")
    groups = data.draw(st.sampled_from([1, 2, 3]), "groups")
    op = tuple(data.draw(st.integers(0, max(si, di) - 1)) for si, di in zip(s, d))
    p = tuple(data.draw(st.integers(0, di * (ki - 1))) for di, ki in zip(d, k))
    hw = data.draw(st.tuples(st.integers(1, 4), st.integers(1, 5)), "y hw")
    c_out, c_in = groups * data.draw(st.integers(1, 2)), groups * data.draw(st.integers(1, 2))
    return dict(stride=s, padding=p, output_padding=op, dilation=d, groups=groups), hw, k, c_out, c_in


@settings(max_examples=30, deadline=None)
@given(data=st.data())
def test_five_forms_agree(data):
    args, hw, k, c_out, c_in = _draw_case(data)
    rng = np.random.default_rng(sum(hw) + sum(k))
    y = rng.standard_normal((2, *hw, c_in)).astype(np.float32)
    kernel = rng.standard_normal((*k, c_out // args["groups"], c_in)).astype(np.float32)
    if (
        min(
            (n - 1) * s - 2 * p + dd * (kk - 1) + o + 1
            for n, kk, s, p, o, dd in zip(
                hw, k, args["stride"], args["padding"], args["output_padding"], args["dilation"]
            )
        )
        < 1
    ):
        with pytest.raises(ValueError, match="not positive"):
            conv_transpose(y, kernel, **args)
        return
    results = conv_transpose_forms(y, kernel, **args)
    exact = {n: results[n] for n in ("closed_form", "matrix", "zero_insertion")}
    for name, out in exact.items():  # float64 references agree to rounding
        np.testing.assert_allclose(out, exact["closed_form"], atol=1e-10, err_msg=name)
    for name, diff in max_disagreement(results, "closed_form").items():  # float32 forms
        assert diff < 1e-5 * max(1.0, np.abs(results["closed_form"]).max()), (name, diff)
