"""MobileNetV2 inverted residual and the depthwise-separable convolution.

Inverted residual (Sandler et al. 2018): 1x1 expansion to ``round(in * t)`` channels (skipped
when t = 1, as torchvision does) + BN + ReLU6, 3x3 depthwise + BN + ReLU6, 1x1 *linear*
projection + BN with no activation (the "linear bottleneck": ReLU on a thin representation
destroys information). The input is added back iff stride is 1 and in == out channels.
"""

from __future__ import annotations

from typing import Any

import flax.linen as nn
import jax

from jaxcnn.layers import batch_norm, check_nhwc, check_positive_int, conv


class DepthwiseSeparableConv(nn.Module):
    """k x k depthwise conv + BN + act, then 1x1 pointwise conv + BN + act (MobileNetV1 unit).

    Costs ``k*k*C + C*F`` weights instead of ``k*k*C*F`` for the dense conv it factorises.
    """

    features: int
    kernel_size: int = 3
    strides: int = 1
    activation: Any = nn.relu
    bn_axis_name: str | None = None
    dtype: Any = None

    @nn.compact
    def __call__(self, x: jax.Array, train: bool = False) -> jax.Array:
        check_nhwc(x, "x")
        check_positive_int(self.features, "features")
        c = x.shape[-1]
        bn = lambda name: batch_norm(train, name=name, axis_name=self.bn_axis_name, dtype=self.dtype)
        y = conv(c, self.kernel_size, self.strides, groups=c, dtype=self.dtype, name="dw_conv")(x)
        y = self.activation(bn("dw_bn")(y))
        y = conv(self.features, 1, dtype=self.dtype, name="pw_conv")(y)
        return self.activation(bn("pw_bn")(y))


class InvertedResidual(nn.Module):
    """MobileNetV2 block; ``features`` is the output channel count, ``expand_ratio`` is t."""

    features: int
    strides: int = 1
    expand_ratio: float = 6
    bn_axis_name: str | None = None
    dtype: Any = None
    drop_path_rate: float = 0.0
    drop_path_mode: str = "row"
    drop_path_test_rule: str = "inverted"

    def hidden_features(self, in_features: int) -> int:
        return int(round(in_features * self.expand_ratio))  # torchvision's rule

    @nn.compact
    def __call__(self, x: jax.Array, train: bool = False) -> jax.Array:
        check_nhwc(x, "x")
        check_positive_int(self.features, "features")
        if self.strides not in (1, 2):
            raise ValueError(f"strides must be 1 or 2, got {self.strides}")
        if self.expand_ratio < 1:
            raise ValueError(f"expand_ratio must be >= 1, got {self.expand_ratio}")
        in_features = x.shape[-1]
        hidden = self.hidden_features(in_features)
        bn = lambda name: batch_norm(train, name=name, axis_name=self.bn_axis_name, dtype=self.dtype)
        y = x
        if self.expand_ratio != 1:
            y = nn.relu6(bn("expand_bn")(conv(hidden, 1, dtype=self.dtype, name="expand_conv")(y)))
        y = conv(hidden, 3, self.strides, groups=hidden, dtype=self.dtype, name="dw_conv")(y)
        y = nn.relu6(bn("dw_bn")(y))
        y = bn("project_bn")(conv(self.features, 1, dtype=self.dtype, name="project_conv")(y))  # linear
        if self.strides == 1 and in_features == self.features:
            if self.drop_path_rate > 0.0 and train:
                from jaxcnn.regularizers import stochastic_depth

                key = self.make_rng("dropout")
                y = stochastic_depth(key, y, self.drop_path_rate, mode=self.drop_path_mode)
            return x + y
        return y
