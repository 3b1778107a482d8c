"""Conv / norm / activation helpers shared by every block.

Two conventions live here so that no block re-invents them:

* convs pad explicitly and symmetrically, ``((k-1)//2*d, (k-1)//2*d)``, like PyTorch
  (``conv_args``).
  Flax's ``'SAME'`` pads ``(0, 1)`` for stride 2 on even inputs where torch pads ``(1, 1)``,
  which silently breaks imported weights.
* :class:`BatchNorm` uses torchvision's momentum (0.9 in Flax terms, 0.1 in torch terms) and
  epsilon 1e-5, so weights and statistics port both ways.

Blocks and models take ``conv`` and ``norm`` as injected ``ModuleDef``s (defaults :class:`Conv`
and :class:`BatchNorm`), the Flax ImageNet example's idiom; ``make_norm``/``apply_norm`` let a
block use any norm, with or without running statistics.
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
    """Symmetric padding PyTorch models use for an odd kernel: ``(k-1)//2 * d`` on each side.

    This is 'same' padding (stride 1 keeps H and W), which exists only for odd kernels: an even
    ``kernel_size`` is refused (``(k-1)//2`` would shrink every output by ``d`` pixels). For an
    even kernel pass the padding you want to :class:`Conv` explicitly, as in torch.
    """
    kernel_size = check_odd_kernel(kernel_size, "kernel_size")
    dilation = check_positive_int(dilation, "dilation")
    p = (kernel_size - 1) // 2 * dilation
    return ((p, p), (p, p))


ModuleDef = Any  # a module class or functools.partial of one, called with the kwargs shown below


class Conv(Declared, nn.Conv):
    """``nn.Conv`` with torchvision's defaults (no bias, kaiming fan-out init) whose size fields are
    declared (integers >= 1, checked at construction) and which names the problem when ``groups``
    (``feature_group_count``) does not divide the channels. The padding is whatever the caller
    passes, so an even kernel is fine here (as in torch, with explicit padding).

    This is the default ``conv`` of every jaxcnn block and model. Any ``ModuleDef`` taking
    ``nn.Conv``'s keyword arguments (``features, kernel_size, strides, padding,
    kernel_dilation, feature_group_count, dtype, name``) can replace it, e.g.
    :class:`WeightStandardizedConv` or ``jaxcnn.xla_cpu.GemmGradConv``.
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
    """Conv whose kernel is standardised per output channel before use (Qiao et al. 2019; BiT).

    ``W_hat = (W - mean) / sqrt(var + eps)`` with mean and (biased) variance over each output
    channel's ``kh * kw * in`` weights. Pairs with GroupNorm: ``ResNet(block_args=dict(
    conv=WeightStandardizedConv, norm=partial(nn.GroupNorm, num_groups=32)))``. Same parameters as :class:`Conv`.
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
    """``nn.BatchNorm`` with torchvision's momentum (0.9 here, 0.1 in torch) and epsilon 1e-5:
    weights and statistics port both ways. The default ``norm`` of every jaxcnn block and model.
    A momentum outside [0, 1] is a units mix-up and is refused at construction."""

    momentum: float = declare(UNIT_INTERVAL, 0.9)
    epsilon: float = declare(POSITIVE_NUMBER, 1e-5)


def conv_args(kernel_size: int, stride: int = 1, groups: int = 1, dilation: int = 1) -> dict:
    """``nn.Conv`` keyword arguments of a square conv with torch's symmetric 'same' padding.

    ``kernel_size`` must be odd (see :func:`torch_padding`); ``stride``, ``groups`` and
    ``dilation`` are integers >= 1.
    """
    torch_padding(kernel_size, dilation)
    return _conv_kwargs(
        kernel_size, check_positive_int(stride, "stride"), check_positive_int(groups, "groups"), dilation
    )


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
    """A square ``module`` conv (default :class:`Conv`) with torch-compatible explicit 'same' padding.

    The arguments are checked here, by these names: ``features``, ``stride``, ``groups`` and
    ``dilation`` are integers >= 1 and ``kernel_size`` is odd (the padding ``(k-1)//2 * d``
    keeps H and W only for odd kernels; for an even one construct :class:`Conv` with explicit
    ``padding``, as torch does). Whether ``groups`` divides the input channels is checked on call.
    """
    check_positive_int(features, "features")
    check_bool(use_bias, "use_bias")
    check_callable(module, "module")
    check_callable(kernel_init, "kernel_init")
    if name is not None:
        check_str(name, "name")
    return module(
        features,
        **conv_args(kernel_size, stride, groups, dilation),
        use_bias=use_bias,
        kernel_init=kernel_init,
        dtype=dtype,
        name=name,
    )


def make_norm(
    norm: ModuleDef,
    name: str | None = None,
    zero_init: bool = False,
    axis_name: str | None = None,
    dtype: Any = None,
    **kwargs,
) -> nn.Module:
    """Instantiate an injected ``norm``; ``zero_init`` sets its scale to 0 (last norm of a branch).

    ``axis_name`` and ``dtype`` are passed only when set, so any norm with the usual Flax
    fields (``nn.BatchNorm``, ``nn.GroupNorm``, ``nn.LayerNorm``) fits; ``kwargs`` (e.g.
    ``parent``) go to the module as they are.
    """
    check_callable(norm, "norm")
    check_bool(zero_init, "zero_init")
    return _make_norm(norm, name, zero_init, axis_name, dtype, **kwargs)


def _make_norm(
    norm: ModuleDef,
    name: str | None = None,
    zero_init: bool = False,
    axis_name: str | None = None,
    dtype: Any = None,
    **kwargs,
) -> nn.Module:
    """:func:`make_norm` for values already checked (the declared fields of a block or model)."""
    kw: dict = {"name": name, **kwargs}
    if zero_init:
        kw["scale_init"] = nn.initializers.zeros
    if axis_name is not None:
        kw["axis_name"] = axis_name
    if dtype is not None:
        kw["dtype"] = dtype
    return norm(**kw)


def apply_norm(module: nn.Module, x: jax.Array, train: bool) -> jax.Array:
    """Call a norm module: batch statistics when ``train`` for a norm with running averages
    (a ``use_running_average`` field, as ``nn.BatchNorm``), a plain call for any other norm.
    ``train`` is a bool checked where the call enters jaxcnn (the model or block), not here."""
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
    """:class:`BatchNorm`; ``zero_init`` sets gamma = 0 (last BN of a branch).

    ``train=None`` leaves ``use_running_average`` to be passed at call time (setup-style blocks).
    """
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
    """Round channels to a multiple of ``divisor`` without going below 90% (MobileNet rule).

    ``value`` is a finite number >= 0, ``divisor`` and ``min_value`` (default ``divisor``) integers >= 1.
    """
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
    """torch ``MaxPool2d(window, stride, padding)``: padding with -inf, floor mode.

    As torch, refuses ``padding`` above ``window / 2`` (a window of padding only) and a window
    larger than the padded input (an empty output).
    """
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
    """torch ``AvgPool2d(window, stride, ceil_mode=True, count_include_pad=False)``.

    ceil mode lets the last window hang over the edge; the overhang is padding that is not
    counted, so each output is the mean of the real pixels its window covers. As in torch, a
    window that would start past the input is dropped (``stride > window``; it would be 0/0) and
    an empty output is refused. ``window`` and ``stride`` are integers >= 1; an integer ``x``
    gives a floating-point mean.
    """
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
