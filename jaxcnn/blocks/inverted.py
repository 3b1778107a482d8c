"""MobileNetV2's inverted residual (Sandler et al. 2018) and the depthwise-separable convolution."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import flax.linen as nn
import jax

from jaxcnn.declared import (
    AXIS_NAME,
    CALLABLE,
    DTYPE,
    MODULE_DEF,
    ODD_KERNEL,
    OPTIONAL_MODULE_DEF,
    POSITIVE_INT,
    PROBABILITY,
    Declared,
    Rule,
    choice,
    declare,
    number_in,
)
from jaxcnn.layers import BatchNorm, ModuleDef, _conv_kwargs, _make_norm, apply_norm
from jaxcnn.regularizers import stochastic_residual
from jaxcnn.regularizers.stochastic_depth import MODES, TEST_RULES
from jaxcnn.validation import check_bool, check_int, check_nhwc
from jaxcnn.xla_cpu import default_conv

__all__ = ["DepthwiseSeparableConv", "InvertedResidual"]


def _stride_1_or_2(value, name):
    if check_int(value, name) not in (1, 2):
        raise ValueError(f"{name} must be 1 or 2 (MobileNetV2's block), got {value}")


STRIDE_1_OR_2 = Rule("stride_1_or_2", _stride_1_or_2, (3, 0, 2.0, True))


class DepthwiseSeparableConv(Declared, nn.Module):
    """k x k depthwise conv + norm + act, then 1x1 pointwise conv + norm + act (MobileNetV1 unit):
    ``k*k*C + C*F`` weights instead of ``k*k*C*F``. ``conv``/``norm``/``act`` are injected (``None`` conv:
    the backend default); ``kernel_size`` is odd so that padding ``(k-1)//2`` keeps H and W."""

    features: int = declare(POSITIVE_INT)
    kernel_size: int = declare(ODD_KERNEL, 3)
    strides: int = declare(POSITIVE_INT, 1)
    act: Callable = declare(CALLABLE, nn.relu)
    bn_axis_name: str | None = declare(AXIS_NAME, None)
    dtype: Any = declare(DTYPE, None)
    conv: ModuleDef | None = declare(OPTIONAL_MODULE_DEF, None)
    norm: ModuleDef = declare(MODULE_DEF, BatchNorm)

    @nn.compact
    def __call__(self, x: jax.Array, train: bool = False) -> jax.Array:
        check_nhwc(x, "x")
        if not self.scope.path:  # called on its own: train is checked where the call enters jaxcnn
            check_bool(train, "train")
        c = x.shape[-1]
        conv = self.conv if self.conv is not None else default_conv()

        def norm(name, y):
            return apply_norm(_make_norm(self.norm, name, axis_name=self.bn_axis_name, dtype=self.dtype), y, train)

        y = conv(c, **_conv_kwargs(self.kernel_size, self.strides, c), dtype=self.dtype, name="dw_conv")(x)
        y = self.act(norm("dw_bn", y))
        y = conv(self.features, **_conv_kwargs(1), dtype=self.dtype, name="pw_conv")(y)
        return self.act(norm("pw_bn", y))


class InvertedResidual(Declared, nn.Module):
    """MobileNetV2 block: 1x1 expansion to ``round(in * expand_ratio)`` channels (skipped at 1) + BN + act,
    3x3 depthwise + BN + act, 1x1 *linear* projection + BN to ``features``; the input is added back iff
    stride 1 and in == out channels. ``conv``/``norm``/``act`` are injected (backend conv, ``BatchNorm``,
    ReLU6); stochastic depth as ``ResidualBlock``'s, with torchvision's defaults (``'row'``, ``'inverted'``).
    """

    features: int = declare(POSITIVE_INT)
    strides: int = declare(STRIDE_1_OR_2, 1)
    expand_ratio: float = declare(number_in(1.0), 6)
    bn_axis_name: str | None = declare(AXIS_NAME, None)
    dtype: Any = declare(DTYPE, None)
    drop_path_rate: float = declare(PROBABILITY, 0.0)
    drop_path_mode: str = declare(choice(*MODES), "row")
    drop_path_test_rule: str = declare(choice(*TEST_RULES), "inverted")
    conv: ModuleDef | None = declare(OPTIONAL_MODULE_DEF, None)
    norm: ModuleDef = declare(MODULE_DEF, BatchNorm)
    act: Callable = declare(CALLABLE, nn.relu6)

    @nn.compact
    def __call__(self, x: jax.Array, train: bool = False) -> jax.Array:
        check_nhwc(x, "x")
        if not self.scope.path:  # called on its own: train is checked where the call enters jaxcnn
            check_bool(train, "train")
        in_features = x.shape[-1]
        residual = self.strides == 1 and in_features == self.features
        cond = residual and float(self.drop_path_rate) > 0 and self.drop_path_mode == "batch"
        conv = self.conv if self.conv is not None else default_conv(control_flow=cond)
        hidden = int(round(in_features * self.expand_ratio))  # torchvision's rule

        def norm(mdl, name, y):
            bn = _make_norm(self.norm, name, axis_name=self.bn_axis_name, dtype=self.dtype, parent=mdl)
            return apply_norm(bn, y, train)

        def branch(mdl, y):
            if self.expand_ratio != 1:
                y = conv(hidden, **_conv_kwargs(1), dtype=self.dtype, name="expand_conv", parent=mdl)(y)
                y = self.act(norm(mdl, "expand_bn", y))
            y = conv(hidden, **_conv_kwargs(3, self.strides, hidden), dtype=self.dtype, name="dw_conv", parent=mdl)(y)
            y = self.act(norm(mdl, "dw_bn", y))
            y = conv(self.features, **_conv_kwargs(1), dtype=self.dtype, name="project_conv", parent=mdl)(y)
            return norm(mdl, "project_bn", y)  # linear

        if not residual:
            return branch(self, x)
        if self.drop_path_rate == 0.0:
            return x + branch(self, x)
        return stochastic_residual(
            self,
            branch,
            x,
            x,
            survival_prob=1.0 - float(self.drop_path_rate),
            deterministic=not train,
            mode=self.drop_path_mode,
            test_rule=self.drop_path_test_rule,
        )
