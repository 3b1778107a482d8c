"""Squeeze-and-Excitation (Hu et al. 2018): pool -> FC to C/r -> ReLU -> FC to C -> sigmoid -> scale.
Both FCs carry a bias, as in the paper's SE-ResNet-50."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import flax.linen as nn
import jax

from jaxcnn.declared import CALLABLE, DTYPE, POSITIVE_INT, Declared, declare
from jaxcnn.layers import global_avg_pool
from jaxcnn.validation import check_nhwc

__all__ = ["SqueezeExcite"]


class SqueezeExcite(Declared, nn.Module):
    """Channel gate ``x * sigmoid(fc2(act(fc1(mean_hw(x)))))``, hidden width ``C // reduction``."""

    reduction: int = declare(POSITIVE_INT, 16)
    dtype: Any = declare(DTYPE, None)
    act: Callable = declare(CALLABLE, nn.relu)

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        check_nhwc(x, "x")
        channels = x.shape[-1]
        hidden = channels // self.reduction
        if hidden < 1:
            raise ValueError(f"reduction={self.reduction} leaves no hidden units for {channels} channels")
        s = global_avg_pool(x)  # squeeze: (N, C)
        s = self.act(nn.Dense(hidden, dtype=self.dtype, name="fc1")(s))
        s = nn.sigmoid(nn.Dense(channels, dtype=self.dtype, name="fc2")(s))
        return x * s[:, None, None, :]  # excite: one gate per channel, shared over space
