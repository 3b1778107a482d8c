"""Jit-able train and eval steps: built-in classification and regression losses, or your own.

Skip policy: a step whose loss, gradients or update are not finite, or (built-in classification
loss) with a label outside ``[0, num_classes)`` (its one-hot is all zeros: a silently wrong loss),
leaves params, batch_stats and optimiser state bitwise as they were but still advances the step.
Its metrics say why: ``skipped``, ``nonfinite`` (loss, gradients or update), ``nonfinite_update``
(the update alone), all 0/1, and ``bad_labels`` (how many). Callers decide when repeated skips
mean divergence (``fit`` stops with a message; it also refuses bad labels on the host).
"""

from __future__ import annotations

import zlib
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax

from jaxcnn.regularizers.stochastic_depth import global_stream
from jaxcnn.train.state import TrainState
from jaxcnn.validation import (
    ArgumentTypeError,
    check_array,
    check_axis_name,
    check_callable,
    check_choice,
    check_dtype,
    check_key,
    check_number,
    check_positive_int,
    check_probability,
    check_rank,
    check_str,
    static_value,
)

__all__ = [
    "TASKS",
    "classification_loss",
    "regression_loss",
    "count_bad_labels",
    "step_rngs",
    "make_train_step",
    "make_eval_step",
    "check_step_args",
]

TASKS = ("classify", "regress")
LossFn = Callable[[Any, dict], tuple[jax.Array, dict]]


def _cast_floats(tree, dtype):
    if dtype is None:
        return tree
    return jax.tree.map(lambda a: a.astype(dtype) if jnp.issubdtype(a.dtype, jnp.floating) else a, tree)


def _all_finite(tree) -> jax.Array:
    leaves = [jnp.all(jnp.isfinite(x)) for x in jax.tree.leaves(tree) if jnp.issubdtype(x.dtype, jnp.inexact)]
    return jnp.all(jnp.stack(leaves)) if leaves else jnp.array(True)


def _check_classification(logits, labels, label_smoothing, mask) -> None:
    """Shapes and dtypes (free at trace time): (B, 1) or float labels would give a wrong loss silently."""
    check_array(logits, "logits")
    if len(logits.shape) < 2:
        raise ValueError(f"logits must be (batch, num_classes) (or (..., num_classes)), got {tuple(logits.shape)}")
    check_array(labels, "labels")
    if not jnp.issubdtype(labels.dtype, jnp.integer):
        raise ArgumentTypeError(f"labels must be integer class indices, got dtype {labels.dtype}")
    if tuple(labels.shape) != tuple(logits.shape[:-1]):
        raise ValueError(
            f"labels must have shape {tuple(logits.shape[:-1])} (logits {tuple(logits.shape)} without "
            f"the class axis), got {tuple(labels.shape)}"
        )
    check_probability(label_smoothing, "label_smoothing")
    if static_value(label_smoothing) == 1.0:
        raise ValueError("label_smoothing must be < 1, got 1.0 (uniform targets: nothing to learn)")
    _check_mask(mask, tuple(labels.shape))


def _check_mask(mask, shape: tuple) -> None:
    if mask is None:
        return
    check_array(mask, "mask")
    if tuple(mask.shape) != shape:
        raise ValueError(f"mask must have shape {shape} (one 0/1 weight per row), got {tuple(mask.shape)}")


def classification_loss(logits, labels, label_smoothing: float = 0.0, mask=None):
    """Mean softmax cross-entropy (optionally label-smoothed) and accuracy, both fp32.

    ``labels``: integer class indices of shape ``logits.shape[:-1]`` (``mask`` the same shape). Concrete
    labels outside ``[0, num_classes)`` raise; traced ones (in ``jit``) are counted by the train step.
    """
    _check_classification(logits, labels, label_smoothing, mask)
    if not isinstance(labels, jax.core.Tracer):
        check_label_range(labels, logits.shape[-1], "labels")
    return _classification_loss(logits, labels, label_smoothing, mask)


def check_label_range(labels, num_classes: int, where: str) -> None:
    """Concrete ``labels`` lie in ``[0, num_classes)``; else a ValueError naming ``where``, the values and rows."""
    labels = np.asarray(labels)
    bad = (labels < 0) | (labels >= num_classes)
    if bad.any():
        raise ValueError(
            f"{where}: label(s) {sorted(set(labels[bad].tolist()))[:8]} at rows "
            f"{np.flatnonzero(bad.reshape(-1))[:8].tolist()} outside [0, {num_classes})"
        )


def _classification_loss(logits, labels, label_smoothing, mask):
    num_classes = logits.shape[-1]
    targets = optax.smooth_labels(jax.nn.one_hot(labels, num_classes), label_smoothing)
    losses = optax.softmax_cross_entropy(logits.astype(jnp.float32), targets)
    correct = (jnp.argmax(logits, -1) == labels).astype(jnp.float32)
    mask = jnp.ones_like(losses) if mask is None else mask
    count = jnp.sum(mask)
    return jnp.sum(losses * mask) / count, {"accuracy": jnp.sum(correct * mask) / count}


def regression_loss(pred, target, mask=None):
    """Mean squared error and PSNR for NHWC images in [0, 1]; ``mask`` (if given) has shape (B,)."""
    check_rank(pred, "pred", 4, "NHWC (batch, height, width, channels)")
    check_array(target, "target")
    if tuple(target.shape) != tuple(pred.shape):  # (B, H, W, 1) against (B, H, W, 3) would broadcast
        raise ValueError(f"target must have the shape of pred {tuple(pred.shape)}, got {tuple(target.shape)}")
    _check_mask(mask, tuple(pred.shape[:1]))
    err = jnp.mean(jnp.square(pred.astype(jnp.float32) - target.astype(jnp.float32)), axis=(1, 2, 3))
    mask = jnp.ones_like(err) if mask is None else mask
    mse = jnp.sum(err * mask) / jnp.sum(mask)
    psnr = jnp.sum(-10.0 * jnp.log10(jnp.maximum(err, 1e-12)) * mask) / jnp.sum(mask)
    return mse, {"psnr": psnr}


def count_bad_labels(labels, num_classes: int) -> jax.Array:
    """How many ``labels`` lie outside ``[0, num_classes)``."""
    check_positive_int(num_classes, "num_classes")
    labels = jnp.asarray(labels)
    return jnp.sum((labels < 0) | (labels >= num_classes)).astype(jnp.int32)


def _stream_id(name: str) -> int:
    # A stable 31-bit number per stream name (Python's hash() changes between processes).
    return zlib.crc32(name.encode()) & 0x7FFFFFFF


def step_rngs(rng: jax.Array, step, streams: Sequence[str] = ("dropout",), axis_name: str | None = None) -> dict:
    """The keys of one train step: stream ``s`` gets ``fold_in(fold_in(rng, step), crc32(s))``, further
    folded with the device index under ``pmap`` (``axis_name`` set). Its companion ``global_stream(s)``
    is never folded with the device index: one key for decisions about the whole global batch (the
    batch-mode stochastic-depth coin reads ``'dropout_global'``).
    """
    check_key(rng, "rng")
    _check_streams(streams, "streams")
    check_axis_name(axis_name, "axis_name")
    base = jax.random.fold_in(rng, step)
    rngs = {}
    for s in streams:
        key = jax.random.fold_in(base, _stream_id(s))
        rngs[s] = key if axis_name is None else jax.random.fold_in(key, jax.lax.axis_index(axis_name))
        rngs[global_stream(s)] = jax.random.fold_in(base, _stream_id(global_stream(s)))
    return rngs


def _check_streams(streams, name: str) -> None:
    if not (isinstance(streams, (list, tuple)) and all(isinstance(s, str) and s for s in streams)):
        raise ArgumentTypeError(f"{name} must be a list or tuple of stream names, got {streams!r}")
    if len(set(streams)) != len(streams):
        raise ValueError(f"{name} has duplicates: {streams!r}")


def check_step_args(
    task="classify",
    label_smoothing=0.0,
    compute_dtype=None,
    axis_name=None,
    loss_fn=None,
    rng_streams=("dropout",),
    input_key="image",
) -> None:
    """The arguments of :func:`make_train_step` and :func:`make_eval_step`, checked when a step is built."""
    check_choice(task, "task", TASKS)
    check_number(label_smoothing, "label_smoothing", 0.0, 1.0, max_inclusive=False)
    check_dtype(compute_dtype, "compute_dtype")
    check_axis_name(axis_name, "axis_name")
    check_callable(loss_fn, "loss_fn", allow_none=True)
    _check_streams(rng_streams, "rng_streams")
    check_str(input_key, "input_key")


def batch_keys(task: str, loss_fn, input_key: str) -> tuple[str, ...]:
    """The entries of a batch a step reads: the input, and the built-in loss's ``label``/``target``."""
    return (input_key,) + (() if loss_fn is not None else ("label" if task == "classify" else "target",))


def check_batch(batch, keys: tuple[str, ...], where: str = "batch") -> None:
    """The entries a step reads exist (a dict lookup: at trace time in the step, per step on the host in ``fit``)."""
    if not isinstance(batch, Mapping):
        raise ArgumentTypeError(f"{where} must be a dict of arrays, got {type(batch).__name__}")
    for k in keys:
        if k not in batch:
            raise ValueError(f"{where} has no {k!r} entry (the step reads {list(keys)}); it has {list(batch)}")


def _loss(task, label_smoothing, loss_fn, outputs, batch):
    """(loss, metrics, bad_labels or None) of the built-in loss of ``task`` or of ``loss_fn``."""
    if loss_fn is not None:
        result = loss_fn(outputs, batch)
        if not (isinstance(result, tuple) and len(result) == 2 and isinstance(result[1], dict)):
            raise TypeError(f"loss_fn must return (loss, metrics_dict), got {type(result).__name__}")
        return result[0], result[1], None
    if task == "classify":
        _check_classification(outputs, batch["label"], label_smoothing, batch.get("mask"))
        loss, aux = _classification_loss(outputs, batch["label"], label_smoothing, batch.get("mask"))
        return loss, aux, count_bad_labels(batch["label"], outputs.shape[-1])
    loss, aux = regression_loss(outputs, batch["target"], batch.get("mask"))
    return loss, aux, None


def make_train_step(
    task: str = "classify",
    label_smoothing: float = 0.0,
    compute_dtype: Any = None,
    axis_name: str | None = None,
    *,
    loss_fn: LossFn | None = None,
    rng_streams: Sequence[str] = ("dropout",),
    input_key: str = "image",
) -> Callable[[TrainState, dict], tuple[TrainState, dict]]:
    """Build ``train_step(state, batch) -> (state, metrics)`` (not yet jitted).

    The model is called as ``state.apply_fn(variables, batch[input_key], train=True,
    mutable=['batch_stats'], rngs=step_rngs(...))``; its random layers may draw only from
    ``rng_streams`` (and their ``'_global'`` companions). Loss: ``loss_fn(outputs, batch) -> (loss,
    metrics_dict)``, else :func:`classification_loss` on ``batch['label']`` (``task='classify'``) or
    :func:`regression_loss` on ``batch['target']``, weighted by ``batch['mask']`` if present. A batch
    that lacks those entries or has labels of the wrong shape or dtype raises when traced.
    ``compute_dtype=jnp.bfloat16`` runs forward/backward in bf16 from fp32 master params.
    ``axis_name``: only under ``pmap`` (legacy), to average gradients and metrics over it; on a mesh
    under ``jit`` leave it ``None``, the step is already global.
    """
    check_step_args(task, label_smoothing, compute_dtype, axis_name, loss_fn, rng_streams, input_key)
    rng_streams = tuple(rng_streams)

    def train_step(state: TrainState, batch: dict):
        check_batch(batch, batch_keys(task, loss_fn, input_key))
        rngs = step_rngs(state.rng, state.step, rng_streams, axis_name)

        def objective(params):
            variables = {"params": _cast_floats(params, compute_dtype), "batch_stats": state.batch_stats}
            x = batch[input_key] if compute_dtype is None else batch[input_key].astype(compute_dtype)
            out, new_vars = state.apply_fn(variables, x, train=True, mutable=["batch_stats"], rngs=rngs)
            loss, aux, bad = _loss(task, label_smoothing, loss_fn, out, batch)
            return loss, (new_vars.get("batch_stats", {}), aux, bad)

        (loss, (batch_stats, aux, bad)), grads = jax.value_and_grad(objective, has_aux=True)(state.params)
        # Running statistics stay in the dtype they were created in (fp32), whatever the compute dtype.
        batch_stats = jax.tree.map(lambda new, old: new.astype(old.dtype), batch_stats, state.batch_stats)
        metrics = {"loss": loss, **aux}
        if axis_name is not None:
            grads, metrics = jax.lax.pmean((grads, metrics), axis_name)
            bad = None if bad is None else jax.lax.psum(bad, axis_name)  # every device skips together
        grads_ok = jnp.isfinite(metrics["loss"]) & jnp.isfinite(optax.tree.norm(grads))
        new_state = state.apply_gradients(grads, batch_stats)
        update_ok = _all_finite((new_state.params, new_state.batch_stats, new_state.opt_state))
        ok = grads_ok & update_ok if bad is None else grads_ok & update_ok & (bad == 0)
        # Skip, but still advance the step: see the module docstring.
        kept = jax.tree.map(lambda new, old: jnp.where(ok, new, old), new_state, state.replace(step=new_state.step))
        metrics["skipped"] = 1 - ok.astype(jnp.int32)
        metrics["nonfinite"] = 1 - (grads_ok & update_ok).astype(jnp.int32)
        metrics["nonfinite_update"] = (grads_ok & ~update_ok).astype(jnp.int32)
        if bad is not None:
            metrics["bad_labels"] = bad
        return kept, metrics

    return train_step


def make_eval_step(
    task: str = "classify",
    compute_dtype: Any = None,
    axis_name: str | None = None,
    *,
    loss_fn: LossFn | None = None,
    input_key: str = "image",
):
    """Build ``eval_step(state, batch) -> sums`` with ``'count'`` and per-metric sums.

    Sums, so padded batches (``batch['mask']``) and devices combine exactly: divide by ``count`` at
    the end. A custom ``loss_fn`` must return means over the rows the mask keeps.
    """
    check_step_args(task, 0.0, compute_dtype, axis_name, loss_fn, input_key=input_key)

    def eval_step(state: TrainState, batch: dict):
        check_batch(batch, batch_keys(task, loss_fn, input_key))
        variables = {"params": _cast_floats(state.params, compute_dtype), "batch_stats": state.batch_stats}
        x = batch[input_key] if compute_dtype is None else batch[input_key].astype(compute_dtype)
        out = state.apply_fn(variables, x, train=False)
        mask = batch.get("mask", jnp.ones(x.shape[0], jnp.float32))
        count = jnp.sum(mask)
        loss, aux, _ = _loss(task, 0.0, loss_fn, out, {**batch, "mask": mask})
        # Under jit XLA may fuse max(x, 0) into the reduction that follows it and drop a NaN there, so
        # a non-finite input can give a finite loss; make it NaN, as the eager call gives.
        loss = jnp.where(_all_finite(batch[input_key]), loss, jnp.nan)
        sums = {"count": count, "loss": loss * count, **{k: v * count for k, v in aux.items()}}
        if axis_name is not None:
            sums = jax.lax.psum(sums, axis_name)
        return sums

    return eval_step
