"""``jaxcnn.xla_cpu``: the conv drop-ins and the remat helpers name bad arguments before tracing.

Decision: ``canonical_grad_conv`` takes the padding strings ``lax.conv_general_dilated`` takes, in
any case (``'same'`` too), and negative explicit padding (a crop), as lax does.
"""

import jax
import jax.numpy as jnp
import numpy as np

from jaxcnn.xla_cpu import (
    canonical_grad_conv,
    tied_checkpoint,
)

X = jnp.ones((1, 8, 8, 4))
KC = jnp.ones((3, 3, 4, 2))
DN = ("NHWC", "HWIO", "NHWC")


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
