"""``jaxcnn.identities``: bad arguments of the reference forms named before any form runs."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxcnn.identities import (
    adjoint_gap,
    conv_matrix,
    conv_transpose_closed_form,
    conv_transpose_forms,
    conv_transpose_lax,
    conv_transpose_torch,
    conv_transpose_zero_insertion,
    grouped_to_branches,
    insert_zeros,
    max_disagreement,
    transpose_of,
)

K = np.ones((3, 3, 2, 4))
Y = np.ones((1, 4, 4, 4))
# a grouped bottleneck block's variables (width 8, groups 4: conv2's kernel has 8 / 4 = 2 inputs per group)
BLOCK = {
    "params": {
        "conv1": {"kernel": np.ones((1, 1, 8, 8))},
        "conv2": {"kernel": np.ones((3, 3, 2, 8))},
        "conv3": {"kernel": np.ones((1, 1, 8, 8))},
        "bn1": {},
        "bn2": {},
    }
}
LIN = lambda x: 2.0 * x  # noqa: E731

CASES = [
    ("conv_matrix stride 0", lambda: conv_matrix(K, (6, 6), stride=0), ValueError, "stride"),
    ("conv_matrix padding -1", lambda: conv_matrix(K, (6, 6), padding=-1), ValueError, "padding"),
    ("conv_matrix dilation 0", lambda: conv_matrix(K, (6, 6), dilation=0), ValueError, "dilation"),
    ("conv_matrix in_hw 0", lambda: conv_matrix(K, (0, 4)), ValueError, "in_hw"),
    ("conv_matrix in_hw < kernel", lambda: conv_matrix(K, (2, 2)), ValueError, "in_hw"),
    ("conv_matrix groups 0", lambda: conv_matrix(K, (6, 6), groups=0), ValueError, "groups"),
    ("conv_matrix groups not dividing", lambda: conv_matrix(K, (6, 6), groups=3), ValueError, "groups"),
    ("conv_matrix kernel 3-D", lambda: conv_matrix(np.ones((3, 3, 2)), (6, 6)), ValueError, "kernel"),
    ("conv_matrix kernel str", lambda: conv_matrix("k", (6, 6)), TypeError, "kernel"),
    ("conv_matrix out_hw > output", lambda: conv_matrix(K, (6, 6), out_hw=(9, 9)), ValueError, "out_hw"),
    ("closed_form y str", lambda: conv_transpose_closed_form("y", K), TypeError, "y"),
    ("closed_form y empty", lambda: conv_transpose_closed_form(np.ones((1, 0, 4, 4)), K), ValueError, "y"),
    ("closed_form kernel 3-D", lambda: conv_transpose_closed_form(Y, K[0]), ValueError, "kernel"),
    (
        "closed_form output_padding >= stride",
        lambda: conv_transpose_closed_form(Y, K, output_padding=1),
        ValueError,
        "output_padding",
    ),
    ("zero_insertion dilation 0", lambda: conv_transpose_zero_insertion(Y, K, dilation=0), ValueError, "dilation"),
    ("torch dtype", lambda: conv_transpose_torch(Y, K, dtype="float8"), ValueError, "dtype"),
    ("insert_zeros stride 0", lambda: insert_zeros(Y, (0, 0)), ValueError, "stride"),
    ("insert_zeros y 3-D", lambda: insert_zeros(Y[0], 2), ValueError, "y"),
    ("insert_zeros y of str", lambda: insert_zeros(["a"], 2), TypeError, "y"),
    ("insert_zeros y empty", lambda: insert_zeros(np.ones((1, 0, 3, 1)), 2), ValueError, "y"),
    ("grouped_to_branches groups not the block's", lambda: grouped_to_branches(BLOCK, 2), ValueError, "groups"),
    ("grouped_to_branches groups not dividing", lambda: grouped_to_branches(BLOCK, 3), ValueError, "groups"),
    ("grouped_to_branches variables int", lambda: grouped_to_branches(5, 2), TypeError, "variables"),
    (
        "grouped_to_branches a model's variables",
        lambda: grouped_to_branches({"params": {"stem": {}}}, 2),
        ValueError,
        "variables",
    ),
    (
        "max_disagreement reference missing",
        lambda: max_disagreement({"a": np.zeros(2)}, "vjp"),
        ValueError,
        "reference",
    ),
    ("max_disagreement results empty", lambda: max_disagreement({}, "vjp"), ValueError, "results"),
    (
        "max_disagreement shapes differ",
        lambda: max_disagreement({"vjp": np.zeros((2, 2)), "a": np.zeros(2)}),
        ValueError,
        "results",
    ),
    ("forms include_torch str", lambda: conv_transpose_forms(Y, K, include_torch="no"), TypeError, "include_torch"),
    (
        "forms unknown conv arg",
        lambda: conv_transpose_forms(Y, K, include_torch=False, strides=2),
        TypeError,
        "strides",
    ),
    ("forms stride 0", lambda: conv_transpose_forms(Y, K, include_torch=False, stride=0), ValueError, "stride"),
    ("adjoint_gap linear_fn int", lambda: adjoint_gap(5, np.ones(3), np.ones(3)), TypeError, "linear_fn"),
    ("adjoint_gap y of another shape", lambda: adjoint_gap(LIN, np.ones((2, 3)), np.ones((3, 2))), ValueError, "y"),
    ("transpose_of linear_fn str", lambda: transpose_of("f", np.ones(3)), TypeError, "linear_fn"),
]


@pytest.mark.parametrize("name,call,exc,argument", CASES, ids=[c[0] for c in CASES])
def test_bad_input(bad_input, name, call, exc, argument):
    bad_input(call, exc, argument)


def test_an_int_reads_as_a_pair_like_torch():
    # valid by decision: in_hw, stride, padding, dilation and out_hw take an int as (int, int)
    np.testing.assert_array_equal(conv_matrix(K, 6), conv_matrix(K, (6, 6)))
    np.testing.assert_array_equal(conv_matrix(K, 6, stride=2, out_hw=2), conv_matrix(K, (6, 6), (2, 2), out_hw=(2, 2)))
    np.testing.assert_array_equal(insert_zeros(Y, 2), insert_zeros(Y, (2, 2)))
    assert insert_zeros(Y, np.int64(3)).shape == (1, 10, 10, 4)


def test_valid_inputs_still_agree():
    y = np.random.default_rng(0).normal(size=(1, 3, 3, 4))
    k = np.random.default_rng(1).normal(size=(3, 3, 2, 4))
    results = conv_transpose_forms(y, k, include_torch=False, stride=2, padding=1, output_padding=1)
    assert max(max_disagreement(results).values()) < 1e-4
    assert adjoint_gap(LIN, jnp.ones(3), jnp.ones(3)) < 1e-6
    assert grouped_to_branches(BLOCK, 4)["params"]["conv2_3"]["kernel"].shape == (3, 3, 2, 2)


def test_the_jax_form_still_runs_under_jit():
    # the checks read a tracer's shape instead of converting it (the accelerator check jits this form)
    y = jax.random.normal(jax.random.key(0), (1, 3, 3, 4))
    k = jax.random.normal(jax.random.key(1), (3, 3, 2, 4))
    eager = conv_transpose_lax(y, k, 2, 1, 1)
    jitted = jax.jit(lambda a, b: conv_transpose_lax(a, b, 2, 1, 1))(y, k)
    np.testing.assert_allclose(np.asarray(jitted), np.asarray(eager), rtol=1e-6, atol=1e-6)
    half = jax.jit(lambda a, b: conv_transpose_lax(a, b, 2, 1, 1))(y.astype(jnp.bfloat16), k.astype(jnp.bfloat16))
    assert half.dtype == jnp.bfloat16 and half.shape == eager.shape  # bf16 is a real dtype (numpy says otherwise)
