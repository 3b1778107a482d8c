"""A 2-D NHWC convolution whose gradients are written as canonical NHWC/HWIO convolutions.

Why: JAX's transpose rules express a conv's input and weight gradients as convolutions with
permuted dimension numbers (e.g. ``f01b_i01o->01bf``). At the top level of a program XLA's
CPU backend canonicalises those into its fast convolution kernels, but inside a ``lax.cond``
branch it does not, and falls back to a naive loop: measured here, a 3x3 conv's weight
gradient ran 20-30x slower inside a conditional. Batch-mode stochastic depth runs every
branch inside ``nn.cond``, so its blocks use this conv (``jaxcnn.layers.conv(...,
canonical_grad=True)``); the gradients below are built from physically transposed operands
so every conv XLA sees is already NHWC x HWIO -> NHWC.

Scope: groups = 1 and no input (lhs) dilation; anything else falls back to
``lax.conv_general_dilated`` unchanged. ``jax.custom_vjp`` rules out forward-mode
differentiation through this conv, which is why it is opt-in. Tests check both gradients
against JAX's own transpose rules over strides, dilations and asymmetric/negative paddings.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
from jax import lax

_NHWC = ("NHWC", "HWIO", "NHWC")


def _is_nhwc(dimension_numbers) -> bool:
    if dimension_numbers is None:
        return False
    if isinstance(dimension_numbers, lax.ConvDimensionNumbers):
        return tuple(dimension_numbers) == ((0, 3, 1, 2), (3, 2, 0, 1), (0, 3, 1, 2))
    return tuple(dimension_numbers) == _NHWC


@functools.partial(jax.custom_vjp, nondiff_argnums=(2, 3, 4))
def _conv(x, k, strides, padding, dilation):
    return lax.conv_general_dilated(x, k, strides, padding, rhs_dilation=dilation, dimension_numbers=_NHWC)


def _fwd(x, k, strides, padding, dilation):
    return _conv(x, k, strides, padding, dilation), (x, k)


def _bwd(strides, padding, dilation, res, g):
    x, k = res
    (h, w), (kh, kw) = x.shape[1:3], k.shape[:2]
    ho, wo = g.shape[1:3]
    dx_pad, dk_pad = [], []
    for size, ks, s, d, (lo, _), out in ((h, kh, strides[0], dilation[0], padding[0], ho), (w, kw, strides[1], dilation[1], padding[1], wo)):
        eff = d * (ks - 1) + 1
        # dX = correlation of the s-dilated g with the flipped kernel (see module docstring).
        dx_pad.append((eff - 1 - lo, size + lo - (out - 1) * s - 1))
        # dK = correlation of the padded input with g dilated by s, stepping by d.
        dk_pad.append((lo, (ks - 1) * d + (out - 1) * s + 1 - size - lo))
    k_flip = jnp.flip(k, (0, 1)).transpose(0, 1, 3, 2)  # (kh, kw, O, C)
    dx = lax.conv_general_dilated(g, k_flip, (1, 1), dx_pad, lhs_dilation=strides, rhs_dilation=dilation, dimension_numbers=_NHWC)
    # Batch axis N becomes the contracted feature axis; input channels C become the batch.
    dk = lax.conv_general_dilated(
        x.transpose(3, 1, 2, 0), g.transpose(1, 2, 0, 3), dilation, dk_pad, rhs_dilation=strides, dimension_numbers=_NHWC
    )
    return dx.astype(x.dtype), dk.transpose(1, 2, 0, 3).astype(k.dtype)


_conv.defvjp(_fwd, _bwd)


def canonical_grad_conv(lhs, rhs, window_strides, padding, lhs_dilation=None, rhs_dilation=None,
                        dimension_numbers=None, feature_group_count=1, precision=None, **kwargs):
    """Drop-in for ``lax.conv_general_dilated`` (as ``nn.Conv`` calls it) with canonical gradients."""
    plain = (
        feature_group_count != 1
        or any(d != 1 for d in (lhs_dilation or (1, 1)))
        or not _is_nhwc(dimension_numbers)
        or isinstance(padding, str)
        or kwargs.get("batch_group_count", 1) != 1
    )
    if plain:
        return lax.conv_general_dilated(lhs, rhs, window_strides, padding, lhs_dilation, rhs_dilation,
                                        dimension_numbers, feature_group_count, precision=precision, **kwargs)
    padding = tuple(tuple(int(v) for v in p) for p in padding)
    return _conv(lhs, rhs, tuple(window_strides), padding, tuple(rhs_dilation or (1, 1)))
