"""DropBlock (Ghiasi, Lin, Le 2018, "DropBlock: A regularization method for convolutional networks").

Algorithm 1 of the paper on NHWC maps: seeds ~ Bernoulli(gamma) grow into ``block_size`` squares
(a max-pool of the seed map) that are zeroed; kept pixels are renormalised by ``count / count_kept``
over the whole mask; identity at test time. Choices, where implementations differ:

* ``gamma_rule='paper'``: ``drop_rate / bs² · H·W / ((H-bs+1)(W-bs+1))``, which under-drops
  (overlapping blocks); ``'exact'`` bisects for the gamma whose expected dropped fraction is ``drop_rate``.
* ``seed_region='valid'`` (paper, timm ``drop_block_2d``): seeds only where the whole block ``[i, i+bs)``
  fits; ``'everywhere'`` (timm ``drop_block_fast_2d``): a seed at every pixel, block
  ``[i - bs//2, i - bs//2 + bs)`` clipped at the border (over-drops small maps with the paper's gamma).
* ``block_size`` is clipped per axis to the map (covering it all, this is channel dropout);
  ``per_channel=True`` draws a mask per channel (the paper, timm), ``False`` shares one.
"""

from __future__ import annotations

from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from jaxcnn.declared import FLAG, NAME, POSITIVE_INT, PROBABILITY, Declared, choice, declare, optional
from jaxcnn.regularizers.stochastic_depth import require_rng
from jaxcnn.validation import (
    ArgumentTypeError,
    check_bool,
    check_choice,
    check_floating,
    check_key,
    check_nhwc,
    check_positive_int,
    check_probability,
    static_value,
)

__all__ = ["DropBlock", "GAMMA_RULES", "SEED_REGIONS", "drop_block", "dropblock_gamma", "scheduled_drop_rate"]

GAMMA_RULES = ("paper", "exact")
SEED_REGIONS = ("valid", "everywhere")


def _axis_geometry(size: int, block_size: int, seed_region: str) -> tuple[int, int, int, tuple[int, int]]:
    """(clipped block, number of seed positions, seed-to-block-start offset, max-pool padding)."""
    b = min(block_size, size)
    n, offset = (size - b + 1, 0) if seed_region == "valid" else (size, b // 2)
    # Pixel y is covered by seeds i in [y + offset - b + 1, y + offset].
    return b, n, offset, (b - 1 - offset, size - n + offset)


def _coverage(size: int, block_size: int, seed_region: str) -> np.ndarray:
    """Per pixel along one axis: how many seed positions have a block covering it."""
    b, n, offset, _ = _axis_geometry(size, block_size, seed_region)
    y = np.arange(size)
    return np.minimum(n - 1, y + offset) - np.maximum(0, y + offset - b + 1) + 1


def _check_x(x: Any, normalize: bool) -> None:
    check_nhwc(x, "x")
    if normalize:  # whatever the rate: a call that works at rate 0 must not fail at the first nonzero one
        check_floating(x, "x", "normalize=True rescales kept pixels; pass normalize=False to mask integers")


def dropblock_gamma(
    drop_rate: Any, height: int, width: int, block_size: int, rule: str = "paper", seed_region: str = "valid"
) -> jax.Array:
    """Seed probability gamma for a ``height x width`` map (see the module docstring)."""
    drop_rate = check_probability(drop_rate, "drop_rate")
    h, w = check_positive_int(height, "height"), check_positive_int(width, "width")
    bs = check_positive_int(block_size, "block_size")
    check_choice(rule, "rule", GAMMA_RULES)
    check_choice(seed_region, "seed_region", SEED_REGIONS)
    bh, bw = min(bs, h), min(bs, w)
    if rule == "paper":
        return jnp.asarray(drop_rate, jnp.float32) / (bh * bw) * (h * w) / ((h - bh + 1) * (w - bw + 1))
    # Expected fraction 1 - mean((1-g)^(c_h c_w)) is increasing in g: bisect on [0, 1].
    counts = jnp.asarray(np.outer(_coverage(h, bs, seed_region), _coverage(w, bs, seed_region)), jnp.float32)

    def step(_, bounds):
        lo, hi = bounds
        mid = 0.5 * (lo + hi)
        low = 1.0 - jnp.mean(jnp.exp(counts * jnp.log1p(-jnp.minimum(mid, 1.0 - 1e-7)))) < drop_rate
        return jnp.where(low, mid, lo), jnp.where(low, hi, mid)

    lo, hi = jax.lax.fori_loop(0, 40, step, (jnp.float32(0.0), jnp.float32(1.0)))
    return jnp.where(drop_rate >= 1.0, 1.0, jnp.where(drop_rate <= 0.0, 0.0, 0.5 * (lo + hi)))


def drop_block(
    key: Any,
    x: jax.Array,
    drop_rate: Any,
    block_size: int,
    per_channel: bool = True,
    *,
    gamma_rule: str = "paper",
    seed_region: str = "valid",
    normalize: bool = True,
) -> jax.Array:
    """Train-time DropBlock on an NHWC batch; ``drop_rate = 1 - keep_prob`` (may be traced).

    With the paper's gamma, ``drop_rate`` is nominal (the realised fraction is lower, and pixels are
    kept even at 1 when ``1 < block_size < H``); with ``gamma_rule='exact'`` it is the expected
    fraction. If every pixel is dropped the output is zeros (no 0/0).
    """
    check_key(key)
    _check_x(x, check_bool(normalize, "normalize"))
    drop_rate = check_probability(drop_rate, "drop_rate")
    bs = check_positive_int(block_size, "block_size")
    check_choice(gamma_rule, "gamma_rule", GAMMA_RULES)
    check_choice(seed_region, "seed_region", SEED_REGIONS)
    check_bool(per_channel, "per_channel")
    if static_value(drop_rate) == 0.0:
        return x
    n, h, w, c = x.shape
    bh, nh, _, pad_h = _axis_geometry(h, bs, seed_region)
    bw, nw, _, pad_w = _axis_geometry(w, bs, seed_region)
    gamma = dropblock_gamma(drop_rate, h, w, bs, gamma_rule, seed_region)
    seeds = jax.random.bernoulli(key, gamma, (n, nh, nw, c if per_channel else 1)).astype(jnp.float32)
    # a max-pool grows every seed into its block
    window, padding = (1, bh, bw, 1), ((0, 0), pad_h, pad_w, (0, 0))
    keep = 1.0 - jax.lax.reduce_window(seeds, jnp.float32(0), jax.lax.max, window, (1, 1, 1, 1), padding)
    if normalize:
        kept = jnp.sum(keep)
        keep = keep * jnp.where(kept > 0, keep.size / jnp.maximum(kept, 1.0), 0.0)
    return x * keep.astype(x.dtype)


def scheduled_drop_rate(step: Any, total_steps: int, drop_rate: float) -> jax.Array:
    """Paper schedule: keep_prob falls linearly from 1 at step 0 to ``1 - drop_rate`` at ``total_steps``."""
    dtype = getattr(step, "dtype", type(step) if isinstance(step, (int, float, np.number)) else None)
    if dtype is None or not (jnp.issubdtype(dtype, jnp.integer) or jnp.issubdtype(dtype, jnp.floating)):
        raise ArgumentTypeError(f"step must be a real number or scalar array, got {step!r} ({type(step).__name__})")
    if jnp.shape(step) != ():
        raise ValueError(f"step must be a scalar, got an array of shape {jnp.shape(step)}")
    value = static_value(step)
    if value is not None and not 0 <= value < np.inf:  # NaN fails too
        raise ValueError(f"step must be a finite number >= 0, got {step!r}")
    total = check_positive_int(total_steps, "total_steps")
    drop_rate = check_probability(drop_rate, "drop_rate")
    return drop_rate * jnp.clip(jnp.asarray(step, jnp.float32) / total, 0.0, 1.0)


class DropBlock(Declared, nn.Module):
    """Linen wrapper of :func:`drop_block`; identity when deterministic.

    ``drop_rate`` passed at call time overrides the field (for :func:`scheduled_drop_rate`).
    The key comes from ``make_rng(rng_collection)``; training without it raises, naming the stream.
    """

    drop_rate: float = declare(PROBABILITY)
    block_size: int = declare(POSITIVE_INT, 7)
    per_channel: bool = declare(FLAG, True)
    gamma_rule: str = declare(choice(*GAMMA_RULES), "paper")
    seed_region: str = declare(choice(*SEED_REGIONS), "valid")
    normalize: bool = declare(FLAG, True)
    deterministic: bool | None = declare(optional(FLAG), None)
    rng_collection: str = declare(NAME, "dropout")

    @nn.compact
    def __call__(self, x: jax.Array, deterministic: bool | None = None, drop_rate: Any = None) -> jax.Array:
        deterministic = check_bool(nn.merge_param("deterministic", self.deterministic, deterministic), "deterministic")
        rate = self.drop_rate if drop_rate is None else check_probability(drop_rate, "drop_rate")
        _check_x(x, self.normalize)
        if deterministic or static_value(rate) == 0.0:
            return x
        key = require_rng(self, self.rng_collection, "DropBlock")
        opts = dict(gamma_rule=self.gamma_rule, seed_region=self.seed_region, normalize=self.normalize)
        return drop_block(key, x, rate, self.block_size, self.per_channel, **opts)
