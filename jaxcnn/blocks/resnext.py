"""ResNeXt bottleneck (Xie et al. 2017) in its two equivalent forms: grouped (c), a ``BottleneckBlock``
whose 3x3 conv has C groups, and split-branch (a), C ordinary 1x1-3x3-1x1 paths summed, F(x) = sum_i T_i(x)
(per-branch BN equals the grouped BN on the same channel slice). ``jaxcnn.identities.resnext`` maps
weights between them.
"""

from __future__ import annotations

from jaxcnn.blocks.residual import BottleneckBlock, GroupedBlock
from jaxcnn.declared import FLAG, POSITIVE_INT, declare
from jaxcnn.layers import apply_norm

__all__ = ["ResNeXtBottleneck", "ResNeXtBranches"]


class ResNeXtBottleneck(BottleneckBlock):
    """Form (c): ``BottleneckBlock`` with ResNeXt-50 32x4d's defaults (``groups=32``, ``base_width=4``)."""

    groups: int = declare(POSITIVE_INT, 32)
    base_width: int = declare(POSITIVE_INT, 4)


class ResNeXtBranches(GroupedBlock):
    """Form (a): ``groups`` explicit branches of ``width // groups`` channels, summed (no grouped conv)."""

    groups: int = declare(POSITIVE_INT, 32)
    base_width: int = declare(POSITIVE_INT, 4)
    stride_on_3x3: bool = declare(FLAG, True)

    def setup_branch(self):
        d = self.width // self.groups
        s1, s3 = (1, self.strides) if self.stride_on_3x3 else (self.strides, 1)
        self.conv1 = [self._conv(d, 1, s1) for _ in range(self.groups)]
        self.bn1 = [self._bn() for _ in range(self.groups)]
        self.conv2 = [self._conv(d, 3, s3) for _ in range(self.groups)]
        self.bn2 = [self._bn() for _ in range(self.groups)]
        self.conv3 = [self._conv(self.out_features, 1) for _ in range(self.groups)]
        self.bn3 = self._bn(zero_init=self.zero_init_last_bn)

    def branch(self, x, train):
        total = 0.0
        for i in range(self.groups):  # T_i(x): an ordinary small bottleneck path
            y = self.act(apply_norm(self.bn1[i], self.conv1[i](x), train))
            y = self.act(apply_norm(self.bn2[i], self.conv2[i](y), train))
            total = total + self.conv3[i](y)
        return apply_norm(self.bn3, total, train)
