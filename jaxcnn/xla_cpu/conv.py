"""A 2-D NHWC convolution whose gradients are written as canonical NHWC/HWIO convolutions.

Why: JAX's transpose rules express a conv's input and weight gradients as convolutions with
permuted dimension numbers (e.g. ``f01b_i01o->01bf``). At the top level of a program XLA's
CPU backend canonicalises those into its fast convolution kernels, but inside a ``lax.cond``
branch it does not, and falls back to a naive loop: measured here, a 3x3 conv's weight
gradient ran 20-30x slower inside a conditional. Batch-mode stochastic depth runs every
branch inside ``nn.cond``, so on CPU its blocks use this conv (``CanonicalGradConv``, chosen by
``jaxcnn.xla_cpu.default_conv``); the gradients below are built from physically transposed operands
so every conv XLA sees is already NHWC x HWIO -> NHWC.

``weight_grad="gemm"`` (``gemm_grad_conv``) computes the weight gradient as ``kh`` matrix
products instead of a convolution: the input is laid out row-major (H, N, W, C), its ``kw``
column taps are concatenated on the channel axis (kw x the input's memory, backward pass only),
and each row tap is then one contiguous slab, so ``dK[i] = rows_i^T @ dY``. XLA:CPU's conv
kernel is slow for weight gradients with small spatial outputs (3x3 from a 32x32 map) and
very slow for strided 1x1 convs; measured per layer on 1 core (batch 128): strided 1x1 9.6x
faster, 3x3 at 16x16x128 1.35x, but 0.80x at 32x32x64 and 4x4x512 (``benchmarks/bench_train.py
convgrad``); a whole CIFAR ResNet-18 step on 2 cores 1.32x (0.41x -> 0.54x of PyTorch). The
column buffer costs ``kw`` x the input's memory in the backward pass.

Grouped convs (ResNeXt, depthwise) are where XLA:CPU's weight gradient is slowest -- measured
24x the forward time for a 3x3 conv with 4 groups (64x32x32x64) -- and ``'gemm'`` supports them
with one batched GEMM per row tap (the ``'conv'`` mode falls back to JAX's rules for groups).

Scope: groups = 1 (any groups with ``'gemm'``) and no input (lhs) dilation; anything else falls back to
``lax.conv_general_dilated`` unchanged. ``jax.custom_vjp`` rules out forward-mode
differentiation through this conv, which is why it is opt-in. Tests check both gradients
against JAX's own transpose rules over strides, dilations and asymmetric/negative paddings.
"""

from __future__ import annotations

import functools
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from jaxcnn.layers import Conv
from jaxcnn.validation import ArgumentTypeError, check_choice, check_int_tuple, check_nhwc, check_positive_int

__all__ = ["canonical_grad_conv", "gemm_grad_conv", "weight_grad_gemm", "CanonicalGradConv", "GemmGradConv"]

_NHWC = ("NHWC", "HWIO", "NHWC")


def _is_nhwc(dimension_numbers) -> bool:
    if dimension_numbers is None:
        return False
    if isinstance(dimension_numbers, lax.ConvDimensionNumbers):
        return tuple(dimension_numbers) == ((0, 3, 1, 2), (3, 2, 0, 1), (0, 3, 1, 2))
    return tuple(dimension_numbers) == _NHWC


@functools.partial(jax.custom_vjp, nondiff_argnums=(2, 3, 4, 5, 6))
def _conv(x, k, strides, padding, dilation, weight_grad, groups):
    return lax.conv_general_dilated(
        x, k, strides, padding, rhs_dilation=dilation, dimension_numbers=_NHWC, feature_group_count=groups
    )


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
    cols = jnp.concatenate(
        [lax.slice_in_dim(xt, j * dw, j * dw + sw * (wo - 1) + 1, sw, axis=2) for j in range(kw)], -1
    )
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
    (h, w), (kh, kw) = x.shape[1:3], k.shape[:2]
    ho, wo = g.shape[1:3]
    dx_pad, dk_pad = [], []
    for size, ks, s, d, (lo, _), out in (
        (h, kh, strides[0], dilation[0], padding[0], ho),
        (w, kw, strides[1], dilation[1], padding[1], wo),
    ):
        eff = d * (ks - 1) + 1
        # dX = correlation of the s-dilated g with the flipped kernel (see module docstring).
        dx_pad.append((eff - 1 - lo, size + lo - (out - 1) * s - 1))
        # dK = correlation of the padded input with g dilated by s, stepping by d.
        dk_pad.append((lo, (ks - 1) * d + (out - 1) * s + 1 - size - lo))
    cg, og = k.shape[2], k.shape[3] // groups
    # Within each group swap in/out channels: (kh, kw, Cg, G Og) -> (kh, kw, Og, G Cg), flipped.
    k_flip = (
        jnp.flip(k, (0, 1)).reshape(kh, kw, cg, groups, og).transpose(0, 1, 4, 3, 2).reshape(kh, kw, og, groups * cg)
    )
    dx = lax.conv_general_dilated(
        g,
        k_flip,
        (1, 1),
        dx_pad,
        lhs_dilation=strides,
        rhs_dilation=dilation,
        dimension_numbers=_NHWC,
        feature_group_count=groups,
    )
    if weight_grad == "gemm":
        dk = weight_grad_gemm(x, g, (kh, kw), strides, padding, dilation, groups)
    else:
        # Batch axis N becomes the contracted feature axis; input channels C become the batch.
        dk = lax.conv_general_dilated(
            x.transpose(3, 1, 2, 0),
            g.transpose(1, 2, 0, 3),
            dilation,
            dk_pad,
            rhs_dilation=strides,
            dimension_numbers=_NHWC,
        ).transpose(1, 2, 0, 3)
    return dx.astype(x.dtype), dk.astype(k.dtype)


_conv.defvjp(_fwd, _bwd)


_PADDINGS = ("SAME", "VALID", "SAME_LOWER")


def _check_pads(padding, spatial: int | None) -> None:
    """A (low, high) int pair per spatial axis (negative values crop, as in ``lax.pad``)."""
    ok = isinstance(padding, (list, tuple)) and all(
        isinstance(p, (list, tuple))
        and len(p) == 2
        and all(isinstance(v, (int, np.integer)) and not isinstance(v, (bool, np.bool_)) for v in p)
        for p in padding
    )
    if not ok:
        raise ArgumentTypeError(
            f"padding must be one of {_PADDINGS} or a sequence of (low, high) int pairs, got {padding!r}"
        )
    if spatial is not None and len(padding) != spatial:
        raise ValueError(f"padding must have {spatial} (low, high) pairs, one per spatial axis, got {padding!r}")


def _check_conv_args(lhs, window_strides, padding, lhs_dilation, rhs_dilation, feature_group_count) -> None:
    """The static arguments of ``lax.conv_general_dilated``, named as it names them: a zero or
    fractional stride otherwise fails in the MLIR verifier, an unknown padding as a RuntimeError."""
    spatial = len(lhs.shape) - 2 if hasattr(lhs, "shape") else None
    check_int_tuple(window_strides, "window_strides", minimum=1, length=spatial)
    if isinstance(padding, str):
        if padding.upper() not in _PADDINGS:  # lax accepts any case
            raise ValueError(
                f"padding must be one of {_PADDINGS} or a sequence of (low, high) int pairs, got {padding!r}"
            )
    else:
        _check_pads(padding, spatial)
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
    plain = (
        (feature_group_count != 1 and weight_grad != "gemm")
        or any(d != 1 for d in (lhs_dilation or (1, 1)))
        or not _is_nhwc(dimension_numbers)
        or isinstance(padding, str)
        or kwargs.get("batch_group_count", 1) != 1
    )
    if plain:
        return lax.conv_general_dilated(
            lhs,
            rhs,
            window_strides,
            padding,
            lhs_dilation,
            rhs_dilation,
            dimension_numbers,
            feature_group_count,
            precision=precision,
            **kwargs,
        )
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
    """:class:`jaxcnn.layers.Conv` with canonical input gradients and weight gradients as GEMMs
    over row taps (``gemm_grad_conv``): 5x faster for grouped 3x3 and ~10x for strided 1x1
    weight gradients on XLA:CPU, at ``kw`` x each conv input of backward-pass memory."""

    conv_general_dilated: Any = gemm_grad_conv
