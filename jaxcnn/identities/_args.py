"""The reference forms' own reading of torch's ``conv_transpose2d`` arguments.

Written apart from ``jaxcnn.upsample.transposed.conv_transpose_args`` on purpose: the forms
here check that function's code, so a bug in its argument handling (a wrong output size, a
padding read per the wrong axis) must not be shared by the oracles. Rules are from torch's
``ConvTranspose2d`` documentation: ``H_out = (H_in - 1) * stride - 2 * padding + dilation *
(kernel_size - 1) + output_padding + 1`` and ``output_padding < max(stride, dilation)``.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax.numpy as jnp
import numpy as np

from jaxcnn.validation import ArgumentTypeError, check_int_pair, check_positive_int

__all__ = ["TransposeArgs", "reference_args", "as_array", "check_y_kernel"]


class TransposeArgs(NamedTuple):
    """Per-axis (H, W) pairs and the output's spatial size."""

    stride: tuple
    padding: tuple
    output_padding: tuple
    dilation: tuple
    out_hw: tuple


def _real(dtype) -> bool:
    # jnp.issubdtype knows bfloat16 (np.issubdtype(bfloat16, np.number) is False)
    return (jnp.issubdtype(dtype, jnp.number) or jnp.issubdtype(dtype, jnp.bool_)) and not jnp.issubdtype(
        dtype, jnp.complexfloating
    )


def as_array(value: Any, name: str) -> np.ndarray:
    """``value`` as a NumPy array of real numbers (arrays, nested lists); anything else names ``name``."""
    try:
        array = np.asarray(value)
    except Exception:  # ragged lists and the like: numpy's own message does not name the argument
        array = None
    if array is None or array.dtype == object or not _real(array.dtype):
        raise ArgumentTypeError(f"{name} must be an array of real numbers, got {type(value).__name__}")
    return array


def array_shape(value: Any, name: str) -> tuple:
    """The shape of ``value``; JAX arrays and tracers (a form under ``jit``) are read without conversion."""
    if hasattr(value, "shape") and hasattr(value, "dtype"):
        if not _real(value.dtype):
            raise ArgumentTypeError(f"{name} must be an array of real numbers, got dtype {value.dtype}")
        return tuple(value.shape)
    return np.shape(as_array(value, name))


def check_y_kernel(y_shape, kernel_shape) -> None:
    """An NHWC ``y`` and an HWIO kernel, with no empty axis (the forms would return empty or garbage)."""
    for shape, name, layout in ((y_shape, "y", "NHWC"), (kernel_shape, "kernel", "HWIO")):
        if len(shape) != 4 or min(shape) < 1:
            raise ValueError(f"{name} must be 4-D {layout} with no empty axis, got shape {tuple(shape)}")


def reference_args(y_shape, kernel_shape, stride, padding, output_padding, dilation, groups) -> TransposeArgs:
    """Check torch-style arguments against an NHWC ``y`` and HWIO forward kernel (kH, kW, C_out/g, C_in).

    The type checks are the shared ones (``jaxcnn.validation``); the size rules below are this
    module's own reading of torch's documentation."""
    s, p = check_int_pair(stride, "stride", 1), check_int_pair(padding, "padding", 0)
    op, d = check_int_pair(output_padding, "output_padding", 0), check_int_pair(dilation, "dilation", 1)
    groups = check_positive_int(groups, "groups")
    check_y_kernel(y_shape, kernel_shape)
    if kernel_shape[3] != y_shape[-1]:
        raise ValueError(f"kernel's last axis (C_in={kernel_shape[3]}) must equal y's channels ({y_shape[-1]})")
    if y_shape[-1] % groups:
        raise ValueError(f"y's channels ({y_shape[-1]}) must be divisible by groups ({groups})")
    out = []
    for a in (0, 1):
        if op[a] >= max(s[a], d[a]):
            raise ValueError(
                f"output_padding must be smaller than either stride or dilation, got output_padding="
                f"{op}, stride={s}, dilation={d}"
            )
        out.append((y_shape[1 + a] - 1) * s[a] - 2 * p[a] + d[a] * (kernel_shape[a] - 1) + op[a] + 1)
    if min(out) < 1:
        raise ValueError(f"output size {tuple(out)} is not positive: padding {p} is too large")
    return TransposeArgs(s, p, op, d, tuple(out))
