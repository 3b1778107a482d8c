"""Residual, ResNeXt, Squeeze-and-Excitation and inverted-residual blocks (NHWC, flax.linen)."""

from jaxcnn.blocks.inverted import DepthwiseSeparableConv, InvertedResidual
from jaxcnn.blocks.residual import (
    BLOCKS,
    SHORTCUT_TYPES,
    BasicBlock,
    BottleneckBlock,
    GroupedBlock,
    PreActBasicBlock,
    PreActBottleneckBlock,
    ResidualBlock,
    zero_pad_shortcut,
)
from jaxcnn.blocks.resnext import ResNeXtBottleneck, ResNeXtBranches
from jaxcnn.blocks.squeeze_excite import SqueezeExcite

__all__ = [
    "BLOCKS",
    "SHORTCUT_TYPES",
    "BasicBlock",
    "BottleneckBlock",
    "GroupedBlock",
    "PreActBasicBlock",
    "PreActBottleneckBlock",
    "ResidualBlock",
    "zero_pad_shortcut",
    "ResNeXtBottleneck",
    "ResNeXtBranches",
    "SqueezeExcite",
    "DepthwiseSeparableConv",
    "InvertedResidual",
]
