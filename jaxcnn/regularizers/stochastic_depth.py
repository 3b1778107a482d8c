"""Stochastic depth (Huang et al. 2016, "Deep Networks with Stochastic Depth").

Two semantics are in use and they differ in three places:

=================  ===============================  =========================================
                   paper (``mode='batch'``)          torchvision ``mode='row'`` / timm DropPath
=================  ===============================  =========================================
what is dropped    the whole branch, whole batch    the branch of each sample independently
train-time scale   none                             kept branches divided by p (inverted)
test time          branch multiplied by p           identity
=================  ===============================  =========================================

Both test-time rules are offered with either mode (``test_rule='paper' | 'inverted'``); both
make E[train output] equal the test output. Only the batch mode can skip the branch's compute,
and only through a real conditional (:func:`stochastic_residual`); a 0/1 mask still runs it.

Survival schedules (:func:`survival_probabilities`) also differ between sources: see there.

Data parallelism: a batch-mode coin decides for the *global* batch, so every device and process
must draw the same one (under ``pmap`` with synchronised BatchNorm, devices that take different
branches deadlock or crash in the collective). It is drawn from the stream
``global_stream(rng_collection)`` (``'dropout_global'``) when the caller provides it, else from
``rng_collection``. ``jaxcnn.train.make_train_step`` provides both: per-device keys for masks,
one key for every device for coins.
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


def _coin_key(module: nn.Module, rng_collection: str, what: str) -> jax.Array:
    # One coin for the global batch: the device-independent stream when the caller gave one.
    name = global_stream(rng_collection)
    return require_rng(module, name if module.has_rng(name) else rng_collection, what)


def survival_probabilities(num_blocks: int, final_survival: float = 0.5, rule: str = "paper") -> tuple[float, ...]:
    """Survival probability of each of ``num_blocks`` residual blocks, input side first.

    With ``r = 1 - final_survival`` and blocks indexed ``l = 1..L`` (``i = l - 1 = 0..L-1``):

    * ``'paper'`` (Huang et al. eq. 4): ``p_l = 1 - (l / L) * r``; the last block has exactly
      ``final_survival`` (the paper's p_L = 0.5) and the first already drops ``r / L``.
    * ``'timm'`` (timm ResNet ``drop_path_rate * i / (N - 1)``, same as ``linspace(0, r, N)``):
      ``p_i = 1 - r * i / (L - 1)``; the first block is never dropped, the last has
      ``final_survival``; one block gets ``(1.0,)`` (linspace with one point).
    * ``'torchvision'`` (EfficientNet/MBConv ``stochastic_depth_prob * i / N``):
      ``p_i = 1 - r * i / L``; the first block is never dropped and the last keeps
      ``1 - r (L-1)/L``, i.e. never reaches ``final_survival``.
    * ``'uniform'``: every block ``final_survival`` (the paper's constant baseline).

    Blocks are counted across the whole network (all stages), as every source above does.
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
    """Train-time stochastic depth on a branch output ``x`` (batch axis first, any rank).

    ``mode='row'`` drops each sample's branch with probability ``drop_rate`` (torchvision
    ``ops.stochastic_depth(mode='row')``, timm ``drop_path``); ``mode='batch'`` draws one coin
    for the whole batch (the paper). ``scale_by_keep=True`` divides kept values by
    ``1 - drop_rate`` (inverted rule, torchvision/timm); ``False`` leaves them unscaled (the paper,
    which instead scales by the survival probability at test time). ``drop_rate = 1`` returns
    zeros, as torchvision does. This is a mask: the branch was already computed; to skip it use
    :func:`stochastic_residual`. With ``scale_by_keep=True`` ``x`` must be floating point (an
    integer ``x`` would have the 1/p rescale truncated), whatever the rate.
    """
    check_key(key)
    check_batched(x, "x")
    drop_rate = check_probability(drop_rate, "drop_rate")
    check_choice(mode, "mode", MODES)
    if check_bool(scale_by_keep, "scale_by_keep"):
        check_floating(
            x,
            "x",
            "scale_by_keep=True divides kept samples by 1 - drop_rate; pass scale_by_keep=False to mask integers",
        )
    if static_value(drop_rate) == 0.0:
        return x
    survival = 1.0 - drop_rate
    shape = (x.shape[0],) + (1,) * (x.ndim - 1) if mode == "row" else (1,) * x.ndim
    keep = jax.random.bernoulli(key, survival, shape)
    # Guarded 1/p: with p = 0 nothing is kept, and inf must not reach the 0 entries.
    scale = 1.0 / jnp.maximum(survival, jnp.finfo(jnp.float32).tiny) if scale_by_keep else 1.0
    return x * jnp.where(keep, scale, 0.0).astype(x.dtype)


class StochasticDepth(Declared, nn.Module):
    """Mask-based stochastic depth on a branch output (see :func:`stochastic_depth`).

    ``test_rule='inverted'`` (default, torchvision/timm): scale by 1/p in training, identity at
    test. ``'paper'``: no train-time scale, multiply by p = 1 - drop_rate at test. The key comes
    from ``make_rng(rng_collection)`` (a batch-mode coin from ``global_stream(rng_collection)``
    when given, see the module docstring); training without that rng raises, naming the stream,
    except with ``drop_rate == 0`` where, like ``nn.Dropout``, nothing is drawn. Fields are
    checked at construction, ``x`` in both modes: it must be floating point (either rule
    rescales it, by 1/p in training or by p at test time).
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
        drop_rate = self.drop_rate
        if deterministic:
            return x if self.test_rule == "inverted" else x * jnp.asarray(1.0 - drop_rate, x.dtype)
        if static_value(drop_rate) == 0.0:
            return x
        what = "StochasticDepth"
        key = (
            _coin_key(self, self.rng_collection, what)
            if self.mode == "batch"
            else require_rng(self, self.rng_collection, what)
        )
        return stochastic_depth(key, x, drop_rate, self.mode, scale_by_keep=self.test_rule == "inverted")


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
    """``shortcut + branch_fn(module, x)`` under stochastic depth; a dropped batch-mode branch is not run.

    Contract (for wiring into a residual block's compact ``__call__``):

    * ``branch_fn(mdl, x)`` builds and applies the residual branch using ``mdl`` as the parent
      (inline submodules with explicit ``name=`` or setup attributes ``mdl.conv1``); it must
      return an array shaped like ``shortcut``. It is cast to ``shortcut.dtype``. The post-sum
      activation stays with the caller. Give branch submodules explicit names: auto names
      (``Conv_0``) are counted per lifted clone and can differ between init and apply.
    * ``survival_prob`` is p_l for this block (e.g. from :func:`survival_probabilities`),
      static or traced.
    * ``mode='batch'`` (paper): one coin per call, from the stream ``global_stream(rng_collection)``
      if the caller provides it (the same on every device), else from ``rng_collection``;
      ``nn.cond`` runs the branch only when kept, so a dropped branch costs no forward or
      backward compute under ``jit``, its params get exactly zero gradient and its BatchNorm
      ``batch_stats`` are returned unchanged. Under ``jax.vmap`` the cond becomes a select and
      both sides run. ``mode='row'``: the branch always runs and each sample is masked.
      Measured caveat: on XLA:CPU a conv's *gradient* inside a cond runs ~30x slower than
      outside one (forward is unaffected), so the skip pays off on GPU/TPU, not on CPU.
    * ``test_rule='paper'``: no train-time scale; at test the branch is multiplied by p.
      ``'inverted'``: kept branches divided by p in training; identity at test.
    * During ``init`` the branch is always run directly, so every variable is created
      (``nn.cond`` needs both sides to see the same variables, and the skip side creates none).
      With p static and equal to 1 no coin is drawn.
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
    check_floating(
        shortcut,
        "shortcut",
        "the branch is scaled by the survival probability or its inverse and added in the shortcut's dtype",
    )
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

    what = f"stochastic depth of {type(module).__name__}"
    key = _coin_key(module, rng_collection, what) if mode == "batch" else require_rng(module, rng_collection, what)
    scale = 1.0 / jnp.maximum(p, jnp.finfo(jnp.float32).tiny) if inverted else jnp.ones(())
    scale = jnp.asarray(scale, dtype)
    if mode == "row":
        y = run(module, x)
        keep = jax.random.bernoulli(key, p, (y.shape[0],) + (1,) * (y.ndim - 1))
        return shortcut + (y * jnp.where(keep, scale, 0).astype(y.dtype)).astype(dtype)

    def kept(mdl, x, shortcut, scale):
        return shortcut + (run(mdl, x) * scale).astype(dtype)

    def skipped(mdl, x, shortcut, scale):
        return shortcut

    return nn.cond(jax.random.bernoulli(key, p), kept, skipped, module, x, shortcut, scale)
