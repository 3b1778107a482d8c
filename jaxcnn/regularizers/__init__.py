"""Regularizers with explicit PRNG keys: stochastic depth, DropBlock, Cutout.

Each is a pure function of ``(key, x, ...)`` (same key, same bits) with a thin linen module
beside it that draws its key from ``make_rng('dropout')`` unless told another collection.
"""

from jaxcnn.regularizers.cutout import CIFAR10_SIZE, CIFAR100_SIZE, Cutout, cutout
from jaxcnn.regularizers.dropblock import DropBlock, drop_block, dropblock_gamma, scheduled_drop_rate
from jaxcnn.regularizers.stochastic_depth import (
    StochasticDepth,
    stochastic_depth,
    stochastic_residual,
    survival_probabilities,
)

__all__ = [
    "CIFAR10_SIZE",
    "CIFAR100_SIZE",
    "Cutout",
    "DropBlock",
    "StochasticDepth",
    "cutout",
    "drop_block",
    "dropblock_gamma",
    "scheduled_drop_rate",
    "stochastic_depth",
    "stochastic_residual",
    "survival_probabilities",
]
