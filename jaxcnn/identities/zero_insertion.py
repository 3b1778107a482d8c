"""Proof form 3: zero insertion + 180-degree-rotated kernel + full padding, then a plain conv.

The recipe of the conv-arithmetic guide: put ``S - 1`` zeros between neighbouring inputs, pad
each side with ``d (k - 1) - p`` zeros (plus ``output_padding`` on the high side), and slide the
spatially flipped kernel, with input and output channels swapped, at stride 1. NumPy, float64.
"""

from __future__ import annotations

import numpy as np

from jaxcnn.identities._args import as_array
from jaxcnn.identities._args import reference_args as conv_transpose_args
from jaxcnn.validation import check_int_pair

__all__ = ["conv_transpose_zero_insertion", "insert_zeros"]


def insert_zeros(y: np.ndarray, stride) -> np.ndarray:
    """Place ``stride - 1`` zeros between neighbouring pixels of an NHWC array.

    ``stride`` is an int or a pair of ints >= 1 (torch's ``_pair``)."""
    y = as_array(y, "y")
    if y.ndim != 4 or min(y.shape[1:3]) < 1:
        raise ValueError(f"y must be 4-D NHWC with a non-empty height and width, got shape {y.shape}")
    stride = check_int_pair(stride, "stride", 1)
    n, h, w, c = y.shape
    out = np.zeros((n, (h - 1) * stride[0] + 1, (w - 1) * stride[1] + 1, c), y.dtype)
    out[:, :: stride[0], :: stride[1], :] = y
    return out


def _pad_or_crop(z: np.ndarray, axis: int, lo: int, hi: int) -> np.ndarray:
    """Pad with zeros where an amount is positive, crop where it is negative."""
    pads = [(0, 0)] * z.ndim
    pads[axis] = (max(lo, 0), max(hi, 0))
    z = np.pad(z, pads)
    index = [slice(None)] * z.ndim
    index[axis] = slice(max(-lo, 0), z.shape[axis] - max(-hi, 0))
    return z[tuple(index)]


def conv_transpose_zero_insertion(y, kernel, stride=1, padding=0, output_padding=0, dilation=1, groups=1) -> np.ndarray:
    """Transposed conv by the zero-insertion recipe; float64 NumPy result (NHWC)."""
    y = as_array(y, "y").astype(np.float64)
    kernel = as_array(kernel, "kernel").astype(np.float64)
    s, p, op, d, out_hw = conv_transpose_args(y.shape, kernel.shape, stride, padding, output_padding, dilation, groups)
    k_h, k_w, c_g, o_total = kernel.shape
    o_g = o_total // groups
    z = insert_zeros(y, s)
    for axis, k, pi, opi, di in ((1, k_h, p[0], op[0], d[0]), (2, k_w, p[1], op[1], d[1])):
        full = di * (k - 1) - pi
        z = _pad_or_crop(z, axis, full, full + opi)
    flipped = kernel[::-1, ::-1]  # 180-degree rotation; (m, n, c, o) used as o -> c
    n = y.shape[0]
    out = np.zeros((n, *out_hw, c_g * groups))
    for g in range(groups):
        zg = z[..., g * o_g : (g + 1) * o_g]
        for m in range(k_h):
            for nn_ in range(k_w):
                patch = zg[:, m * d[0] : m * d[0] + out_hw[0], nn_ * d[1] : nn_ * d[1] + out_hw[1], :]
                out[..., g * c_g : (g + 1) * c_g] += patch @ flipped[m, nn_, :, g * o_g : (g + 1) * o_g].T
    return out
