"""Proof form 2: the dense convolution matrix C, so that conv(x) = C x and the transposed conv is Cᵀ y.

C is the Jacobian of the forward conv, built with ``jax.jacfwd`` (forward mode: reverse mode would
use the very vjp that ``conv_transpose`` uses and so prove nothing). Rows are output cells
(h', w', o), columns input cells (h, w, c), both in NHWC ravel order, one image.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from jaxcnn.identities._args import as_array
from jaxcnn.identities._args import reference_args as conv_transpose_args
from jaxcnn.validation import check_int_pair, check_positive_int

__all__ = ["conv_matrix", "conv_transpose_matrix"]


def conv_matrix(
    kernel,
    in_hw: Sequence[int],
    stride=1,
    padding=0,
    dilation=1,
    groups: int = 1,
    out_hw: Sequence[int] | None = None,
) -> np.ndarray:
    """Dense matrix of the (torch-padded, HWIO) conv on one (H, W, C) image; float64 NumPy.

    ``out_hw`` crops the conv's output (the rows ``output_padding`` leaves unread). ``in_hw``,
    ``stride``, ``padding``, ``dilation`` and ``out_hw`` are ints or pairs of ints (torch's
    ``_pair``); floats are refused, not truncated, and an ``in_hw`` too small for the kernel or an
    ``out_hw`` larger than the conv's output (which would silently crop less) are refused.
    """
    kernel = as_array(kernel, "kernel")
    if kernel.ndim != 4 or min(kernel.shape) < 1:
        raise ValueError(f"kernel must be a non-empty 4-D HWIO array, got shape {kernel.shape}")
    in_hw = check_int_pair(in_hw, "in_hw", 1)
    stride, padding = check_int_pair(stride, "stride", 1), check_int_pair(padding, "padding", 0)
    dilation, groups = check_int_pair(dilation, "dilation", 1), check_positive_int(groups, "groups")
    if kernel.shape[3] % groups:
        raise ValueError(f"groups={groups} must divide the kernel's output channels ({kernel.shape[3]})")
    full = tuple(
        (n + 2 * p - d * (k - 1) - 1) // s + 1
        for n, p, d, k, s in zip(in_hw, padding, dilation, kernel.shape[:2], stride)
    )
    if min(full) < 1:
        raise ValueError(
            f"in_hw={in_hw} is too small for the kernel {kernel.shape[:2]} with padding {padding} and "
            f"dilation {dilation}: the conv output would be {full}"
        )
    if out_hw is not None:
        out_hw = check_int_pair(out_hw, "out_hw", 1)
        if any(o > f for o, f in zip(out_hw, full)):
            raise ValueError(f"out_hw={out_hw} crops the conv's output, so it must be at most its size {full}")
    x_shape = (1, *in_hw, kernel.shape[2] * groups)
    jac = _jacobian(
        jnp.zeros(x_shape, jnp.float32), jnp.asarray(kernel, jnp.float32), stride, padding, dilation, groups, out_hw
    )
    return np.asarray(jac, np.float64).reshape(-1, int(np.prod(x_shape)))


@functools.partial(jax.jit, static_argnames=("stride", "padding", "dilation", "groups", "out_hw"))
def _jacobian(x, kernel, stride, padding, dilation, groups, out_hw):
    opts = dict(rhs_dilation=dilation, dimension_numbers=("NHWC", "HWIO", "NHWC"), feature_group_count=groups)

    def forward(x):
        y = lax.conv_general_dilated(
            x, kernel, stride, [(p, p) for p in padding], precision=lax.Precision.HIGHEST, **opts
        )
        return y[:, : out_hw[0], : out_hw[1], :].reshape(-1) if out_hw else y.reshape(-1)

    return jax.jacfwd(forward)(x)


def conv_transpose_matrix(y, kernel, stride=1, padding=0, output_padding=0, dilation=1, groups=1) -> np.ndarray:
    """Transposed conv as Cᵀ y, image by image; float64 NumPy result (NHWC)."""
    y = as_array(y, "y").astype(np.float64)
    kernel = as_array(kernel, "kernel")
    s, p, op, d, out_hw = conv_transpose_args(
        np.shape(y), np.shape(kernel), stride, padding, output_padding, dilation, groups
    )
    c = conv_matrix(kernel, out_hw, s, p, d, groups, out_hw=y.shape[1:3])
    flat = y.reshape(y.shape[0], -1) @ c  # (Cᵀ y)ᵀ for every image at once
    return flat.reshape(y.shape[0], *out_hw, np.shape(kernel)[2] * groups)
