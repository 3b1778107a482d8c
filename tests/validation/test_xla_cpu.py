"""``jaxcnn.xla_cpu``: the conv drop-ins and the remat helpers name bad arguments before tracing.

Decision: ``canonical_grad_conv`` takes the padding strings ``lax.conv_general_dilated`` takes, in
any case (``'same'`` too), and negative explicit padding (a crop), as lax does.
"""

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxcnn.xla_cpu import (
    block_remat,
    canonical_grad_conv,
    default_conv,
    gemm_grad_conv,
    remat,
    tied_checkpoint,
    weight_grad_gemm,
)

K = jax.random.key(0)
X = jnp.ones((1, 8, 8, 4))
KC = jnp.ones((3, 3, 4, 2))
G = jnp.ones((1, 8, 8, 2))
G3 = G[0]
DN = ("NHWC", "HWIO", "NHWC")
P1 = ((1, 1), (1, 1))


def cgc(*args, **kw):
    return canonical_grad_conv(X, KC, *args, dimension_numbers=DN, **{"weight_grad": "gemm", **kw})


class Block(nn.Module):
    @nn.compact
    def __call__(self, x, train=False):
        return nn.Dense(2)(x)


CASES = [
    ("window_strides 0", lambda: cgc((0, 0), "SAME"), ValueError, "window_strides"),
    ("window_strides 1.5", lambda: cgc((1.5, 1), "SAME"), TypeError, "window_strides"),
    ("window_strides one entry", lambda: cgc((1,), "SAME"), ValueError, "window_strides"),
    ("window_strides int", lambda: cgc(1, "SAME"), TypeError, "window_strides"),
    ("weight_grad x", lambda: cgc((1, 1), "SAME", weight_grad="x"), ValueError, "weight_grad"),
    ("padding BOGUS", lambda: cgc((1, 1), "BOGUS"), ValueError, "padding"),
    ("padding one pair", lambda: cgc((1, 1), ((1, 1),)), ValueError, "padding"),
    ("padding float", lambda: cgc((1, 1), ((0.5, 1), (1, 1))), TypeError, "padding"),
    ("padding int", lambda: cgc((1, 1), 1), TypeError, "padding"),
    ("rhs_dilation 0", lambda: cgc((1, 1), P1, rhs_dilation=(0, 1)), ValueError, "rhs_dilation"),
    ("lhs_dilation 1.5", lambda: cgc((1, 1), P1, lhs_dilation=(1.5, 1)), TypeError, "lhs_dilation"),
    ("feature_group_count 0", lambda: cgc((1, 1), P1, feature_group_count=0), ValueError, "feature_group_count"),
    (
        "gemm_grad_conv window_strides 0",
        lambda: gemm_grad_conv(X, KC, (0, 1), P1, dimension_numbers=DN),
        ValueError,
        "window_strides",
    ),
    ("weight_grad_gemm strides 0", lambda: weight_grad_gemm(X, G, (3, 3), (0, 1), P1, (1, 1)), ValueError, "strides"),
    ("weight_grad_gemm kernel_hw int", lambda: weight_grad_gemm(X, G, 3, (1, 1), P1, (1, 1)), TypeError, "kernel_hw"),
    ("weight_grad_gemm dilation 0", lambda: weight_grad_gemm(X, G, (3, 3), (1, 1), P1, (0, 1)), ValueError, "dilation"),
    ("weight_grad_gemm padding int", lambda: weight_grad_gemm(X, G, (3, 3), (1, 1), 1, (1, 1)), TypeError, "padding"),
    ("weight_grad_gemm groups 3", lambda: weight_grad_gemm(X, G, (3, 3), (1, 1), P1, (1, 1), 3), ValueError, "groups"),
    ("weight_grad_gemm g 3-D", lambda: weight_grad_gemm(X, G3, (3, 3), (1, 1), P1, (1, 1)), ValueError, "g"),
    ("default_conv control_flow str", lambda: default_conv("yes"), TypeError, "control_flow"),
    ("tied_checkpoint fun int", lambda: tied_checkpoint(5), TypeError, "fun"),
    (
        "tied_checkpoint static_argnums 1.5",
        lambda: tied_checkpoint(abs, static_argnums=1.5),
        TypeError,
        "static_argnums",
    ),
    (
        "tied_checkpoint static_argnums -1",
        lambda: tied_checkpoint(abs, static_argnums=-1),
        ValueError,
        "static_argnums",
    ),
    (
        "tied_checkpoint static_argnums out of range",
        lambda: tied_checkpoint(lambda x: x, static_argnums=(3,))(X),
        ValueError,
        "static_argnums",
    ),
    (
        "tied_checkpoint tie_argnums out of range",
        lambda: tied_checkpoint(lambda x: x, tie_argnums=(7,))(X),
        ValueError,
        "tie_argnums",
    ),
    ("tied_checkpoint tie_argnums str", lambda: tied_checkpoint(abs, tie_argnums="0"), TypeError, "tie_argnums"),
    (
        "tied_checkpoint tie_argnums static",
        lambda: tied_checkpoint(lambda x, n: x, static_argnums=1, tie_argnums=(0, 1)),
        ValueError,
        "tie_argnums",
    ),
    ("remat target str", lambda: remat("block"), TypeError, "target"),
    ("remat target non-module class", lambda: remat(int), TypeError, "target"),
    ("remat static_argnums 0 (self)", lambda: remat(Block, static_argnums=0), ValueError, "static_argnums"),
    ("remat static_argnums 2.5", lambda: remat(Block, static_argnums=(2.5,)), TypeError, "static_argnums"),
    ("block_remat target str", lambda: block_remat("block"), TypeError, "target"),
    ("block_remat static_argnums 1.5", lambda: block_remat(Block, static_argnums=1.5), TypeError, "static_argnums"),
]


@pytest.mark.parametrize("name,call,exc,argument", CASES, ids=[c[0] for c in CASES])
def test_bad_input(bad_input, name, call, exc, argument):
    bad_input(call, exc, argument)


def test_lax_spellings_of_padding_are_accepted():
    kw = dict(dimension_numbers=DN, weight_grad="gemm")
    for padding in ("same", "SAME", "valid", ((1, -1), (0, 0)), [[1, 1], [1, 1]]):
        want = jax.eval_shape(lambda: jax.lax.conv_general_dilated(X, KC, (1, 1), padding, dimension_numbers=DN))
        got = jax.eval_shape(lambda: canonical_grad_conv(X, KC, (1, 1), padding, **kw))
        assert got.shape == want.shape, padding


def test_tied_checkpoint_valid_argnums_keep_the_gradient():
    def f(x, scale, n):
        return jnp.sum(jnp.sin(x * scale) ** n)

    x = jnp.linspace(0.0, 1.0, 5)
    want = jax.grad(f, argnums=(0, 1))(x, 2.0, 3)
    for static, ties in ((2, None), ((2,), 0), (np.int64(2), (0, 1))):
        got = jax.grad(tied_checkpoint(f, static_argnums=static, tie_argnums=ties), argnums=(0, 1))(x, 2.0, 3)
        for a, b in zip(got, want):
            np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-6)
