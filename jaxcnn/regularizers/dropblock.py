"""DropBlock (Ghiasi, Lin, Le 2018, "DropBlock: A regularization method for convolutional networks").

Algorithm 1 of the paper, on NHWC maps: sample seeds ~ Bernoulli(gamma), grow each seed into a
``block_size`` square (a max-pool of the seed map), zero those squares, renormalise by
``count / count_kept`` over the whole mask tensor, and use the identity at test time.

Choices, and where implementations differ:

* gamma (``gamma_rule='paper'``, default): ``drop_rate / bs² · H·W / ((H-bs+1)(W-bs+1))``,
  H and W taken separately. Overlapping blocks make it *under*-drop (0.2 on 56x56 at bs 7
  realises about 0.18). ``gamma_rule='exact'`` instead solves (bisection) for the gamma whose
  expected dropped fraction, ``mean over pixels of 1 - (1-gamma)^n(pixel)`` with ``n`` the
  number of seed positions whose block covers the pixel, equals ``drop_rate``.
* seeds (``seed_region='valid'``, default, paper and timm ``drop_block_2d``): only top-left
  positions where the whole block fits, so every dropped region is a union of full squares.
  ``'everywhere'`` (timm ``drop_block_fast_2d``): a seed at every pixel, block
  ``[i - bs//2, i - bs//2 + bs)`` clipped at the border. With the paper's gamma it over-drops
  small maps (a 7x7 map at bs 7 loses most of itself); pair it with ``gamma_rule='exact'``.
* Even block sizes: in ``'valid'`` a block is ``[i, i+bs)`` from its seed, so no centring
  question arises; in ``'everywhere'`` the block extends one pixel more up/left of its seed.
* ``block_size`` larger than the map is clipped per axis to ``min(bs, H)``, ``min(bs, W)``.
  At or beyond both sides there is one seed position and gamma = drop_rate: each channel
  map is dropped whole with probability drop_rate (channel dropout, i.e. SpatialDropout).
* ``per_channel=True`` (default): an independent mask per channel, which the paper reports
  works better (timm's ``drop_block_2d`` also draws noise per channel); ``False`` shares one
  (N, H, W) mask across channels, as miguelvr's ``dropblock`` package does.
* The keep probability is meant to ramp linearly from 1 to its target over training
  (:func:`scheduled_drop_rate`); the paper applies DropBlock to ResNet groups 3 and 4 (after
  convs and on the skip), which is a model-level choice.
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

    def expected(g):
        return 1.0 - jnp.mean(jnp.exp(counts * jnp.log1p(-jnp.minimum(g, 1.0 - 1e-7))))

    def step(_, bounds):
        lo, hi = bounds
        mid = 0.5 * (lo + hi)
        low = expected(mid) < drop_rate
        return jnp.where(low, mid, lo), jnp.where(low, hi, mid)

    lo, hi = jax.lax.fori_loop(0, 40, step, (jnp.float32(0.0), jnp.float32(1.0)))
    g = 0.5 * (lo + hi)
    return jnp.where(drop_rate >= 1.0, 1.0, jnp.where(drop_rate <= 0.0, 0.0, g))


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

    With the paper's gamma, ``drop_rate`` is nominal: the realised fraction is lower, and even
    ``drop_rate = 1`` keeps pixels when ``1 < block_size < H`` (gamma < 1 there). With
    ``gamma_rule='exact'`` the expected realised fraction is ``drop_rate``, 1 included.
    If every pixel is dropped the output is zeros (no 0/0).
    """
    check_key(key)
    drop_rate, bs = _check_args(x, drop_rate, block_size, per_channel, gamma_rule, seed_region, normalize)
    if static_value(drop_rate) == 0.0:
        return x
    n, h, w, c = x.shape
    bh, nh, _, pad_h = _axis_geometry(h, bs, seed_region)
    bw, nw, _, pad_w = _axis_geometry(w, bs, seed_region)
    gamma = dropblock_gamma(drop_rate, h, w, bs, gamma_rule, seed_region)
    seeds = jax.random.bernoulli(key, gamma, (n, nh, nw, c if per_channel else 1)).astype(jnp.float32)
    # Max over a rectangle is separable: two 1-D max-pools grow seeds into blocks.
    ones = (1, 1, 1, 1)
    dropped = jax.lax.reduce_window(
        seeds, jnp.zeros((), seeds.dtype), jax.lax.max, (1, bh, 1, 1), ones, ((0, 0), pad_h, (0, 0), (0, 0))
    )
    dropped = jax.lax.reduce_window(
        dropped, jnp.zeros((), seeds.dtype), jax.lax.max, (1, 1, bw, 1), ones, ((0, 0), (0, 0), pad_w, (0, 0))
    )
    keep = 1.0 - dropped
    if normalize:
        kept = jnp.sum(keep)
        keep = keep * jnp.where(kept > 0, keep.size / jnp.maximum(kept, 1.0), 0.0)
    return x * keep.astype(x.dtype)


def _check_args(x, drop_rate, block_size, per_channel, gamma_rule, seed_region, normalize):
    check_nhwc(x, "x")
    drop_rate = check_probability(drop_rate, "drop_rate")
    bs = check_positive_int(block_size, "block_size")
    check_choice(gamma_rule, "gamma_rule", GAMMA_RULES)
    check_choice(seed_region, "seed_region", SEED_REGIONS)
    check_bool(per_channel, "per_channel")
    if check_bool(normalize, "normalize"):
        # whatever the rate: a call that works at rate 0 must not fail at the first nonzero one
        check_floating(
            x, "x", "normalize=True rescales kept pixels by count / count_kept; pass normalize=False to mask integers"
        )
    return drop_rate, bs


def _check_step(step: Any) -> None:
    if isinstance(step, (bool, np.bool_)) or not (isinstance(step, (int, float, np.number)) or hasattr(step, "dtype")):
        raise ArgumentTypeError(
            f"step must be a number or a numeric scalar array, got {step!r} ({type(step).__name__})"
        )
    if hasattr(step, "shape") and tuple(step.shape) != ():
        raise ValueError(f"step must be a scalar, got an array of shape {tuple(step.shape)}")
    if not (
        np.issubdtype(np.dtype(getattr(step, "dtype", type(step))), np.integer)
        or np.issubdtype(np.dtype(getattr(step, "dtype", type(step))), np.floating)
    ):
        raise ArgumentTypeError(f"step must be an integer or float, got dtype {getattr(step, 'dtype', type(step))}")
    v = static_value(step)
    if v is not None and not v >= 0:  # NaN fails too
        raise ValueError(f"step must be >= 0, got {step!r}")


def scheduled_drop_rate(step: Any, total_steps: int, drop_rate: float) -> jax.Array:
    """Paper schedule: keep_prob falls linearly from 1 at step 0 to ``1 - drop_rate`` at ``total_steps``."""
    _check_step(step)
    total = check_positive_int(total_steps, "total_steps")
    drop_rate = check_probability(drop_rate, "drop_rate")
    return drop_rate * jnp.clip(jnp.asarray(step, jnp.float32) / total, 0.0, 1.0)


class DropBlock(Declared, nn.Module):
    """Linen wrapper of :func:`drop_block`; identity when deterministic.

    ``drop_rate`` passed at call time overrides the field (for :func:`scheduled_drop_rate`).
    The key comes from ``make_rng(rng_collection)``; training without it raises, naming the stream.
    Fields are checked at construction, the input (and a call-time ``drop_rate``) in both modes.
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
        check_nhwc(x, "x")
        if self.normalize:
            check_floating(
                x,
                "x",
                "normalize=True rescales kept pixels by count / count_kept; pass normalize=False to mask integers",
            )
        if deterministic or static_value(rate) == 0.0:
            return x
        return drop_block(
            require_rng(self, self.rng_collection, "DropBlock"),
            x,
            rate,
            self.block_size,
            self.per_channel,
            gamma_rule=self.gamma_rule,
            seed_region=self.seed_region,
            normalize=self.normalize,
        )
