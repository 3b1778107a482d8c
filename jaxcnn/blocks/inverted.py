"""MobileNetV2 inverted residual and the depthwise-separable convolution.

Inverted residual (Sandler et al. 2018): 1x1 expansion to ``round(in * t)`` channels (skipped
when t = 1, as torchvision does) + BN + ReLU6, 3x3 depthwise + BN + ReLU6, 1x1 *linear*
projection + BN with no activation (the "linear bottleneck": ReLU on a thin representation
destroys information). The input is added back iff stride is 1 and in == out channels.
"""

from __future__ import annotations

from typing import Any, Callable

import flax.linen as nn
import jax

from jaxcnn.layers import BatchNorm, ModuleDef, apply_norm, conv_args, make_norm
from jaxcnn.blocks.residual import _check_layers
from jaxcnn.validation import check_bool, check_int, check_nhwc, check_number, check_odd_kernel, check_positive_int
from jaxcnn.regularizers import stochastic_residual
from jaxcnn.regularizers.stochastic_depth import check_drop_path_fields
from jaxcnn.xla_cpu import default_conv

__all__ = ["DepthwiseSeparableConv", "InvertedResidual"]


class DepthwiseSeparableConv(nn.Module):
    """k x k depthwise conv + norm + act, then 1x1 pointwise conv + norm + act (MobileNetV1 unit).

    Costs ``k*k*C + C*F`` weights instead of ``k*k*C*F`` for the dense conv it factorises.
    ``conv``/``norm``/``act`` are injected as in every jaxcnn block (``None`` conv: the backend
    default, ``jaxcnn.layers.Conv``). ``kernel_size`` must be odd: the block keeps H and W (at
    stride 1) with padding ``(k-1)//2``, which an even kernel cannot do.
    """

    features: int
    kernel_size: int = 3
    strides: int = 1
    act: Callable = nn.relu
    bn_axis_name: str | None = None
    dtype: Any = None
    conv: ModuleDef | None = None
    norm: ModuleDef = BatchNorm

    @nn.compact
    def __call__(self, x: jax.Array, train: bool = False) -> jax.Array:
        check_positive_int(self.features, "features")
        check_odd_kernel(self.kernel_size, "kernel_size")
        check_positive_int(self.strides, "strides")
        _check_layers(self)
        check_nhwc(x, "x")
        check_bool(train, "train")
        c = x.shape[-1]
        conv = self.conv if self.conv is not None else default_conv()
        norm = lambda name, y: apply_norm(make_norm(self.norm, name, axis_name=self.bn_axis_name, dtype=self.dtype), y, train)
        y = conv(c, **conv_args(self.kernel_size, self.strides, c), dtype=self.dtype, name="dw_conv")(x)
        y = self.act(norm("dw_bn", y))
        y = conv(self.features, **conv_args(1), dtype=self.dtype, name="pw_conv")(y)
        return self.act(norm("pw_bn", y))


class InvertedResidual(nn.Module):
    """MobileNetV2 block; ``features`` is the output channel count, ``expand_ratio`` is t.

    ``conv``/``norm``/``act`` are injected (defaults: backend conv, ``BatchNorm``, ReLU6).
    Stochastic depth on the residual sum has the same fields and semantics as
    ``jaxcnn.blocks.ResidualBlock``'s; the defaults here are torchvision's (``'row'`` mode,
    ``'inverted'`` test rule), ResNet's are the paper's.
    """

    features: int
    strides: int = 1
    expand_ratio: float = 6
    bn_axis_name: str | None = None
    dtype: Any = None
    drop_path_rate: float = 0.0
    drop_path_mode: str = "row"
    drop_path_test_rule: str = "inverted"
    conv: ModuleDef | None = None
    norm: ModuleDef = BatchNorm
    act: Callable = nn.relu6

    def hidden_features(self, in_features: int) -> int:
        return int(round(in_features * self.expand_ratio))  # torchvision's rule

    @nn.compact
    def __call__(self, x: jax.Array, train: bool = False) -> jax.Array:
        check_positive_int(self.features, "features")
        if check_int(self.strides, "strides") not in (1, 2):
            raise ValueError(f"strides must be 1 or 2 (MobileNetV2's block), got {self.strides}")
        check_number(self.expand_ratio, "expand_ratio", minimum=1.0)
        check_drop_path_fields(self.drop_path_rate, self.drop_path_mode, self.drop_path_test_rule)
        _check_layers(self)
        check_nhwc(x, "x")
        check_bool(train, "train")
        in_features = x.shape[-1]
        residual = self.strides == 1 and in_features == self.features
        cond = residual and float(self.drop_path_rate) > 0 and self.drop_path_mode == "batch"
        conv = self.conv if self.conv is not None else default_conv(control_flow=cond)
        hidden = self.hidden_features(in_features)

        def norm(mdl, name, y):
            return apply_norm(make_norm(self.norm, name, axis_name=self.bn_axis_name, dtype=self.dtype, parent=mdl), y, train)

        def branch(mdl, y):
            if self.expand_ratio != 1:
                y = self.act(norm(mdl, "expand_bn", conv(hidden, **conv_args(1), dtype=self.dtype, name="expand_conv", parent=mdl)(y)))
            y = conv(hidden, **conv_args(3, self.strides, hidden), dtype=self.dtype, name="dw_conv", parent=mdl)(y)
            y = self.act(norm(mdl, "dw_bn", y))
            return norm(mdl, "project_bn", conv(self.features, **conv_args(1), dtype=self.dtype, name="project_conv", parent=mdl)(y))  # linear

        if not residual:
            return branch(self, x)
        if self.drop_path_rate == 0.0:
            return x + branch(self, x)
        return stochastic_residual(
            self, branch, x, x, survival_prob=1.0 - float(self.drop_path_rate), deterministic=not train,
            mode=self.drop_path_mode, test_rule=self.drop_path_test_rule,
        )
