"""A classifier behind ``jaxcnn.regularizers.Cutout``: the Cutout arm of ``experiments.classification_study``.

Cutout acts on the normalised input batch (fill 0 = the dataset mean) and draws from its own
``'augment'`` random stream, so the arm's network and weights are the plain network's: at test
time (``train=False``) the wrapper is the identity followed by the inner model.
"""

from __future__ import annotations

import flax.linen as nn
import jax

from jaxcnn.regularizers import Cutout

__all__ = ["CutoutThen"]


class CutoutThen(nn.Module):
    """``inner`` applied to ``Cutout(size)`` of its input (parameters under ``'inner'``)."""

    inner: nn.Module
    size: int

    @nn.compact
    def __call__(self, x: jax.Array, train: bool = False) -> jax.Array:
        x = Cutout(self.size, rng_collection="augment")(x, deterministic=not train)
        return self.inner(x, train=train)
