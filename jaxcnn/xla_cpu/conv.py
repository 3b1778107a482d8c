"""A 2-D NHWC convolution whose gradients are written as canonical NHWC/HWIO convolutions.

Why: JAX's transpose rules write a conv's gradients as convs with permuted dimension numbers
(e.g. ``f01b_i01o->01bf``). XLA:CPU canonicalises those into its fast kernels at the top level of
a program but not inside a ``lax.cond`` branch, where a 3x3 conv's weight gradient ran 20-30x
slower; batch-mode stochastic depth runs every block in ``nn.cond``. The gradients here are built
from physically transposed operands, so every conv XLA sees is NHWC x HWIO -> NHWC.

``weight_grad="gemm"`` (``gemm_grad_conv``) computes the weight gradient as ``kh`` matrix
products: the input laid out (H, N, W, C) with its ``kw`` column taps concatenated on the channel
axis (``kw`` x the input's memory, backward pass only), so each row tap is one contiguous slab and
``dK[i] = rows_i^T @ dY``; grouped convs get one batched GEMM per row tap. XLA:CPU's own weight
gradient is slow for small spatial outputs, strided 1x1 and grouped convs
(``benchmarks/bench_train.py convgrad``).

Scope: groups = 1 (any groups with ``'gemm'``) and no input dilation; anything else falls back to
``lax.conv_general_dilated`` unchanged. ``jax.custom_vjp`` rules out forward-mode differentiation,
which is why it is opt-in.
"""

from __future__ import annotations

import functools
from typing import Any

import jax
import jax.numpy as jnp
from jax import lax

from jaxcnn.layers import Conv
from jaxcnn.validation import ArgumentTypeError, _is_int, check_choice, check_int_tuple, check_nhwc, check_positive_int

__all__ = ["canonical_grad_conv", "gemm_grad_conv", "weight_grad_gemm", "CanonicalGradConv", "GemmGradConv"]

_NHWC = ("NHWC", "HWIO", "NHWC")


def _is_nhwc(dimension_numbers, lhs_dilation=None, batch_group_count=1) -> bool:
    """An NHWC x HWIO conv without input dilation and with one batch group: what the convs here compute."""
    if (lhs_dilation and any(d != 1 for d in lhs_dilation)) or batch_group_count != 1:
        return False
    if isinstance(dimension_numbers, lax.ConvDimensionNumbers):
        return tuple(dimension_numbers) == ((0, 3, 1, 2), (3, 2, 0, 1), (0, 3, 1, 2))
    return dimension_numbers is not None and tuple(dimension_numbers) == _NHWC


@functools.partial(jax.custom_vjp, nondiff_argnums=(2, 3, 4, 5, 6))
def _conv(x, k, strides, padding, dilation, weight_grad, groups):
    return lax.conv_general_dilated(x, k, strides, padding, None, dilation, _NHWC, groups)


def _fwd(x, k, strides, padding, dilation, weight_grad, groups):
    return _conv(x, k, strides, padding, dilation, weight_grad, groups), (x, k)


def weight_grad_gemm(x, g, kernel_hw, strides, padding, dilation, groups: int = 1):
    """dK of an NHWC x HWIO conv as ``kh`` GEMMs (see the module docstring); with ``groups``
    the GEMMs are batched over the groups (no wasted cross-group products). ``x`` and ``g`` are
    NHWC; ``kernel_hw``, ``strides``, ``dilation`` pairs of ints >= 1; ``groups`` divides both
    channel counts."""
    check_nhwc(x, "x")
    check_nhwc(g, "g")
    for value, name in ((kernel_hw, "kernel_hw"), (strides, "strides"), (dilation, "dilation")):
        check_int_tuple(value, name, minimum=1, length=2)
    _check_pads(padding, 2)
    groups = check_positive_int(groups, "groups")
    if x.shape[-1] % groups or g.shape[-1] % groups:
        raise ValueError(f"groups={groups} must divide the channels of x ({x.shape[-1]}) and g ({g.shape[-1]})")
    (kh, kw), (sh, sw), (dh, dw) = kernel_hw, strides, dilation
    ho, wo, c = g.shape[1], g.shape[2], x.shape[-1]
    zero = jnp.zeros((), x.dtype)
    xp = lax.pad(x, zero, ((0, 0, 0), (*padding[0], 0), (*padding[1], 0), (0, 0, 0)))  # lax.pad: negative crops
    xt = jnp.transpose(xp, (1, 0, 2, 3))  # (Hp, N, Wp, C): a row tap is one contiguous slab
    taps = [lax.slice_in_dim(xt, j * dw, j * dw + sw * (wo - 1) + 1, sw, axis=2) for j in range(kw)]
    cols = jnp.concatenate(taps, -1)
    gt = jnp.transpose(g, (1, 0, 2, 3)).reshape(-1, g.shape[-1])  # (ho N wo, O)
    rows = [lax.slice_in_dim(cols, i * dh, i * dh + sh * (ho - 1) + 1, sh, axis=0) for i in range(kh)]
    if groups == 1:
        out = [lax.dot_general(r.reshape(-1, kw * c), gt, (((0,), (0,)), ((), ()))) for r in rows]
        return jnp.stack(out).reshape(kh, kw, c, -1)
    cg, og = c // groups, g.shape[-1] // groups
    gt = gt.reshape(-1, groups, og)
    # (M, kw, G, Cg) x (M, G, Og) -> (G, kw, Cg, Og): one GEMM per group; HWIO wants (kw, Cg, G Og).
    out = [lax.dot_general(r.reshape(-1, kw, groups, cg), gt, (((0,), (0,)), ((2,), (1,)))) for r in rows]
    return jnp.stack(out).transpose(0, 2, 3, 1, 4).reshape(kh, kw, cg, groups * og)


def _bwd(strides, padding, dilation, weight_grad, groups, res, g):
    x, k = res
    kh, kw = k.shape[:2]
    dx_pad, dk_pad = [], []
    for size, ks, s, d, (lo, _), out in zip(x.shape[1:3], k.shape[:2], strides, dilation, padding, g.shape[1:3]):
        # dX = correlation of the s-dilated g with the flipped kernel (see module docstring).
        dx_pad.append((d * (ks - 1) - lo, size + lo - (out - 1) * s - 1))
        # dK = correlation of the padded input with g dilated by s, stepping by d.
        dk_pad.append((lo, (ks - 1) * d + (out - 1) * s + 1 - size - lo))
    cg, og = k.shape[2], k.shape[3] // groups
    # Within each group swap in/out channels: (kh, kw, Cg, G Og) -> (kh, kw, Og, G Cg), flipped.
    k_flip = (
        jnp.flip(k, (0, 1)).reshape(kh, kw, cg, groups, og).transpose(0, 1, 4, 3, 2).reshape(kh, kw, og, groups * cg)
    )
    dx = lax.conv_general_dilated(g, k_flip, (1, 1), dx_pad, strides, dilation, _NHWC, groups)  # lhs-dilated g
    if weight_grad == "gemm":
        dk = weight_grad_gemm(x, g, (kh, kw), strides, padding, dilation, groups)
    else:
        # Batch axis N becomes the contracted feature axis; input channels C become the batch.
        xt, gt = x.transpose(3, 1, 2, 0), g.transpose(1, 2, 0, 3)
        dk = lax.conv_general_dilated(xt, gt, dilation, dk_pad, None, strides, _NHWC).transpose(1, 2, 0, 3)
    return dx.astype(x.dtype), dk.astype(k.dtype)


_conv.defvjp(_fwd, _bwd)


_PADDINGS = ("SAME", "VALID", "SAME_LOWER")
_PADDING_WANT = f"one of {_PADDINGS} or a sequence of (low, high) int pairs"


def _check_pads(padding, spatial: int | None) -> None:
    """A (low, high) int pair per spatial axis (negative values crop, as in ``lax.pad``)."""
    pairs = isinstance(padding, (list, tuple)) and all(isinstance(p, (list, tuple)) and len(p) == 2 for p in padding)
    if not (pairs and all(_is_int(v) for p in padding for v in p)):
        raise ArgumentTypeError(f"padding must be {_PADDING_WANT}, got {padding!r}")
    if spatial is not None and len(padding) != spatial:
        raise ValueError(f"padding must have {spatial} (low, high) pairs, one per spatial axis, got {padding!r}")


def _check_conv_args(lhs, window_strides, padding, lhs_dilation, rhs_dilation, feature_group_count) -> None:
    """The static arguments of ``lax.conv_general_dilated``, named as it names them: a zero or
    fractional stride otherwise fails in the MLIR verifier, an unknown padding as a RuntimeError."""
    spatial = len(lhs.shape) - 2 if hasattr(lhs, "shape") else None
    check_int_tuple(window_strides, "window_strides", minimum=1, length=spatial)
    if not isinstance(padding, str):
        _check_pads(padding, spatial)
    elif padding.upper() not in _PADDINGS:  # lax accepts any case
        raise ValueError(f"padding must be {_PADDING_WANT}, got {padding!r}")
    for value, name in ((lhs_dilation, "lhs_dilation"), (rhs_dilation, "rhs_dilation")):
        if value is not None:
            check_int_tuple(value, name, minimum=1, length=spatial)
    check_positive_int(feature_group_count, "feature_group_count")


def canonical_grad_conv(
    lhs,
    rhs,
    window_strides,
    padding,
    lhs_dilation=None,
    rhs_dilation=None,
    dimension_numbers=None,
    feature_group_count=1,
    precision=None,
    *,
    weight_grad="conv",
    **kwargs,
):
    """Drop-in for ``lax.conv_general_dilated`` (as ``nn.Conv`` calls it) with canonical gradients;
    ``weight_grad`` is ``'conv'`` or ``'gemm'`` (see the module docstring). Strides, dilations,
    padding and ``feature_group_count`` are checked and named before anything is traced."""
    check_choice(weight_grad, "weight_grad", ("conv", "gemm"))
    _check_conv_args(lhs, window_strides, padding, lhs_dilation, rhs_dilation, feature_group_count)
    nhwc = _is_nhwc(dimension_numbers, lhs_dilation, kwargs.get("batch_group_count", 1))
    if not nhwc or isinstance(padding, str) or (feature_group_count != 1 and weight_grad != "gemm"):
        args = (window_strides, padding, lhs_dilation, rhs_dilation, dimension_numbers, feature_group_count)
        return lax.conv_general_dilated(lhs, rhs, *args, precision=precision, **kwargs)
    padding = tuple(tuple(int(v) for v in p) for p in padding)
    return _conv(
        lhs, rhs, tuple(window_strides), padding, tuple(rhs_dilation or (1, 1)), weight_grad, int(feature_group_count)
    )


gemm_grad_conv = functools.partial(canonical_grad_conv, weight_grad="gemm")
gemm_grad_conv.__doc__ = "``canonical_grad_conv`` whose weight gradient is computed by GEMMs (``weight_grad='gemm'``)."


class CanonicalGradConv(Conv):
    """:class:`jaxcnn.layers.Conv` whose gradients are canonical NHWC x HWIO convolutions
    (``canonical_grad_conv``): fast inside ``lax.cond`` / loop bodies on XLA:CPU. Opt in with
    ``ResNet(conv=CanonicalGradConv)``; on CPU without the oneDNN handlers it is already what blocks
    whose branch runs in a cond or a scan get (``jaxcnn.xla_cpu.default_conv``)."""

    conv_general_dilated: Any = canonical_grad_conv


class GemmGradConv(Conv):
    """:class:`jaxcnn.layers.Conv` with canonical input gradients and weight gradients as GEMMs over
    row taps (``gemm_grad_conv``): faster for grouped and strided 1x1 convs on XLA:CPU."""

    conv_general_dilated: Any = gemm_grad_conv
