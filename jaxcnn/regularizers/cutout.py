"""Cutout (DeVries & Taylor 2017, "Improved Regularization of CNNs with Cutout").

Each image gets its own centre ``(cy, cx)`` drawn uniformly over all pixels; rows (and columns)
``[cy - size//2, cy - size//2 + size)`` are filled in every channel, clipped at the borders. The paper
fills after normalisation (``fill=0`` is the mean) with ``size=16`` on CIFAR-10, 8 on CIFAR-100. For odd
``size`` the authors' code covers ``size - 1`` rows; here always ``size``.
"""

from __future__ import annotations

from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from jaxcnn.declared import FLAG, NAME, Declared, Rule, declare, optional
from jaxcnn.regularizers.stochastic_depth import require_rng
from jaxcnn.validation import ArgumentTypeError, check_bool, check_int, check_key, check_nhwc

__all__ = ["CIFAR100_SIZE", "CIFAR10_SIZE", "Cutout", "cutout"]

CIFAR10_SIZE = 16
CIFAR100_SIZE = 8
MAX_SIZE = 2**31 - 1  # the square's corners are int32 coordinates


def _check_size(size: Any, name: str = "size") -> int:
    return check_int(size, name, minimum=1, maximum=MAX_SIZE)


SIZE = Rule("cutout_size", _check_size, (0, 2**40, 2.0, True))


def _check_fill(fill: Any, images: Any) -> None:
    """A scalar or per-channel fill that the images' dtype holds exactly (no silent truncation)."""
    channels, dtype = images.shape[-1], jnp.dtype(images.dtype)
    if isinstance(fill, (bool, np.bool_)) or not (isinstance(fill, (int, float, np.number)) or hasattr(fill, "shape")):
        raise ArgumentTypeError(f"fill must be a number or a per-channel array, got {type(fill).__name__}")
    if jnp.shape(fill) not in ((), (channels,)):
        raise ValueError(f"fill must be a scalar or have shape ({channels},), got shape {jnp.shape(fill)}")
    if jnp.issubdtype(dtype, jnp.floating) or isinstance(fill, jax.core.Tracer):
        return
    values = np.asarray(fill)
    if np.issubdtype(values.dtype, np.complexfloating):
        raise ArgumentTypeError(f"fill must be real, got {fill!r}")
    lo, hi = (0, 1) if dtype == np.bool_ else (np.iinfo(dtype).min, np.iinfo(dtype).max)
    if not np.all((values == np.round(values)) & (values >= lo) & (values <= hi)):  # NaN and inf fail too
        raise ValueError(
            f"fill must be exactly representable in the images' dtype {dtype} "
            f"(a whole number in its range), got {fill!r}"
        )


def cutout(key: Any, images: jax.Array, size: int, fill: Any = 0.0) -> jax.Array:
    """Cut one ``size x size`` square (clipped at the borders) out of each NHWC image; ``size`` is an
    integer in [1, 2**31 - 1] (the corners are int32; any size >= twice the image covers it all)."""
    check_key(key)
    check_nhwc(images, "images")
    size = _check_size(size)
    n, h, w, c = images.shape
    _check_fill(fill, images)
    key_y, key_x = jax.random.split(key)
    top = jax.random.randint(key_y, (n, 1), 0, h) - size // 2
    left = jax.random.randint(key_x, (n, 1), 0, w) - size // 2
    rows, cols = jnp.arange(h)[None], jnp.arange(w)[None]
    in_rows = (rows >= top) & (rows < top + size)  # (n, h)
    in_cols = (cols >= left) & (cols < left + size)  # (n, w)
    mask = in_rows[:, :, None, None] & in_cols[:, None, :, None]
    return jnp.where(mask, jnp.asarray(fill, images.dtype), images)


class Cutout(Declared, nn.Module):
    """Linen wrapper of :func:`cutout`; identity when deterministic.

    Key from ``make_rng(rng_collection)`` ('dropout' by default; name e.g. 'augment' to keep
    augmentation on its own stream); training without that rng raises, naming the stream.
    """

    size: int = declare(SIZE, CIFAR10_SIZE)
    fill: Any = 0.0  # checked against the images' dtype at the call
    deterministic: bool | None = declare(optional(FLAG), None)
    rng_collection: str = declare(NAME, "dropout")

    @nn.compact
    def __call__(self, images: jax.Array, deterministic: bool | None = None) -> jax.Array:
        deterministic = check_bool(nn.merge_param("deterministic", self.deterministic, deterministic), "deterministic")
        check_nhwc(images, "images")
        _check_fill(self.fill, images)  # in both modes: a bad fill must not wait for the first training step
        if deterministic:
            return images
        return cutout(require_rng(self, self.rng_collection, "Cutout"), images, self.size, self.fill)
