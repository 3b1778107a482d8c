"""The reference forms' own reading of torch's ``conv_transpose2d`` arguments.

Written apart from ``jaxcnn.upsample.transposed.conv_transpose_args`` on purpose: the forms
here check that function's code, so a bug in its argument handling (a wrong output size, a
padding read per the wrong axis) must not be shared by the oracles. Rules are from torch's
``ConvTranspose2d`` documentation: ``H_out = (H_in - 1) * stride - 2 * padding + dilation *
(kernel_size - 1) + output_padding + 1`` and ``output_padding < max(stride, dilation)``.
"""

from __future__ import annotations

import numbers
from typing import NamedTuple

__all__ = ["TransposeArgs", "reference_args"]


class TransposeArgs(NamedTuple):
    """Per-axis (H, W) pairs and the output's spatial size."""

    stride: tuple
    padding: tuple
    output_padding: tuple
    dilation: tuple
    out_hw: tuple


def _two(value, name: str, low: int) -> tuple:
    pair = list(value) if isinstance(value, (tuple, list)) else [value] * 2
    ok = len(pair) == 2 and all(isinstance(v, numbers.Integral) and not isinstance(v, bool) for v in pair)
    if not ok:
        raise TypeError(f"{name} must be an int or a pair of ints, got {value!r}")
    if min(pair) < low:
        raise ValueError(f"{name} must be >= {low}, got {value!r}")
    return int(pair[0]), int(pair[1])


def reference_args(y_shape, kernel_shape, stride, padding, output_padding, dilation, groups) -> TransposeArgs:
    """Check torch-style arguments against an NHWC ``y`` and HWIO forward kernel (kH, kW, C_out/g, C_in)."""
    stride, padding = _two(stride, "stride", 1), _two(padding, "padding", 0)
    output_padding, dilation = _two(output_padding, "output_padding", 0), _two(dilation, "dilation", 1)
    if not isinstance(groups, numbers.Integral) or isinstance(groups, bool) or groups < 1:
        raise ValueError(f"groups must be a positive integer, got {groups!r}")
    if len(kernel_shape) != 4:
        raise ValueError(f"kernel must be 4-D HWIO, got shape {tuple(kernel_shape)}")
    if kernel_shape[3] != y_shape[-1]:
        raise ValueError(f"kernel's last axis (C_in={kernel_shape[3]}) must equal y's channels ({y_shape[-1]})")
    if y_shape[-1] % groups:
        raise ValueError(f"y's channels ({y_shape[-1]}) must be divisible by groups ({groups})")
    out = []
    for axis in (0, 1):
        if output_padding[axis] >= max(stride[axis], dilation[axis]):
            raise ValueError(f"output_padding must be smaller than either stride or dilation, got output_padding="
                             f"{output_padding}, stride={stride}, dilation={dilation}")
        size = ((y_shape[1 + axis] - 1) * stride[axis] - 2 * padding[axis]
                + dilation[axis] * (kernel_shape[axis] - 1) + output_padding[axis] + 1)
        out.append(size)
    if min(out) < 1:
        raise ValueError(f"output size {tuple(out)} is not positive: padding {padding} is too large")
    return TransposeArgs(stride, padding, output_padding, dilation, tuple(out))
