"""``jaxcnn.identities``: bad arguments of the reference forms named before any form runs."""

import jax
import jax.numpy as jnp
import numpy as np

from jaxcnn.identities import (
    adjoint_gap,
    conv_matrix,
    conv_transpose_forms,
    conv_transpose_lax,
    grouped_to_branches,
    insert_zeros,
    max_disagreement,
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
