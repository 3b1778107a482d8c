"""Conv / norm / pooling helpers shared by every block, with PyTorch's conventions so weights port:
convs pad symmetrically, ``(k-1)//2*d`` per side (Flax's ``'SAME'`` pads ``(0, 1)`` at stride 2 on even
inputs where torch pads ``(1, 1)``), and :class:`BatchNorm` has torch's momentum and epsilon. Blocks take
``conv`` and ``norm`` as injected ``ModuleDef``s (defaults :class:`Conv`, :class:`BatchNorm`).
"""

from __future__ import annotations

from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

from jaxcnn.declared import (
    CALLABLE,
    FLAG,
    OPTIONAL_SIZES,
    POSITIVE_INT,
    POSITIVE_NUMBER,
    SIZES,
    UNIT_INTERVAL,
    Declared,
    declare,
)
from jaxcnn.validation import (
    check_array,
    check_bool,
    check_callable,
    check_int,
    check_nhwc,
    check_number,
    check_odd_kernel,
    check_positive_int,
    check_str,
)

__all__ = [
    "ModuleDef",
    "Conv",
    "WeightStandardizedConv",
    "BatchNorm",
    "conv_args",
    "conv",
    "make_norm",
    "apply_norm",
    "batch_norm",
    "kaiming_fan_out",
    "torch_padding",
    "make_divisible",
    "global_avg_pool",
    "max_pool_torch",
    "avg_pool_ceil_exclude_pad",
]

# torchvision initialises convs with kaiming_normal_(mode="fan_out", nonlinearity="relu").
kaiming_fan_out = nn.initializers.variance_scaling(2.0, "fan_out", "normal")
kaiming_fan_out.__doc__ = "torchvision's conv init: normal with variance 2 / fan_out (kaiming_normal_, mode='fan_out')."


def torch_padding(kernel_size: int, dilation: int = 1) -> tuple[tuple[int, int], tuple[int, int]]:
    """PyTorch's symmetric 'same' padding, ``(k-1)//2 * d`` per side, for an odd ``kernel_size`` (an even
    one is refused: it would shrink every output by ``d`` pixels; pass :class:`Conv` explicit padding)."""
    kernel_size = check_odd_kernel(kernel_size, "kernel_size")
    dilation = check_positive_int(dilation, "dilation")
    p = (kernel_size - 1) // 2 * dilation
    return ((p, p), (p, p))


ModuleDef = Any  # a module class or functools.partial of one, called with the kwargs shown below


class Conv(Declared, nn.Conv):
    """``nn.Conv`` with torchvision's defaults (no bias, kaiming fan-out init), declared size fields, and
    an error naming ``groups`` when it does not divide the channels; padding is the caller's.

    The default ``conv`` of every jaxcnn block and model; any ``ModuleDef`` taking ``nn.Conv``'s keyword
    arguments can replace it (:class:`WeightStandardizedConv`, ``jaxcnn.xla_cpu.GemmGradConv``).
    """

    features: int = declare(POSITIVE_INT)
    kernel_size: Any = declare(SIZES)
    strides: Any = declare(OPTIONAL_SIZES, 1)
    input_dilation: Any = declare(OPTIONAL_SIZES, 1)
    kernel_dilation: Any = declare(OPTIONAL_SIZES, 1)
    feature_group_count: int = declare(POSITIVE_INT, 1)
    use_bias: bool = declare(FLAG, False)
    kernel_init: Any = declare(CALLABLE, kaiming_fan_out)

    def check_relations(self):
        if self.features % self.feature_group_count:
            raise self.field_error(
                "features", f"groups={self.feature_group_count} must divide the output channels (feature_group_count)"
            )

    def __call__(self, inputs):
        check_array(inputs, "inputs")
        if inputs.shape[-1] % self.feature_group_count:
            raise ValueError(
                f"groups={self.feature_group_count} must divide the input channels ({inputs.shape[-1]}) of "
                f"{'conv ' + repr(self.name) if self.name else 'the conv'} (feature_group_count)"
            )
        return super().__call__(inputs)


class WeightStandardizedConv(Conv):
    """Conv whose kernel is standardised per output channel, ``(W - mean) / sqrt(var + eps)`` over its
    ``kh * kw * in`` weights (Qiao et al. 2019; BiT); pairs with GroupNorm. Same parameters as :class:`Conv`.
    """

    eps: float = declare(POSITIVE_NUMBER, 1e-5)

    def param(self, name, *args, **kwargs):
        value = super().param(name, *args, **kwargs)
        if name != "kernel":
            return value
        mean = jnp.mean(value, axis=(0, 1, 2), keepdims=True)
        var = jnp.var(value, axis=(0, 1, 2), keepdims=True)
        return (value - mean) * jax.lax.rsqrt(var + self.eps)


class BatchNorm(Declared, nn.BatchNorm):
    """``nn.BatchNorm`` with torchvision's momentum (0.9 here, 0.1 in torch) and epsilon 1e-5, so statistics
    port both ways; the default ``norm`` of every jaxcnn block and model."""

    momentum: float = declare(UNIT_INTERVAL, 0.9)
    epsilon: float = declare(POSITIVE_NUMBER, 1e-5)


def conv_args(kernel_size: int, stride: int = 1, groups: int = 1, dilation: int = 1) -> dict:
    """``nn.Conv`` keyword arguments of a square conv with torch's 'same' padding (odd ``kernel_size``)."""
    torch_padding(kernel_size, dilation)  # checks kernel_size and dilation
    stride, groups = check_positive_int(stride, "stride"), check_positive_int(groups, "groups")
    return _conv_kwargs(kernel_size, stride, groups, dilation)


def _conv_kwargs(kernel_size: int, stride: int = 1, groups: int = 1, dilation: int = 1) -> dict:
    """:func:`conv_args` for values already checked (the declared fields of a block or model)."""
    p = (kernel_size - 1) // 2 * dilation
    return dict(
        kernel_size=(kernel_size, kernel_size),
        strides=(stride, stride),
        padding=((p, p), (p, p)),
        kernel_dilation=(dilation, dilation),
        feature_group_count=groups,
    )


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
    module: ModuleDef = Conv,
) -> nn.Module:
    """A square ``module`` conv (default :class:`Conv`) with torch's 'same' padding (odd ``kernel_size``)."""
    check_positive_int(features, "features")
    check_bool(use_bias, "use_bias")
    check_callable(module, "module")
    check_callable(kernel_init, "kernel_init")
    if name is not None:
        check_str(name, "name")
    kwargs = conv_args(kernel_size, stride, groups, dilation)
    return module(features, **kwargs, use_bias=use_bias, kernel_init=kernel_init, dtype=dtype, name=name)


def make_norm(
    norm: ModuleDef,
    name: str | None = None,
    zero_init: bool = False,
    axis_name: str | None = None,
    dtype: Any = None,
    **kwargs,
) -> nn.Module:
    """Instantiate an injected ``norm``; ``zero_init`` sets its scale to 0 (last norm of a branch).
    ``axis_name`` and ``dtype`` are passed only when set, so any Flax norm fits; ``kwargs`` as they are."""
    check_callable(norm, "norm")
    check_bool(zero_init, "zero_init")
    return _make_norm(norm, name, zero_init, axis_name, dtype, **kwargs)


def _make_norm(norm, name=None, zero_init=False, axis_name=None, dtype=None, **kwargs) -> nn.Module:
    """:func:`make_norm` for values already checked (the declared fields of a block or model)."""
    if zero_init:
        kwargs["scale_init"] = nn.initializers.zeros
    optional = {k: v for k, v in {"axis_name": axis_name, "dtype": dtype}.items() if v is not None}
    return norm(name=name, **kwargs, **optional)


def apply_norm(module: nn.Module, x: jax.Array, train: bool) -> jax.Array:
    """Call a norm: batch statistics when ``train`` for one with running averages (``use_running_average``),
    a plain call for any other norm."""
    if hasattr(module, "use_running_average"):
        return module(x, use_running_average=not train)
    return module(x)


def batch_norm(
    train: bool | None = None,
    name: str | None = None,
    zero_init: bool = False,
    axis_name: str | None = None,
    dtype: Any = None,
) -> nn.BatchNorm:
    """:class:`BatchNorm`; ``zero_init`` sets gamma = 0; ``train=None`` leaves ``use_running_average`` to the call."""
    check_bool(train, "train", allow_none=True)
    check_bool(zero_init, "zero_init")
    return BatchNorm(
        use_running_average=None if train is None else not train,
        scale_init=nn.initializers.zeros if zero_init else nn.initializers.ones,
        axis_name=axis_name,
        dtype=dtype,
        name=name,
    )


def make_divisible(value: float, divisor: int = 8, min_value: int | None = None) -> int:
    """Round channels to a multiple of ``divisor`` (at least ``min_value``, default ``divisor``) without going
    below 90% of ``value`` (MobileNet rule)."""
    value = check_number(value, "value", minimum=0.0)
    divisor = check_positive_int(divisor, "divisor")
    min_value = divisor if min_value is None else check_positive_int(min_value, "min_value")
    new = max(min_value, int(value + divisor / 2) // divisor * divisor)
    if new < 0.9 * value:
        new += divisor
    return new


def global_avg_pool(x: jax.Array) -> jax.Array:
    """Mean over H and W of an NHWC map, keeping the batch and channel axes (``x`` 4-D, H and W >= 1)."""
    check_nhwc(x, "x", nonempty=True)
    return jnp.mean(x, axis=(1, 2))


def max_pool_torch(x: jax.Array, window: int = 3, stride: int = 2, padding: int = 1) -> jax.Array:
    """torch ``MaxPool2d(window, stride, padding)``: -inf padding, floor mode; as torch, refuses ``padding``
    above ``window / 2`` and a window larger than the padded input."""
    check_nhwc(x, "x", nonempty=True)
    window = check_positive_int(window, "window")
    stride = check_positive_int(stride, "stride")
    padding = check_int(padding, "padding", minimum=0)
    if 2 * padding > window:
        raise ValueError(f"padding must be at most half of window ({window}), got {padding} (torch refuses it too)")
    for size, axis in zip(x.shape[1:3], ("height", "width")):
        if size + 2 * padding < window:
            raise ValueError(f"window={window} is larger than the padded input {axis} ({size} + 2 * {padding})")
    return nn.max_pool(x, (window, window), strides=(stride, stride), padding=((padding, padding), (padding, padding)))


def avg_pool_ceil_exclude_pad(x: jax.Array, window: int = 2, stride: int = 2) -> jax.Array:
    """torch ``AvgPool2d(window, stride, ceil_mode=True, count_include_pad=False)``: the last window may hang
    over the edge, and each output is the mean of the real pixels its window covers. As in torch, a window
    starting past the input is dropped and an empty output is refused."""
    check_nhwc(x, "x", nonempty=True)
    window = check_positive_int(window, "window")
    stride = check_positive_int(stride, "stride")

    def extra(size: int, axis: str) -> int:
        out = -(-(size - window) // stride) + 1  # ceil
        if (out - 1) * stride >= size:  # torch: the last window must start inside the input
            out -= 1
        if out < 1:
            raise ValueError(f"window={window} is larger than the input {axis} ({size}): the output would be empty")
        return max(0, (out - 1) * stride + window - size)

    pads = ((0, 0), (0, extra(x.shape[1], "height")), (0, extra(x.shape[2], "width")), (0, 0))
    dims, strides = (1, window, window, 1), (1, stride, stride, 1)
    total = jax.lax.reduce_window(jnp.pad(x, pads), 0.0, jax.lax.add, dims, strides, "VALID")
    ones = jnp.pad(jnp.ones((1,) + x.shape[1:3] + (1,), x.dtype), pads)
    count = jax.lax.reduce_window(ones, 0.0, jax.lax.add, dims, strides, "VALID")
    return total / count
