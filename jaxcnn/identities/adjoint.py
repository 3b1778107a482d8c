"""Adjoint identities: <A x, y> = <x, Aᵀ y>, with Aᵀ from ``jax.linear_transpose``.

``adjoint_gap`` checks the identity for any linear ``A`` (upsamplers, convs); ``transpose_of``
returns Aᵀ so it can be compared with an independently written downsampler (sum-pool for
nearest upsampling, index gather for unpooling, unshuffle for shuffle, conv for conv_transpose).
"""

from __future__ import annotations

from collections.abc import Callable

import jax
import jax.numpy as jnp

from jaxcnn.identities._args import as_array
from jaxcnn.validation import check_callable

__all__ = ["adjoint_gap", "transpose_of"]


def transpose_of(linear_fn: Callable, x_example) -> Callable:
    """Aᵀ of a linear function, as a function of one array (``x_example`` gives shape/dtype)."""
    check_callable(linear_fn, "linear_fn")
    if not isinstance(x_example, (jax.ShapeDtypeStruct, jax.Array)):
        as_array(x_example, "x_example")  # a check only: shape and dtype are read below as before
    primal = jax.ShapeDtypeStruct(jnp.shape(x_example), jnp.result_type(x_example))
    t = jax.linear_transpose(linear_fn, primal)
    return lambda y: t(y)[0]


def adjoint_gap(linear_fn: Callable, x, y) -> float:
    """|<A x, y> - <x, Aᵀ y>| scaled by ||A x|| ||y|| (the most either side can be, so the gap is
    a rounding-level number for a true adjoint whatever the cancellation inside the sums).

    ``y`` must have the shape of ``linear_fn(x)``: a same-sized ``y`` of another shape would pair
    the wrong elements in the inner products and give a meaningless gap."""
    check_callable(linear_fn, "linear_fn")
    for value, name in ((x, "x"), (y, "y")):
        if not isinstance(value, jax.Array):
            as_array(value, name)
    # shapes first, abstractly: converting or running anything may compile
    out = jax.eval_shape(linear_fn, jax.ShapeDtypeStruct(jnp.shape(x), jnp.result_type(x)))
    if not hasattr(out, "shape"):
        raise TypeError(f"linear_fn must return one array, got {type(out).__name__}")
    if tuple(out.shape) != tuple(jnp.shape(y)):
        raise ValueError(f"y must have the shape of linear_fn(x), {tuple(out.shape)}, got {tuple(jnp.shape(y))}")
    x, y = jnp.asarray(x), jnp.asarray(y)
    ax, aty = linear_fn(x), transpose_of(linear_fn, x)(y)
    scale = jnp.linalg.norm(ax.ravel()) * jnp.linalg.norm(y.ravel()) + 1e-30
    return float(jnp.abs(jnp.vdot(ax, y) - jnp.vdot(x, aty)) / scale)
