"""Stochastic depth (Huang et al. 2016, "Deep Networks with Stochastic Depth").

The paper (``mode='batch'``) drops the branch for the whole batch, unscaled, and scales it by p at
test time; torchvision ``mode='row'`` / timm DropPath drops per sample and divides kept branches by p
(``test_rule='paper' | 'inverted'`` picks the scaling, with either mode). Only :func:`stochastic_residual`
in batch mode skips the dropped branch's compute. A batch-mode coin must be the same on every device:
it comes from ``global_stream(rng_collection)`` when the caller provides it (``make_train_step`` does).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

from jaxcnn.declared import FLAG, NAME, PROBABILITY, Declared, choice, declare, optional
from jaxcnn.validation import (
    ArgumentTypeError,
    check_array,
    check_batched,
    check_bool,
    check_callable,
    check_choice,
    check_floating,
    check_key,
    check_positive_int,
    check_probability,
    check_str,
    static_value,
)

__all__ = [
    "MODES",
    "SCHEDULE_RULES",
    "StochasticDepth",
    "TEST_RULES",
    "require_rng",
    "stochastic_depth",
    "stochastic_residual",
    "survival_probabilities",
]

MODES = ("row", "batch")
TEST_RULES = ("paper", "inverted")
SCHEDULE_RULES = ("paper", "timm", "torchvision", "uniform")


def require_rng(module: nn.Module, rng_collection: str, what: str) -> jax.Array:
    """A key from ``module.make_rng(rng_collection)``, or a ``ValueError`` that names the stream and
    how to pass it (Flax's own error names neither the layer nor the fix)."""
    if not module.has_rng(rng_collection):
        raise ValueError(
            f"{what} in training (train=True / deterministic=False) draws from the rng stream {rng_collection!r}, "
            f"which was not given: pass rngs={{'params': key, {rng_collection!r}: key}} to init or "
            f"rngs={{{rng_collection!r}: key}} to apply (or evaluate with train=False)"
        )
    return module.make_rng(rng_collection)


def global_stream(rng_collection: str) -> str:
    """Name of the stream whose key is the same on every device: ``rng_collection + '_global'``."""
    return f"{rng_collection}_global"


def _key(module: nn.Module, rng_collection: str, mode: str, what: str) -> jax.Array:
    """The mask key; a batch-mode coin comes from the device-independent stream when the caller gave one."""
    name = global_stream(rng_collection)
    if mode == "batch" and module.has_rng(name):
        return require_rng(module, name, what)
    return require_rng(module, rng_collection, what)


def _inverse(p: Any) -> jax.Array:
    # Guarded 1/p: with p = 0 nothing is kept, and inf must not reach the 0 entries.
    return 1.0 / jnp.maximum(p, jnp.finfo(jnp.float32).tiny)


def _mask(key: jax.Array, x: jax.Array, survival: Any, mode: str, scale: Any) -> jax.Array:
    """``x`` with each sample (``'row'``) or the whole batch kept with probability ``survival``, times ``scale``."""
    shape = (x.shape[0],) + (1,) * (x.ndim - 1) if mode == "row" else (1,) * x.ndim
    keep = jax.random.bernoulli(key, survival, shape)
    return x * jnp.where(keep, scale, 0.0).astype(x.dtype)


def survival_probabilities(num_blocks: int, final_survival: float = 0.5, rule: str = "paper") -> tuple[float, ...]:
    """Survival probability of each of ``num_blocks`` residual blocks (counted over the whole network),
    input side first. With ``r = 1 - final_survival``, ``l = 1..L`` and ``i = l - 1``:

    * ``'paper'`` (Huang et al. eq. 4): ``p_l = 1 - (l / L) r``; the last block has ``final_survival``;
    * ``'timm'`` (``linspace(0, r, L)``): ``p_i = 1 - r i / (L - 1)``, first never dropped, ``(1.0,)`` for one block;
    * ``'torchvision'`` (MBConv ``prob * i / N``): ``p_i = 1 - r i / L``, never reaching ``final_survival``;
    * ``'uniform'``: every block ``final_survival`` (the paper's constant baseline).
    """
    n = check_positive_int(num_blocks, "num_blocks")
    if hasattr(final_survival, "shape"):
        raise ArgumentTypeError("final_survival must be a Python number (the schedule is static)")
    r = 1.0 - check_probability(final_survival, "final_survival")
    check_choice(rule, "rule", SCHEDULE_RULES)
    if rule == "paper":
        return tuple(1.0 - (l / n) * r for l in range(1, n + 1))
    if rule == "timm":
        return tuple(1.0 - r * i / (n - 1) if n > 1 else 1.0 for i in range(n))
    if rule == "torchvision":
        return tuple(1.0 - r * i / n for i in range(n))
    return (1.0 - r,) * n


def stochastic_depth(
    key: Any, x: jax.Array, drop_rate: Any, mode: str = "row", scale_by_keep: bool = True
) -> jax.Array:
    """Train-time stochastic depth on a branch output ``x`` (batch axis first, any rank), as a mask.

    ``mode='row'`` drops each sample's branch with probability ``drop_rate`` (torchvision
    ``stochastic_depth``, timm ``drop_path``); ``'batch'`` draws one coin for the batch (the paper).
    ``scale_by_keep=True`` divides kept values by ``1 - drop_rate`` (then ``x`` must be floating
    point); ``drop_rate = 1`` returns zeros, as torchvision does.
    """
    check_key(key)
    check_batched(x, "x")
    drop_rate = check_probability(drop_rate, "drop_rate")
    check_choice(mode, "mode", MODES)
    if check_bool(scale_by_keep, "scale_by_keep"):
        check_floating(x, "x", "scale_by_keep=True divides by 1 - drop_rate; pass False to mask integers")
    if static_value(drop_rate) == 0.0:
        return x
    survival = 1.0 - drop_rate
    return _mask(key, x, survival, mode, _inverse(survival) if scale_by_keep else 1.0)


class StochasticDepth(Declared, nn.Module):
    """Mask-based stochastic depth on a branch output (see :func:`stochastic_depth`).

    ``test_rule='inverted'`` (torchvision/timm): 1/p in training, identity at test; ``'paper'``: no
    train-time scale, times p = 1 - drop_rate at test. The key comes from ``make_rng(rng_collection)``
    (a batch-mode coin from ``global_stream(rng_collection)`` when given); none is needed when
    ``drop_rate == 0``. ``x`` must be floating point (either rule rescales it).
    """

    drop_rate: float = declare(PROBABILITY)
    mode: str = declare(choice(*MODES), "row")
    test_rule: str = declare(choice(*TEST_RULES), "inverted")
    deterministic: bool | None = declare(optional(FLAG), None)
    rng_collection: str = declare(NAME, "dropout")

    @nn.compact
    def __call__(self, x: jax.Array, deterministic: bool | None = None) -> jax.Array:
        deterministic = check_bool(nn.merge_param("deterministic", self.deterministic, deterministic), "deterministic")
        check_batched(x, "x")
        check_floating(x, "x", "stochastic depth rescales the branch, by 1/p in training or by p at test time")
        inverted, survival = self.test_rule == "inverted", 1.0 - self.drop_rate
        if deterministic:
            return x if inverted else x * jnp.asarray(survival, x.dtype)
        if static_value(self.drop_rate) == 0.0:
            return x
        key = _key(self, self.rng_collection, self.mode, "StochasticDepth")
        return _mask(key, x, survival, self.mode, _inverse(survival) if inverted else 1.0)


def stochastic_residual(
    module: nn.Module,
    branch_fn: Callable[[nn.Module, jax.Array], jax.Array],
    x: jax.Array,
    shortcut: jax.Array,
    *,
    survival_prob: Any,
    deterministic: bool,
    mode: str = "batch",
    test_rule: str = "paper",
    rng_collection: str = "dropout",
) -> jax.Array:
    """``shortcut + branch_fn(module, x)`` under stochastic depth with survival probability ``survival_prob``.

    ``branch_fn(mdl, x)`` builds the branch with ``mdl`` as parent (name its submodules: auto names can
    differ between init and apply) and returns an array shaped like ``shortcut``. In batch mode
    ``nn.cond`` runs it only when kept: a dropped branch costs no compute under ``jit``, gets zero
    gradient and leaves its ``batch_stats`` alone (this pays off on GPU/TPU; XLA:CPU runs a conv
    gradient inside a cond much slower). ``init`` and a static p of 1 always run it.
    """
    if not isinstance(module, nn.Module):
        raise ArgumentTypeError(
            f"module must be a flax.linen Module (the caller, usually self), got {type(module).__name__}"
        )
    check_callable(branch_fn, "branch_fn")
    check_choice(mode, "mode", MODES)
    check_choice(test_rule, "test_rule", TEST_RULES)
    p = check_probability(survival_prob, "survival_prob")
    check_bool(deterministic, "deterministic")
    check_str(rng_collection, "rng_collection")
    check_array(shortcut, "shortcut")
    check_floating(shortcut, "shortcut", "the branch is rescaled by p or 1/p and added in the shortcut's dtype")
    dtype = shortcut.dtype
    inverted = test_rule == "inverted"

    def run(mdl, x):
        y = branch_fn(mdl, x)
        if jnp.shape(y) != shortcut.shape:  # a broadcast sum would hide a wrong branch
            raise ValueError(
                f"branch_fn must return an array shaped like shortcut {shortcut.shape}, got {jnp.shape(y)}"
            )
        return y

    if deterministic or module.is_initializing() or static_value(p) == 1.0:
        y = run(module, x)
        if deterministic and not inverted:
            y = y * p
        return shortcut + y.astype(dtype)

    key = _key(module, rng_collection, mode, f"stochastic depth of {type(module).__name__}")
    scale = jnp.asarray(_inverse(p) if inverted else 1.0, dtype)
    if mode == "row":
        return shortcut + _mask(key, run(module, x), p, "row", scale).astype(dtype)

    def kept(mdl, x, shortcut, scale):
        return shortcut + (run(mdl, x) * scale).astype(dtype)

    def skipped(mdl, x, shortcut, scale):
        return shortcut

    return nn.cond(jax.random.bernoulli(key, p), kept, skipped, module, x, shortcut, scale)
