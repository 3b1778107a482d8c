"""The CIFAR ResNet-20 layout built from MobileNetV2 inverted residuals, for ``experiments.tradeoffs``.

The layout is the one ``create_model('cifar_resnet20', stage_sizes=...)`` builds (3x3 stem conv-BN-ReLU
to 16 channels, three stages of ``n`` blocks at 16/32/64 channels with strides 1/2/2, global average
pool, linear head), so that only the block differs from the study's ResNet rows:
``jaxcnn.blocks.InvertedResidual`` (1x1 expand x6, 3x3 depthwise, linear 1x1; residual where the
shape allows). The library's ``MobileNetV2`` has the ImageNet layout (stride-2 stem, 1280-channel
head), which would not be a matched comparison on 32x32 images.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp

from jaxcnn.blocks import InvertedResidual
from jaxcnn.layers import BatchNorm, Conv, conv_args, global_avg_pool

__all__ = ["CifarMBConv"]


class CifarMBConv(nn.Module):
    """CIFAR ResNet-20 layout of :class:`jaxcnn.blocks.InvertedResidual` blocks (NHWC in, float32 logits out)."""

    num_classes: int = 10
    stage_sizes: Sequence[int] = (3, 3, 3)
    widths: Sequence[int] = (16, 32, 64)
    expand_ratio: float = 6

    def __call__(self, x: jax.Array, train: bool = False) -> jax.Array:
        return self._forward(x, train, head=True)["logits"]

    def features(self, x: jax.Array, train: bool = False) -> OrderedDict:
        """Named NHWC maps: ``stem``, ``stage1``..``stage3``, ``final`` (what ``model_complexity`` splits by)."""
        return self._forward(x, train, head=False)

    @nn.compact
    def _forward(self, x, train: bool, head: bool) -> OrderedDict:
        feats = OrderedDict()
        x = Conv(self.widths[0], **conv_args(3), name="conv1")(x)
        x = nn.relu(BatchNorm(use_running_average=not train, name="bn1")(x))
        feats["stem"] = x
        for i, (n, width) in enumerate(zip(self.stage_sizes, self.widths)):
            for j in range(n):
                stride = 2 if i > 0 and j == 0 else 1
                x = InvertedResidual(width, stride, self.expand_ratio, name=f"layer{i + 1}_{j}")(x, train)
            feats[f"stage{i + 1}"] = x
        feats["final"] = x
        if head:
            logits = nn.Dense(self.num_classes, name="fc")(global_avg_pool(x))
            feats["logits"] = jnp.asarray(logits, jnp.float32)
        return feats
