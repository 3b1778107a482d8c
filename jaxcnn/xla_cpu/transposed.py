"""The transposed convolution (``torch.nn.functional.conv_transpose2d`` on NHWC) on oneDNN.

A transposed conv is the input gradient of a conv, so it is oneDNN's backward-data primitive:
:func:`onednn_conv_transpose` is ``jaxcnn.upsample.conv_transpose`` (same arguments, same
output size rules) with ``jax.vjp`` taken of :func:`jaxcnn.xla_cpu.onednn_conv` instead of
``lax.conv_general_dilated``. XLA:CPU's own transposed conv is far slower (``benchmarks/
bench_conv_transpose.py``).
"""

from __future__ import annotations

from collections.abc import Sequence

import jax
import jax.numpy as jnp

from jaxcnn.upsample.transposed import conv_transpose_args
from jaxcnn.validation import check_array, check_floating, check_nhwc
from jaxcnn.xla_cpu.onednn import onednn_conv

__all__ = ["onednn_conv_transpose"]


def onednn_conv_transpose(
    y: jax.Array,
    kernel: jax.Array,
    stride: int | Sequence[int] = 1,
    padding: int | Sequence[int] = 0,
    output_padding: int | Sequence[int] = 0,
    dilation: int | Sequence[int] = 1,
    groups: int = 1,
) -> jax.Array:
    """``jaxcnn.upsample.conv_transpose(y, kernel, ...)`` computed by oneDNN's backward-data on CPU.

    ``y``: (N, H, W, C_in); ``kernel``: the forward conv's HWIO kernel (kH, kW, C_out / groups, C_in);
    the other arguments have torch's meanings. Returns (N, H_out, W_out, C_out).
    """
    check_nhwc(y, "y")
    check_array(kernel, "kernel")
    why = "the transposed conv is the gradient of a conv"
    check_floating(y, "y", why)
    check_floating(kernel, "kernel", why)
    s, p, op, d, out_hw = conv_transpose_args(y.shape, kernel.shape, stride, padding, output_padding, dilation, groups)
    groups = int(groups)
    dtype = jnp.result_type(y.dtype, kernel.dtype)
    x_shape = (y.shape[0], *out_hw, kernel.shape[2] * groups)
    # As in conv_transpose: output_padding >= stride trims the high padding by whole strides.
    pads = tuple((pi, pi - si * (opi // si)) for pi, si, opi in zip(p, s, op))
    kernel = kernel.astype(dtype)
    _, pullback = jax.vjp(lambda x: onednn_conv(x, kernel, s, pads, d, groups), jnp.zeros(x_shape, dtype))
    return pullback(y.astype(dtype))[0]
