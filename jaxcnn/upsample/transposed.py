"""Transposed convolution as what it is: the input-gradient (vjp) of a convolution.

``kernel`` is the *forward* conv's HWIO kernel (kH, kW, C_out / groups, C_in), C_in being ``y``'s
channels: PyTorch's ConvTranspose2d weight is that conv's OIHW weight, so ``weight.transpose(2, 3, 1, 0)``
imports it. Output size (torch): ``H_out = (H - 1) s - 2 p + d (k - 1) + output_padding + 1`` with
``output_padding < max(s, d)``; rows that the forward conv never reads get zero gradient.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from jaxcnn.declared import CALLABLE, DTYPE, FLAG, POSITIVE_INT, Declared, Rule, declare, int_pair, optional
from jaxcnn.validation import check_array, check_floating, check_nhwc, check_output_size, check_positive_int
from jaxcnn.validation import check_int_pair as _pair

__all__ = ["ConvTranspose", "conv_transpose", "conv_transpose_args", "torch_fan_in_uniform"]

_DIMS = ("NHWC", "HWIO", "NHWC")


def conv_transpose_args(y_shape, kernel_shape, stride, padding, output_padding, dilation, groups):
    """Validate torch-style arguments; return (stride, padding, output_padding, dilation, out_hw).
    (``jaxcnn.identities._args`` reads them with its own code, so a bug here cannot hide in both.)"""
    s = _pair(stride, "stride", 1)
    p = _pair(padding, "padding", 0)
    op = _pair(output_padding, "output_padding", 0)
    d = _pair(dilation, "dilation", 1)
    groups = check_positive_int(groups, "groups")
    if len(kernel_shape) != 4:
        raise ValueError(f"kernel must be 4-D HWIO (kH, kW, C_out/groups, C_in), got shape {tuple(kernel_shape)}")
    kh, kw, c_out_g, c_in = kernel_shape
    if min(kh, kw, c_out_g) < 1:
        raise ValueError(f"kernel must have positive kH, kW and C_out/groups, got shape {tuple(kernel_shape)}")
    if y_shape[-1] != c_in:
        raise ValueError(
            f"kernel's last axis (C_in={c_in}) must equal y's channels ({y_shape[-1]}); kernel is the forward "
            f"conv's HWIO kernel, torch weight.transpose(2, 3, 1, 0), got kernel shape {tuple(kernel_shape)}"
        )
    if c_in % groups:
        raise ValueError(f"y's channels ({c_in}) must be divisible by groups ({groups})")
    if any(opi >= max(si, di) for opi, si, di in zip(op, s, d)):
        raise ValueError(
            f"output_padding must be smaller than either stride or dilation, got output_padding={op}, "
            f"stride={s}, dilation={d}"
        )
    out = tuple(
        (n - 1) * si - 2 * pi + di * (k - 1) + opi + 1
        for n, k, si, pi, opi, di in zip(y_shape[1:3], (kh, kw), s, p, op, d)
    )
    if min(out) < 1:
        raise ValueError(
            f"output size {out} is not positive: padding {p} is too large for y {tuple(y_shape)} and kernel {tuple(kernel_shape)}"
        )
    check_output_size((y_shape[0], *out, c_out_g * groups), "stride, dilation and kernel")
    return s, p, op, d, out


def _is_precision(item: Any) -> bool:
    """A ``lax.Precision`` or its name."""
    try:
        return isinstance(item, lax.Precision) or (isinstance(item, str) and lax.Precision(item) is not None)
    except ValueError:
        return False


def _check_precision(precision: Any) -> None:
    """What ``lax.conv_general_dilated`` accepts, refused here with a message that names the argument."""
    # lax takes two Precisions or two names, not a mix
    pair = isinstance(precision, (tuple, list)) and len(precision) == 2 and len(set(map(type, precision))) == 1
    if not (
        precision is None
        or isinstance(precision, (lax.DotAlgorithm, lax.DotAlgorithmPreset))
        or (isinstance(precision, str) and precision in lax.DotAlgorithmPreset.__members__)
        or all(map(_is_precision, precision if pair else (precision,)))
    ):
        raise ValueError(
            f"precision must be None, a jax.lax.Precision or its name ('default', 'high', 'highest'), "
            f"a pair of them or a jax.lax.DotAlgorithmPreset, got {precision!r}"
        )


PRECISION = Rule("precision", lambda x, n: _check_precision(x), ("medium", 3, ("high", lax.Precision.HIGH)))


def conv_transpose(
    y: jax.Array,
    kernel: jax.Array,
    stride: int | Sequence[int] = 1,
    padding: int | Sequence[int] = 0,
    output_padding: int | Sequence[int] = 0,
    dilation: int | Sequence[int] = 1,
    groups: int = 1,
    precision: Any = None,
) -> jax.Array:
    """``torch.nn.functional.conv_transpose2d`` on NHWC, computed as ``jax.vjp`` of the conv.

    ``y`` is (N, H, W, C_in) (the forward conv's output space), ``kernel`` the forward conv's HWIO
    kernel (kH, kW, C_out / groups, C_in); the other arguments have torch's meanings. Returns
    (N, H_out, W_out, C_out) with torch's output size.
    """
    check_nhwc(y, "y")
    check_array(kernel, "kernel")
    why = "the transposed conv is the gradient of a conv"
    check_floating(y, "y", why)
    check_floating(kernel, "kernel", why)
    _check_precision(precision)
    s, p, op, d, out_hw = conv_transpose_args(y.shape, kernel.shape, stride, padding, output_padding, dilation, groups)
    return _conv_transpose(y, kernel, s, p, op, d, int(groups), out_hw, precision)


@functools.partial(jax.jit, static_argnums=(2, 3, 4, 5, 6, 7, 8))
def _conv_transpose(y, kernel, s, p, op, d, groups, out_hw, precision):
    x_shape = (y.shape[0], *out_hw, kernel.shape[2] * groups)
    # output_padding >= stride (allowed when dilation > stride) makes the forward conv produce
    # extra rows; trimming the high padding by whole strides drops exactly those rows.
    pads = [(pi, pi - si * (opi // si)) for pi, si, opi in zip(p, s, op)]
    opts = dict(rhs_dilation=d, dimension_numbers=_DIMS, feature_group_count=groups, precision=precision)
    conv = functools.partial(lax.conv_general_dilated, rhs=kernel, window_strides=s, padding=pads, **opts)
    dtype = jnp.result_type(y.dtype, kernel.dtype)
    _, pullback = jax.vjp(conv, jnp.zeros(x_shape, dtype))
    (x,) = pullback(y.astype(dtype))
    return x


def torch_fan_in_uniform(fan_in: int) -> Callable:
    """torch's default init for conv weights and biases: U(-1/sqrt(fan_in), 1/sqrt(fan_in))."""
    bound = 1.0 / np.sqrt(fan_in)

    def init(key, shape, dtype=jnp.float32):
        return jax.random.uniform(key, shape, dtype, -bound, bound)

    return init


class ConvTranspose(Declared, nn.Module):
    """``torch.nn.ConvTranspose2d`` with torch's arguments, on NHWC.

    The ``kernel`` parameter is the forward conv's HWIO kernel (kH, kW, features / groups, in_features):
    torch's weight ``.transpose(2, 3, 1, 0)``. Default init is torch's (uniform, fan_in = features /
    groups * kH * kW). The fields' relations to the input (groups, output size) are checked at the call.
    """

    features: int = declare(POSITIVE_INT)
    kernel_size: int | Sequence[int] = declare(int_pair(1))
    stride: int | Sequence[int] = declare(int_pair(1), 1)
    padding: int | Sequence[int] = declare(int_pair(0), 0)
    output_padding: int | Sequence[int] = declare(int_pair(0), 0)
    groups: int = declare(POSITIVE_INT, 1)
    use_bias: bool = declare(FLAG, True)
    dilation: int | Sequence[int] = declare(int_pair(1), 1)
    kernel_init: Callable | None = declare(optional(CALLABLE), None)
    bias_init: Callable | None = declare(optional(CALLABLE), None)
    dtype: Any = declare(DTYPE, None)
    param_dtype: Any = jnp.float32
    precision: Any = declare(PRECISION, None)

    def check_relations(self):
        if self.features % self.groups:
            raise self.field_error("features", f"it must be divisible by groups ({self.groups})")

    @nn.compact
    def __call__(self, y: jax.Array) -> jax.Array:
        check_nhwc(y, "y")
        kh, kw = _pair(self.kernel_size, "kernel_size", 1)
        fan_in = self.features // self.groups * kh * kw
        shape = (kh, kw, self.features // self.groups, y.shape[-1])
        args = (self.stride, self.padding, self.output_padding, self.dilation, self.groups)
        conv_transpose_args(y.shape, shape, *args)  # the fields against the input, before drawing parameters
        kernel = self.param("kernel", self.kernel_init or torch_fan_in_uniform(fan_in), shape, self.param_dtype)
        dtype = self.dtype or jnp.result_type(y.dtype, self.param_dtype)
        x = conv_transpose(y.astype(dtype), kernel.astype(dtype), *args, self.precision)
        if self.use_bias:
            bias_init = self.bias_init or torch_fan_in_uniform(fan_in)
            x = x + self.param("bias", bias_init, (self.features,), self.param_dtype).astype(dtype)
        return x
