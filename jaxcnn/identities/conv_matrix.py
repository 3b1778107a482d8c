"""Proof form 2: the dense convolution matrix C, so that conv(x) = C x and the transposed conv is Cᵀ y.

C is the Jacobian of the forward conv. It is built with ``jax.jacfwd``, which pushes basis
vectors through the *forward* conv; ``jax.jacobian`` (reverse mode) would build it from the very
vjp that ``conv_transpose`` uses and so prove nothing. Rows are output cells (h', w', o), columns
input cells (h, w, c), both in NHWC ravel order, one image. For the seed's example (4x4 input,
3x3 kernel, stride 1, no padding) C is 4x16.
"""

from __future__ import annotations

import functools
from typing import Sequence

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from jaxcnn.identities._args import reference_args as conv_transpose_args

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

    ``out_hw`` crops the conv's output (the rows ``output_padding`` leaves unread).
    """
    kernel = jnp.asarray(kernel, jnp.float32)
    x_shape = (1, *in_hw, kernel.shape[2] * groups)
    jac = _jacobian(jnp.zeros(x_shape, jnp.float32), kernel, _two(stride), _two(padding), _two(dilation),
                    groups, None if out_hw is None else tuple(out_hw))
    return np.asarray(jac, np.float64).reshape(-1, int(np.prod(x_shape)))


def _two(v) -> tuple[int, int]:
    return (int(v), int(v)) if np.ndim(v) == 0 else tuple(int(a) for a in v)


@functools.partial(jax.jit, static_argnames=("stride", "padding", "dilation", "groups", "out_hw"))
def _jacobian(x, kernel, stride, padding, dilation, groups, out_hw):
    def forward(x):
        y = lax.conv_general_dilated(x, kernel, stride, [(p, p) for p in padding], rhs_dilation=dilation,
                                     dimension_numbers=("NHWC", "HWIO", "NHWC"), feature_group_count=groups,
                                     precision=lax.Precision.HIGHEST)
        if out_hw is not None:
            y = y[:, :out_hw[0], :out_hw[1], :]
        return y.reshape(-1)

    return jax.jacfwd(forward)(x)


def conv_transpose_matrix(y, kernel, stride=1, padding=0, output_padding=0, dilation=1, groups=1) -> np.ndarray:
    """Transposed conv as Cᵀ y, image by image; float64 NumPy result (NHWC)."""
    y = np.asarray(y, np.float64)
    s, p, op, d, out_hw = conv_transpose_args(np.shape(y), np.shape(kernel), stride, padding, output_padding, dilation, groups)
    c = conv_matrix(kernel, out_hw, s, p, d, groups, out_hw=y.shape[1:3])
    flat = y.reshape(y.shape[0], -1) @ c  # (Cᵀ y)ᵀ for every image at once
    return flat.reshape(y.shape[0], *out_hw, np.shape(kernel)[2] * groups)
