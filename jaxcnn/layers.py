"""Conv / norm / activation helpers shared by every block.

Two conventions live here so that no block re-invents them:

* ``conv`` pads explicitly and symmetrically, ``((k-1)//2*d, (k-1)//2*d)``, like PyTorch.
  Flax's ``'SAME'`` pads ``(0, 1)`` for stride 2 on even inputs where torch pads ``(1, 1)``,
  which silently breaks imported weights.
* ``batch_norm`` uses torchvision's momentum (0.9 in Flax terms, 0.1 in torch terms) and
  epsilon 1e-5, so weights and statistics port both ways.
"""

from __future__ import annotations

from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

# torchvision initialises convs with kaiming_normal_(mode='fan_out', nonlinearity='relu').
kaiming_fan_out = nn.initializers.variance_scaling(2.0, "fan_out", "normal")


def torch_padding(kernel_size: int, dilation: int = 1) -> tuple[tuple[int, int], tuple[int, int]]:
    """Symmetric padding PyTorch models use for an odd kernel: ``(k-1)//2 * d`` on each side."""
    p = (kernel_size - 1) // 2 * dilation
    return ((p, p), (p, p))


class Conv(nn.Conv):
    """``nn.Conv`` that names the problem when ``groups`` does not divide the channels."""

    def __call__(self, inputs):
        g = self.feature_group_count
        if inputs.shape[-1] % g or self.features % g:
            raise ValueError(
                f"groups={g} must divide both the input channels ({inputs.shape[-1]}) and the "
                f"output channels ({self.features}) of conv {self.name!r}"
            )
        return super().__call__(inputs)


CONV_GRADS = ("xla", "canonical", "gemm")


def conv(
    features: int,
    kernel_size: int = 3,
    stride: int = 1,
    groups: int = 1,
    dilation: int = 1,
    use_bias: bool = False,
    name: str | None = None,
    dtype: Any = None,
    kernel_init=kaiming_fan_out,
    grad: str = "xla",
) -> nn.Conv:
    """A square conv with torch-compatible explicit padding and a clear groups check.

    ``grad`` picks how its gradients are computed: ``'xla'`` (JAX's transpose rules),
    ``'canonical'`` (``jaxcnn.canonical_conv``: canonical NHWC convs, which stay fast inside
    ``lax.cond``/loops on XLA CPU; used by batch-mode stochastic depth and scanned stages) or
    ``'gemm'`` (canonical input gradient, weight gradient by matrix products).
    """
    if grad not in CONV_GRADS:
        raise ValueError(f"grad must be one of {CONV_GRADS}, got {grad!r}")
    extra = {}
    if grad != "xla":
        from jaxcnn.canonical_conv import canonical_grad_conv, gemm_grad_conv

        extra["conv_general_dilated"] = canonical_grad_conv if grad == "canonical" else gemm_grad_conv
    return Conv(
        features,
        (kernel_size, kernel_size),
        strides=(stride, stride),
        padding=torch_padding(kernel_size, dilation),
        kernel_dilation=(dilation, dilation),
        feature_group_count=groups,
        use_bias=use_bias,
        kernel_init=kernel_init,
        dtype=dtype,
        name=name,
        **extra,
    )


def batch_norm(
    train: bool | None = None,
    name: str | None = None,
    zero_init: bool = False,
    axis_name: str | None = None,
    dtype: Any = None,
) -> nn.BatchNorm:
    """BatchNorm with torchvision's momentum/epsilon; ``zero_init`` sets gamma = 0 (last BN of a branch).

    ``train=None`` leaves ``use_running_average`` to be passed at call time (setup-style blocks).
    """
    return nn.BatchNorm(
        use_running_average=None if train is None else not train,
        momentum=0.9,
        epsilon=1e-5,
        scale_init=nn.initializers.zeros if zero_init else nn.initializers.ones,
        axis_name=axis_name,
        dtype=dtype,
        name=name,
    )


def make_divisible(value: float, divisor: int = 8, min_value: int | None = None) -> int:
    """Round channels to a multiple of ``divisor`` without going below 90% (MobileNet rule)."""
    min_value = divisor if min_value is None else min_value
    new = max(min_value, int(value + divisor / 2) // divisor * divisor)
    if new < 0.9 * value:
        new += divisor
    return new


def check_nhwc(x: Any, name: str = "x", channels: int | None = None) -> None:
    """Raise a clear error unless ``x`` is a 4-D NHWC array (with ``channels`` channels if given).

    The channel check is how NCHW input is caught: a (N, 3, 224, 224) batch fed to a model
    expecting 3 input channels has 224 in the last axis.
    """
    if not hasattr(x, "shape") or not hasattr(x, "dtype"):
        raise TypeError(f"{name} must be an array, got {type(x).__name__}")
    if x.ndim != 4:
        raise ValueError(f"{name} must be 4-D NHWC (batch, height, width, channels), got shape {tuple(x.shape)}")
    if channels is not None and x.shape[-1] != channels:
        hint = ""
        if x.shape[1] == channels:
            hint = " It looks like NCHW; transpose with x.transpose(0, 2, 3, 1)."
        raise ValueError(
            f"{name} must be NHWC with {channels} channels in the last axis, got shape {tuple(x.shape)}.{hint}"
        )


def int_pair(value: Any, name: str, minimum: int) -> tuple[int, int]:
    """An int or a pair of ints (torch's ``_pair``), each >= ``minimum``, as a tuple of two ints."""
    items = tuple(value) if isinstance(value, (list, tuple)) else (value, value)
    if len(items) != 2 or any(isinstance(v, bool) or not isinstance(v, (int, np.integer)) for v in items):
        raise TypeError(f"{name} must be an int or a pair of ints, got {value!r}")
    if any(v < minimum for v in items):
        raise ValueError(f"{name} must be >= {minimum}, got {value!r}")
    return tuple(int(v) for v in items)


def check_positive_int(value: Any, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return value


def global_avg_pool(x: jax.Array) -> jax.Array:
    """Mean over H and W of an NHWC map, keeping the batch and channel axes."""
    return jnp.mean(x, axis=(1, 2))


def max_pool_torch(x: jax.Array, window: int = 3, stride: int = 2, padding: int = 1) -> jax.Array:
    """torch ``MaxPool2d(window, stride, padding)``: padding with -inf, floor mode."""
    return nn.max_pool(x, (window, window), strides=(stride, stride), padding=((padding, padding), (padding, padding)))


def avg_pool_ceil_exclude_pad(x: jax.Array, window: int = 2, stride: int = 2) -> jax.Array:
    """torch ``AvgPool2d(window, stride, ceil_mode=True, count_include_pad=False)``.

    ceil mode lets the last window hang over the edge; the overhang is padding that is not
    counted, so each output is the mean of the real pixels its window covers.
    """
    def extra(size: int) -> int:
        out = -(-(size - window) // stride) + 1  # ceil
        return max(0, (out - 1) * stride + window - size)

    pads = ((0, 0), (0, extra(x.shape[1])), (0, extra(x.shape[2])), (0, 0))
    dims, strides = (1, window, window, 1), (1, stride, stride, 1)
    total = jax.lax.reduce_window(jnp.pad(x, pads), 0.0, jax.lax.add, dims, strides, "VALID")
    ones = jnp.pad(jnp.ones((1,) + x.shape[1:3] + (1,), x.dtype), pads)
    count = jax.lax.reduce_window(ones, 0.0, jax.lax.add, dims, strides, "VALID")
    return total / count
