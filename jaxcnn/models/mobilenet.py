"""MobileNetV2 (Sandler et al. 2018), torchvision's layout and channel rounding.

3,504,872 parameters at width 1.0 with 1000 classes, equal to torchvision's ``mobilenet_v2``.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Any, Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp

from jaxcnn.blocks.inverted import InvertedResidual
from jaxcnn.layers import global_avg_pool, batch_norm, check_nhwc, conv, make_divisible

# (expand ratio t, output channels c, repeats n, first stride s): Table 2 of the paper.
MOBILENET_V2_SETTINGS = ((1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1), (6, 160, 3, 2), (6, 320, 1, 1))


class MobileNetV2(nn.Module):
    """MobileNetV2; ``drop_path_rate`` is the maximum per-sample drop rate of the residual
    blocks, scaled linearly by block index with ``drop_path_rule`` (see
    ``jaxcnn.regularizers.survival_probabilities``)."""

    num_classes: int = 1000
    width_mult: float = 1.0
    in_channels: int = 3
    settings: Sequence[tuple] = MOBILENET_V2_SETTINGS
    dropout_rate: float = 0.2
    drop_path_rate: float = 0.0
    drop_path_rule: str = "torchvision"
    bn_axis_name: str | None = None
    dtype: Any = None

    def __call__(self, x: jax.Array, train: bool = False) -> jax.Array:
        return self._forward(x, train, head=True)["logits"]

    def features(self, x: jax.Array, train: bool = False):
        """Named NHWC maps: ``stem``, ``stage1``..``stage7`` (one per row of Table 2), ``final``."""
        return self._forward(x, train, head=False)

    def _drop_rates(self, n):
        if self.drop_path_rate == 0:
            return [0.0] * n
        from jaxcnn.regularizers import survival_probabilities

        probs = survival_probabilities(n, final_survival=1.0 - self.drop_path_rate, rule=self.drop_path_rule)
        return [1.0 - float(p) for p in probs]

    @nn.compact
    def _forward(self, x, train, head):
        check_nhwc(x, "x", channels=self.in_channels)
        if self.width_mult <= 0:
            raise ValueError(f"width_mult must be positive, got {self.width_mult}")
        bn = lambda name: batch_norm(train, name=name, axis_name=self.bn_axis_name, dtype=self.dtype)
        feats = OrderedDict()
        stem = make_divisible(32 * self.width_mult, 8)
        x = nn.relu6(bn("stem_bn")(conv(stem, 3, 2, dtype=self.dtype, name="stem_conv")(x)))
        feats["stem"] = x
        rates = iter(self._drop_rates(sum(n for _, _, n, _ in self.settings)))
        k = 0
        for si, (t, c, n, s) in enumerate(self.settings):
            out = make_divisible(c * self.width_mult, 8)
            for i in range(n):
                x = InvertedResidual(
                    out, s if i == 0 else 1, t, bn_axis_name=self.bn_axis_name, dtype=self.dtype,
                    drop_path_rate=next(rates), name=f"block{k}",
                )(x, train)
                k += 1
            feats[f"stage{si + 1}"] = x
        last = make_divisible(1280 * max(1.0, self.width_mult), 8)
        x = nn.relu6(bn("head_bn")(conv(last, 1, dtype=self.dtype, name="head_conv")(x)))
        feats["final"] = x
        if head:
            y = global_avg_pool(x)
            y = nn.Dropout(self.dropout_rate, deterministic=not train)(y)
            feats["logits"] = jnp.asarray(nn.Dense(self.num_classes, dtype=self.dtype, name="classifier")(y), jnp.float32)
        return feats
