"""Sub-pixel convolution (Shi et al. 2016): a conv to ``C * r^2`` channels, then a pixel shuffle.

Channel order is PyTorch's: output pixel (h*r + i, w*r + j) of channel c reads input channel
``c * r * r + i * r + j`` (TensorFlow's ``depth_to_space`` reads ``(i * r + j) * C + c``). ICNR
(Aitken et al. 2017) repeats each base filter r^2 times in a row, so that at initialisation the
shuffle is nearest-neighbour upsampling of a plain conv (no checkerboard).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

from jaxcnn.declared import CALLABLE, DTYPE, FLAG, ODD_KERNEL, POSITIVE_INT, Declared, declare, optional
from jaxcnn.layers import torch_padding
from jaxcnn.validation import check_callable, check_nhwc, check_positive_int

__all__ = ["SubPixelConv", "icnr", "pixel_shuffle", "pixel_unshuffle"]


def pixel_shuffle(x: jax.Array, r: int) -> jax.Array:
    """(N, H, W, C * r^2) -> (N, H * r, W * r, C), torch's ``pixel_shuffle`` on NHWC."""
    check_nhwc(x, "x")
    r = check_positive_int(r, "r")
    n, h, w, cr2 = x.shape
    if cr2 % (r * r):
        raise ValueError(f"x's channels ({cr2}) must be divisible by r^2 = {r * r} for pixel_shuffle")
    c = cr2 // (r * r)
    x = x.reshape(n, h, w, c, r, r)  # channel = c*r*r + i*r + j
    x = x.transpose(0, 1, 4, 2, 5, 3)  # (n, h, i, w, j, c)
    return x.reshape(n, h * r, w * r, c)


def pixel_unshuffle(x: jax.Array, r: int) -> jax.Array:
    """(N, H * r, W * r, C) -> (N, H, W, C * r^2), the exact inverse of ``pixel_shuffle``."""
    check_nhwc(x, "x")
    r = check_positive_int(r, "r")
    n, hr, wr, c = x.shape
    if hr % r or wr % r:
        raise ValueError(f"x's height and width {(hr, wr)} must be divisible by r = {r} for pixel_unshuffle")
    x = x.reshape(n, hr // r, r, wr // r, r, c)  # (n, h, i, w, j, c)
    x = x.transpose(0, 1, 3, 5, 2, 4)  # (n, h, w, c, i, j)
    return x.reshape(n, hr // r, wr // r, c * r * r)


def icnr(r: int, base_init: Callable = nn.initializers.lecun_normal()) -> Callable:
    """ICNR initializer for an HWIO kernel with ``C * r^2`` output channels (torch shuffle order)."""
    r = check_positive_int(r, "r")
    check_callable(base_init, "base_init")

    def init(key, shape, dtype=jnp.float32):
        if len(shape) != 4 or shape[-1] % (r * r):
            raise ValueError(f"icnr: shape must be 4-D HWIO, output channels divisible by r^2 = {r * r}, got {shape}")
        base = base_init(key, (*shape[:-1], shape[-1] // (r * r)), dtype)
        return jnp.repeat(base, r * r, axis=-1)

    return init


class SubPixelConv(Declared, nn.Module):
    """Conv (torch-style symmetric padding) to ``features * scale^2`` channels, then pixel shuffle.

    ``kernel_size`` must be odd: the padding ``(k-1)//2`` on each side keeps H and W (so the output
    is exactly ``scale`` times the input) only for odd kernels, as in the ESPCN paper.
    """

    features: int = declare(POSITIVE_INT)
    scale: int = declare(POSITIVE_INT)
    kernel_size: int = declare(ODD_KERNEL, 3)
    use_bias: bool = declare(FLAG, True)
    kernel_init: Callable | None = declare(optional(CALLABLE), None)  # None: ICNR over lecun_normal
    dtype: Any = declare(DTYPE, None)

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        check_nhwc(x, "x")
        r, k = self.scale, self.kernel_size
        x = nn.Conv(
            self.features * r * r,
            (k, k),
            padding=torch_padding(k),
            use_bias=self.use_bias,
            kernel_init=self.kernel_init or icnr(r),
            dtype=self.dtype,
            name="conv",
        )(x)
        return pixel_shuffle(x, r)
