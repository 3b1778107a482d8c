"""Residual blocks: post-activation (He et al. 2015) and full pre-activation (He et al. 2016).

Every block is written in ``setup`` style with two methods, ``branch(x, train)`` (the residual
function F) and ``shortcut(x, train)``, so that the sum ``F(x) + shortcut(x)`` is visible in one
line and a regularizer can wrap the branch alone (stochastic depth skips ``branch`` entirely).

Submodule names follow torchvision (``conv1``, ``bn1``, ...) so the weight converter in
``jaxcnn.interop`` is a renaming; the projection shortcut is ``conv_proj`` / ``norm_proj``.
The layers are injected: ``conv``, ``norm`` and ``act`` fields (see ``ResidualBlock``).

Shortcut types (ResNet paper, section 4.1, and Bag of Tricks for ResNet-D):

``'A'``  parameter-free: strided subsampling ``x[:, ::s, ::s]`` and zero channel padding (half the
         new channels before, half after, as in the widely used CIFAR reimplementations).
``'B'``  identity, or 1x1 conv (stride s) + BN where the shape changes.
``'C'``  1x1 conv + BN on every block.
``'D'``  identity, or 2x2 avg-pool (ceil mode, count_include_pad=False) when strided, then
         1x1 conv (stride 1) + BN where the shape changes.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar

import flax.linen as nn
import jax
import jax.numpy as jnp

from jaxcnn.blocks.squeeze_excite import SqueezeExcite
from jaxcnn.declared import (
    AXIS_NAME,
    CALLABLE,
    DTYPE,
    FLAG,
    MODULE_DEF,
    OPTIONAL_MODULE_DEF,
    POSITIVE_INT,
    PROBABILITY,
    Declared,
    choice,
    declare,
    optional,
)
from jaxcnn.layers import BatchNorm, ModuleDef, _conv_kwargs, _make_norm, apply_norm, avg_pool_ceil_exclude_pad
from jaxcnn.regularizers import stochastic_residual
from jaxcnn.regularizers.stochastic_depth import MODES, TEST_RULES
from jaxcnn.validation import check_bool, check_nhwc, check_positive_int
from jaxcnn.xla_cpu import default_conv

__all__ = [
    "SHORTCUT_TYPES",
    "zero_pad_shortcut",
    "ResidualBlock",
    "GroupedBlock",
    "BasicBlock",
    "BottleneckBlock",
    "PreActBasicBlock",
    "PreActBottleneckBlock",
    "BLOCKS",
]

SHORTCUT_TYPES = ("A", "B", "C", "D")


def zero_pad_shortcut(x: jax.Array, out_features: int, stride: int) -> jax.Array:
    """Option A: subsample by ``stride`` and zero-pad channels up to ``out_features``.

    ``x`` is NHWC, ``stride`` an integer >= 1, ``out_features`` an integer >= the input channels.
    """
    check_nhwc(x, "x")
    out_features = check_positive_int(out_features, "out_features")
    stride = check_positive_int(stride, "stride")
    in_features = x.shape[-1]
    if out_features < in_features:
        raise ValueError(
            f"shortcut 'A' can only widen: input has {in_features} channels, block outputs out_features={out_features}"
        )
    if stride > 1:
        x = x[:, ::stride, ::stride, :]
    extra = out_features - in_features
    return jnp.pad(x, ((0, 0), (0, 0), (0, 0), (extra // 2, extra - extra // 2)))


class ResidualBlock(Declared, nn.Module):
    """Shared fields, the shortcut, the drop-path sum and the one ``__call__`` of every residual block.

    Subclasses define ``setup_branch`` (the branch's layers) and ``branch(x, train)``; a
    pre-activation block (``preact = True``) names its first norm ``bn1``, applied to the input
    before both the branch and a projection shortcut.

    Layers are injected (the Flax ImageNet example's idiom): ``conv`` is a ``ModuleDef`` called
    with ``nn.Conv``'s keyword arguments (``None``: ``jaxcnn.xla_cpu.default_conv``, i.e.
    ``jaxcnn.layers.Conv`` except on XLA:CPU inside a cond); ``norm`` any Flax norm
    (``jaxcnn.layers.BatchNorm`` by default, ``partial(nn.GroupNorm, num_groups=32)`` for
    BiT-style nets); ``act`` the nonlinearity (``nn.relu``).

    ``drop_path_rate`` is the probability of dropping the branch (stochastic depth);
    ``drop_path_mode`` is ``'batch'`` (paper: whole mini-batch, skips compute) or ``'row'``
    (per sample); ``drop_path_test_rule`` is ``'paper'`` (scale by survival at test time) or
    ``'inverted'`` (divide by survival at train time). Fields are checked at construction.
    """

    features: int = declare(POSITIVE_INT)  # "planes": the block outputs features * expansion channels
    strides: int = declare(POSITIVE_INT, 1)
    shortcut_type: str = declare(choice(*SHORTCUT_TYPES), "B")
    zero_init_last_bn: bool = declare(FLAG, False)
    bn_axis_name: str | None = declare(AXIS_NAME, None)
    dtype: Any = declare(DTYPE, None)
    drop_path_rate: float = declare(PROBABILITY, 0.0)
    drop_path_mode: str = declare(choice(*MODES), "batch")
    drop_path_test_rule: str = declare(choice(*TEST_RULES), "paper")
    conv: ModuleDef | None = declare(OPTIONAL_MODULE_DEF, None)
    norm: ModuleDef = declare(MODULE_DEF, BatchNorm)
    act: Callable = declare(CALLABLE, nn.relu)

    expansion: ClassVar[int] = 1
    preact: ClassVar[bool] = False

    def check_relations(self):
        if self.preact and self.zero_init_last_bn:
            raise self.field_error(
                "zero_init_last_bn",
                "a pre-activation block has no BN after its last conv (its "
                "BNs come before the convs), so there is no last BN to zero",
            )

    @property
    def out_features(self) -> int:
        return self.features * self.expansion

    def setup(self):
        self.setup_branch()
        if self.shortcut_type in "BCD":
            stride = 1 if self.shortcut_type == "D" else self.strides
            # the shortcut is never in a cond
            self.conv_proj = self._conv(self.out_features, 1, stride, in_branch=False)
            # Pre-activation blocks project the already normalised input: no BN on the shortcut.
            if not self.preact:
                self.norm_proj = self._bn()

    def _conv(self, features: int, kernel_size: int, stride: int = 1, groups: int = 1, in_branch: bool = True):
        """An injected conv with torch padding. Without an injected one the backend default is
        used, which knows whether the branch runs inside a cond (batch-mode stochastic depth)."""
        cond = in_branch and float(self.drop_path_rate) > 0 and self.drop_path_mode == "batch"
        cls = self.conv if self.conv is not None else default_conv(control_flow=cond)
        return cls(features, **_conv_kwargs(kernel_size, stride, groups), dtype=self.dtype)

    def _bn(self, zero_init: bool = False):
        return _make_norm(self.norm, zero_init=zero_init, axis_name=self.bn_axis_name, dtype=self.dtype)

    def needs_projection(self, in_features: int) -> bool:
        return self.shortcut_type == "C" or self.strides > 1 or in_features != self.out_features

    def shortcut(self, x: jax.Array, train: bool) -> jax.Array:
        if not self.needs_projection(x.shape[-1]):
            return x
        if self.shortcut_type == "A":
            return zero_pad_shortcut(x, self.out_features, self.strides)
        if self.shortcut_type == "D" and self.strides > 1:
            x = avg_pool_ceil_exclude_pad(x, self.strides, self.strides)
        y = self.conv_proj(x)
        return y if self.preact else apply_norm(self.norm_proj, y, train)

    def residual_add(self, x: jax.Array, shortcut: jax.Array, train: bool) -> jax.Array:
        """``branch(x) + shortcut``, under stochastic depth when ``drop_path_rate > 0``.

        In ``'batch'`` mode a dropped branch is skipped by ``nn.cond``: no compute, zero
        gradient, BatchNorm statistics unchanged (see ``jaxcnn.regularizers.stochastic_residual``).
        """
        if self.drop_path_rate == 0.0:
            return self.branch(x, train) + shortcut
        return stochastic_residual(
            self,
            lambda mdl, h: mdl.branch(h, train),
            x,
            shortcut,
            survival_prob=1.0 - float(self.drop_path_rate),
            deterministic=not train,
            mode=self.drop_path_mode,
            test_rule=self.drop_path_test_rule,
        )

    def preactivate(self, x, train):
        return self.act(apply_norm(self.bn1, x, train))

    def __call__(self, x, train: bool = False):
        check_nhwc(x, "x")
        if not self.scope.path:  # called on its own: train is checked where the call enters jaxcnn
            check_bool(train, "train")
        if not self.preact:
            return self.act(self.residual_add(x, self.shortcut(x, train), train))
        # The projection shortcut takes the pre-activated input (BN-ReLU(x)), as in the authors' code.
        pre = self.preactivate(x, train)
        short = self.shortcut(pre, train) if self.needs_projection(x.shape[-1]) else x
        return self.residual_add(pre, short, train)


class GroupedBlock(ResidualBlock):
    """A bottleneck-shaped block with ``groups`` and ``base_width`` (ResNeXt, Wide ResNet): the one
    inner-width formula, ``int(features * base_width / 64) * groups``, and its check."""

    groups: int = declare(POSITIVE_INT, 1)
    base_width: int = declare(POSITIVE_INT, 64)

    expansion: ClassVar[int] = 4

    @property
    def width(self) -> int:
        return int(self.features * self.base_width / 64) * self.groups

    def check_relations(self):
        super().check_relations()
        if self.width < 1:
            raise self.field_error(
                "features",
                f"the inner width int(features * base_width / 64) * groups is 0 with "
                f"base_width={self.base_width}: features * base_width must be >= 64",
            )


class BasicBlock(ResidualBlock):
    """conv3x3-BN-ReLU-conv3x3-BN, add shortcut, ReLU (ResNet-18/34, CIFAR ResNets)."""

    def setup_branch(self):
        self.conv1 = self._conv(self.features, 3, self.strides)
        self.bn1 = self._bn()
        self.conv2 = self._conv(self.features, 3)
        self.bn2 = self._bn(zero_init=self.zero_init_last_bn)

    def branch(self, x, train):
        y = self.act(apply_norm(self.bn1, self.conv1(x), train))
        return apply_norm(self.bn2, self.conv2(y), train)


class BottleneckBlock(GroupedBlock):
    """1x1-BN-ReLU, 3x3-BN-ReLU, 1x1-BN (x4 channels), add shortcut, ReLU.

    ``stride_on_3x3=True`` is torchvision's "ResNet v1.5" (stride on the 3x3 conv, as in
    "Deep Residual Learning" follow-ups and the Flax example); ``False`` is the paper's v1
    layout with the stride on the first 1x1. ``groups``/``base_width`` give ResNeXt and Wide
    ResNet (see :class:`GroupedBlock`). ``se_reduction`` adds a Squeeze-and-Excitation gate on
    the branch output, before the addition (SE-ResNet).
    """

    stride_on_3x3: bool = declare(FLAG, True)
    se_reduction: int | None = declare(optional(POSITIVE_INT), None)

    def check_relations(self):
        super().check_relations()
        if self.se_reduction is not None and self.out_features // self.se_reduction < 1:
            raise self.field_error(
                "se_reduction",
                f"it leaves no hidden units in the SE gate of {self.out_features} "
                f"channels (features * {self.expansion} // se_reduction must be >= 1)",
            )

    def setup_branch(self):
        s1, s3 = (1, self.strides) if self.stride_on_3x3 else (self.strides, 1)
        self.conv1 = self._conv(self.width, 1, s1)
        self.bn1 = self._bn()
        self.conv2 = self._conv(self.width, 3, s3, self.groups)
        self.bn2 = self._bn()
        self.conv3 = self._conv(self.out_features, 1)
        self.bn3 = self._bn(zero_init=self.zero_init_last_bn)
        if self.se_reduction is not None:
            self.se = SqueezeExcite(reduction=self.se_reduction, act=self.act, dtype=self.dtype)

    def branch(self, x, train):
        y = self.act(apply_norm(self.bn1, self.conv1(x), train))
        y = self.act(apply_norm(self.bn2, self.conv2(y), train))
        y = apply_norm(self.bn3, self.conv3(y), train)
        return self.se(y) if self.se_reduction is not None else y


class PreActBasicBlock(ResidualBlock):
    """Full pre-activation: BN-ReLU-conv3x3-BN-ReLU-conv3x3, add; no activation after the add.

    When the shape changes, the projection shortcut takes the pre-activated input
    (BN-ReLU(x)), as in the authors' code, so both paths see normalised features.
    ``zero_init_last_bn=True`` is refused: no BN follows the last conv here.
    """

    preact: ClassVar[bool] = True

    def setup_branch(self):
        self.bn1 = self._bn()
        self.conv1 = self._conv(self.features, 3, self.strides)
        self.bn2 = self._bn()
        self.conv2 = self._conv(self.features, 3)

    def branch(self, x, train):
        # x here is already BN-ReLU(input); see ResidualBlock.__call__.
        y = self.conv1(x)
        return self.conv2(self.act(apply_norm(self.bn2, y, train)))


class PreActBottleneckBlock(GroupedBlock):
    """Full pre-activation bottleneck: BN-ReLU-1x1, BN-ReLU-3x3, BN-ReLU-1x1 (x4), add."""

    preact: ClassVar[bool] = True

    def setup_branch(self):
        self.bn1 = self._bn()
        self.conv1 = self._conv(self.width, 1)
        self.bn2 = self._bn()
        self.conv2 = self._conv(self.width, 3, self.strides, self.groups)
        self.bn3 = self._bn()
        self.conv3 = self._conv(self.out_features, 1)

    def branch(self, x, train):
        y = self.conv1(x)
        y = self.conv2(self.act(apply_norm(self.bn2, y, train)))
        return self.conv3(self.act(apply_norm(self.bn3, y, train)))


# The names ``ResNet(block=...)`` accepts as strings; it takes a block class too.
BLOCKS: dict[str, Callable[..., ResidualBlock]] = {
    "basic": BasicBlock,
    "bottleneck": BottleneckBlock,
    "preact_basic": PreActBasicBlock,
    "preact_bottleneck": PreActBottleneckBlock,
}
