"""Proof form 1: the transposed conv written directly from the gradient formula.

For a forward conv ``y[i', j', o] = sum_{m, n, c} x_pad[i' S + m d, j' S + n d, c] K[m, n, c, o]``,

    dL/dx_pad[i, j, c] = sum_{m, i': i = i' S + m d} sum_{n, j': j = j' S + n d} sum_o dL/dy[i', j', o] K[m, n, c, o]

and ``dL/dx`` is ``dL/dx_pad`` with the padding cropped. Plain NumPy in float64: nothing here
shares code with JAX's conv or its transpose rule.
"""

from __future__ import annotations

import numpy as np

from jaxcnn.identities._args import as_array
from jaxcnn.identities._args import reference_args as conv_transpose_args

__all__ = ["conv_transpose_closed_form"]


def conv_transpose_closed_form(y, kernel, stride=1, padding=0, output_padding=0, dilation=1, groups=1) -> np.ndarray:
    """dL/dx of a conv for upstream gradient ``y`` (NHWC), kernel HWIO; float64 NumPy result."""
    y = as_array(y, "y").astype(np.float64)
    kernel = as_array(kernel, "kernel").astype(np.float64)
    (s_h, s_w), (p_h, p_w), _, (d_h, d_w), (h_out, w_out) = conv_transpose_args(
        y.shape, kernel.shape, stride, padding, output_padding, dilation, groups
    )
    n, h_y, w_y, _ = y.shape
    k_h, k_w, c_g, o_total = kernel.shape
    o_g = o_total // groups
    grad_pad = np.zeros((n, h_out + 2 * p_h, w_out + 2 * p_w, c_g * groups))
    for g in range(groups):
        dy = y[..., g * o_g : (g + 1) * o_g]
        for m in range(k_h):
            for nn_ in range(k_w):
                # i = i' S + m d for every i' at once; sum over o by the matrix product
                rows = slice(m * d_h, m * d_h + s_h * (h_y - 1) + 1, s_h)
                cols = slice(nn_ * d_w, nn_ * d_w + s_w * (w_y - 1) + 1, s_w)
                grad_pad[:, rows, cols, g * c_g : (g + 1) * c_g] += dy @ kernel[m, nn_, :, g * o_g : (g + 1) * o_g].T
    return grad_pad[:, p_h : p_h + h_out, p_w : p_w + w_out, :]
