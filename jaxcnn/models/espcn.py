"""ESPCN (Shi et al. 2016): super-resolution by a sub-pixel convolution at the end.

Three convs on the low-resolution image -- 5x5 to 64, 3x3 to 32 (tanh after each), 3x3 to
``channels * scale^2`` -- then a pixel shuffle (torch channel order) to the high resolution.
All the compute happens at low resolution, which is the point of the design.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

from jaxcnn.declared import CALLABLE, DTYPE, FLAG, POSITIVE_INT, Declared, Rule, declare, int_tuple
from jaxcnn.layers import torch_padding
from jaxcnn.models._checks import _check_input
from jaxcnn.upsample.subpixel import icnr, pixel_shuffle
from jaxcnn.validation import check_int_tuple, check_odd_kernel

__all__ = ["ESPCN", "espcn"]


def _check_kernel_sizes(value, name):
    for i, k in enumerate(check_int_tuple(value, name, minimum=1, length=3)):
        check_odd_kernel(k, f"{name}[{i}]")


ODD_KERNELS = Rule("odd_kernels", _check_kernel_sizes, ((5, 3), (5, 4, 3), (5, 3, 3.0), 3))


class ESPCN(Declared, nn.Module):
    """ESPCN on NHWC low-resolution input; output is ``scale`` times larger, ``channels`` deep.

    ``use_icnr`` initialises the last conv with ICNR (not in the paper), so a fresh model upsamples
    without checkerboard artefacts. ``kernel_sizes`` are odd: padding ``(k-1)//2`` keeps the size.
    """

    scale: int = declare(POSITIVE_INT, 3)
    channels: int = declare(POSITIVE_INT, 1)
    widths: tuple[int, int] = declare(int_tuple(1, length=2), (64, 32))
    kernel_sizes: tuple[int, int, int] = declare(ODD_KERNELS, (5, 3, 3))
    act: Callable = declare(CALLABLE, jnp.tanh)
    use_icnr: bool = declare(FLAG, False)
    dtype: Any = declare(DTYPE, None)

    def setup(self):
        k1, k2, k3 = self.kernel_sizes
        last_init = icnr(self.scale) if self.use_icnr else nn.initializers.lecun_normal()
        self.conv1 = nn.Conv(self.widths[0], (k1, k1), padding=torch_padding(k1), dtype=self.dtype)
        self.conv2 = nn.Conv(self.widths[1], (k2, k2), padding=torch_padding(k2), dtype=self.dtype)
        out = self.channels * self.scale**2
        self.conv3 = nn.Conv(out, (k3, k3), padding=torch_padding(k3), kernel_init=last_init, dtype=self.dtype)

    def features(self, x: jax.Array, train: bool = False) -> OrderedDict[str, jax.Array]:
        """Named NHWC maps in order: conv1, conv2 (after tanh), conv3 (pre-shuffle), final."""
        del train  # no batch statistics or dropout in ESPCN; kept for the models' common signature
        _check_input(x, self.channels, "channels")
        feats = OrderedDict()
        feats["conv1"] = x = self.act(self.conv1(x))
        feats["conv2"] = x = self.act(self.conv2(x))
        feats["conv3"] = x = self.conv3(x)
        feats["final"] = pixel_shuffle(x, self.scale)
        return feats

    def __call__(self, x: jax.Array, train: bool = False) -> jax.Array:
        return self.features(x, train)["final"]


def espcn(scale: int = 3, channels: int = 1, **kw) -> ESPCN:
    """Factory for the registry: ``espcn(scale=3, channels=1)`` is the paper's x3 luminance model."""
    return ESPCN(scale=scale, channels=channels, **kw)
