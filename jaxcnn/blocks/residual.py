"""Residual blocks: post-activation (He et al. 2015) and full pre-activation (He et al. 2016).

Each block defines ``branch(x, train)`` (the residual function F) next to the shared ``shortcut``, so a
regularizer can wrap the branch alone. Submodules carry torchvision's names (``conv1``, ``bn1``, ...;
projection ``conv_proj``/``norm_proj``) so weight conversion is a renaming. Shortcut types (ResNet paper
section 4.1; Bag of Tricks for ResNet-D):

``'A'``  parameter-free: subsample ``x[:, ::s, ::s]``, zero-pad channels (half before, half after).
``'B'``  identity, or 1x1 conv (stride s) + BN where the shape changes.
``'C'``  1x1 conv + BN on every block.
``'D'``  identity, or 2x2 avg-pool (ceil mode, count_include_pad=False) when strided, then 1x1 conv + BN
         where the shape changes.
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
    """Option A: subsample NHWC ``x`` by ``stride`` and zero-pad its channels up to ``out_features``."""
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

    Subclasses define ``setup_branch`` (the branch's layers) and ``branch(x, train)``; a pre-activation
    block (``preact = True``) applies its first norm ``bn1`` to the input before the branch and a
    projection shortcut. Layers are injected: ``conv`` (``nn.Conv``'s keyword arguments; ``None``:
    ``jaxcnn.xla_cpu.default_conv``), ``norm`` (any Flax norm, e.g. ``partial(nn.GroupNorm,
    num_groups=32)``), ``act``. Stochastic depth drops the branch with ``drop_path_rate``, per batch
    (``'batch'``, skips compute) or per sample (``'row'``), with the ``'paper'`` (scale at test) or
    ``'inverted'`` (divide at train) test rule.
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
            raise self.field_error("zero_init_last_bn", "a pre-activation block has no BN after its last conv")

    @property
    def out_features(self) -> int:
        return self.features * self.expansion

    def setup(self):
        self.setup_branch()
        if self.shortcut_type in "BCD":
            stride = 1 if self.shortcut_type == "D" else self.strides
            self.conv_proj = self._conv(self.out_features, 1, stride, in_branch=False)  # never in a cond
            if not self.preact:  # a pre-activation block projects the normalised input: no BN
                self.norm_proj = self._bn()

    def _conv(self, features: int, kernel_size: int, stride: int = 1, groups: int = 1, in_branch: bool = True):
        """The injected conv (else the backend default for a branch inside a cond or not), torch padding."""
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
        """``branch(x) + shortcut``, under stochastic depth when ``drop_path_rate > 0`` (a dropped branch
        in ``'batch'`` mode is skipped: see ``jaxcnn.regularizers.stochastic_residual``)."""
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

    def __call__(self, x, train: bool = False):
        check_nhwc(x, "x")
        if not self.scope.path:  # called on its own: train is checked where the call enters jaxcnn
            check_bool(train, "train")
        if not self.preact:
            return self.act(self.residual_add(x, self.shortcut(x, train), train))
        pre = self.act(apply_norm(self.bn1, x, train))  # the projection takes it too (authors' code)
        short = self.shortcut(pre, train) if self.needs_projection(x.shape[-1]) else x
        return self.residual_add(pre, short, train)


class GroupedBlock(ResidualBlock):
    """A bottleneck-shaped block with ``groups`` and ``base_width`` (ResNeXt, Wide ResNet) and the one
    inner-width formula, ``int(features * base_width / 64) * groups``."""

    groups: int = declare(POSITIVE_INT, 1)
    base_width: int = declare(POSITIVE_INT, 64)

    expansion: ClassVar[int] = 4

    @property
    def width(self) -> int:
        return int(self.features * self.base_width / 64) * self.groups

    def check_relations(self):
        super().check_relations()
        if self.width < 1:
            why = f"inner width int(features * base_width / 64) * groups is 0 (base_width={self.base_width})"
            raise self.field_error("features", why)


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

    ``stride_on_3x3=True`` is torchvision's "ResNet v1.5"; ``False`` the paper's v1 (stride on the first
    1x1). ``se_reduction`` adds a Squeeze-and-Excitation gate on the branch output (SE-ResNet).
    """

    stride_on_3x3: bool = declare(FLAG, True)
    se_reduction: int | None = declare(optional(POSITIVE_INT), None)

    def check_relations(self):
        super().check_relations()
        if self.se_reduction is not None and self.out_features // self.se_reduction < 1:
            raise self.field_error("se_reduction", f"no hidden units in the SE gate of {self.out_features} channels")

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
    """Full pre-activation: BN-ReLU-conv3x3-BN-ReLU-conv3x3, add; no activation after the add."""

    preact: ClassVar[bool] = True

    def setup_branch(self):
        self.bn1 = self._bn()
        self.conv1 = self._conv(self.features, 3, self.strides)
        self.bn2 = self._bn()
        self.conv2 = self._conv(self.features, 3)

    def branch(self, x, train):
        y = self.conv1(x)  # x is already BN-ReLU(input)
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
