"""Jit-able train and eval steps for classification and image-to-image regression.

Non-finite policy: a step whose loss or gradients are not finite is *skipped* (params,
batch_stats and optimiser state are left as they were), the step counter still advances (so
the next step draws fresh data and keys), and the step's metrics carry ``nonfinite = 1``.
Callers decide when repeated skips mean divergence (the CLI stops with a message).
"""

from __future__ import annotations

from typing import Any, Callable

import jax
import jax.numpy as jnp
import optax

from jaxcnn.train.state import TrainState

TASKS = ("classify", "regress")


def _cast_floats(tree, dtype):
    if dtype is None:
        return tree
    return jax.tree.map(lambda a: a.astype(dtype) if jnp.issubdtype(a.dtype, jnp.floating) else a, tree)


def classification_loss(logits, labels, label_smoothing: float = 0.0, mask=None):
    """Mean softmax cross-entropy (optionally label-smoothed) and accuracy, both fp32."""
    num_classes = logits.shape[-1]
    targets = optax.smooth_labels(jax.nn.one_hot(labels, num_classes), label_smoothing)
    losses = optax.softmax_cross_entropy(logits.astype(jnp.float32), targets)
    correct = (jnp.argmax(logits, -1) == labels).astype(jnp.float32)
    mask = jnp.ones_like(losses) if mask is None else mask
    count = jnp.sum(mask)
    return jnp.sum(losses * mask) / count, {"accuracy": jnp.sum(correct * mask) / count}


def regression_loss(pred, target, mask=None):
    """Mean squared error and PSNR for images in [0, 1]."""
    err = jnp.mean(jnp.square(pred.astype(jnp.float32) - target.astype(jnp.float32)), axis=(1, 2, 3))
    mask = jnp.ones_like(err) if mask is None else mask
    mse = jnp.sum(err * mask) / jnp.sum(mask)
    psnr = jnp.sum(-10.0 * jnp.log10(jnp.maximum(err, 1e-12)) * mask) / jnp.sum(mask)
    return mse, {"psnr": psnr}


def _check(task: str, label_smoothing: float):
    if task not in TASKS:
        raise ValueError(f"task must be one of {TASKS}, got {task!r}")
    if not 0.0 <= label_smoothing < 1.0:
        raise ValueError(f"label_smoothing must be in [0, 1), got {label_smoothing}")


def make_train_step(task: str = "classify", label_smoothing: float = 0.0, compute_dtype: Any = None,
                    axis_name: str | None = None) -> Callable[[TrainState, dict], tuple[TrainState, dict]]:
    """Build ``train_step(state, batch) -> (state, metrics)`` (not yet jitted).

    ``batch`` holds ``'image'`` and ``'label'`` (classify) or ``'target'`` (regress).
    ``compute_dtype=jnp.bfloat16`` runs the forward/backward in bf16 from fp32 master params.
    ``axis_name`` is set under ``pmap``: gradients and metrics are averaged over it and the
    dropout key is folded with the device index so masks differ across devices. (BatchNorm
    statistics are synchronised only if the model's BatchNorm layers got the same axis_name.)
    """
    _check(task, label_smoothing)

    def train_step(state: TrainState, batch: dict):
        key = jax.random.fold_in(state.rng, state.step)
        if axis_name is not None:
            key = jax.random.fold_in(key, jax.lax.axis_index(axis_name))

        def loss_fn(params):
            variables = {"params": _cast_floats(params, compute_dtype), "batch_stats": state.batch_stats}
            x = batch["image"] if compute_dtype is None else batch["image"].astype(compute_dtype)
            out, new_vars = state.apply_fn(variables, x, train=True, mutable=["batch_stats"], rngs={"dropout": key})
            if task == "classify":
                loss, aux = classification_loss(out, batch["label"], label_smoothing)
            else:
                loss, aux = regression_loss(out, batch["target"])
            return loss, (new_vars.get("batch_stats", {}), aux)

        (loss, (batch_stats, aux)), grads = jax.value_and_grad(loss_fn, has_aux=True)(state.params)
        # Running statistics stay in the dtype they were created in (fp32), whatever the compute dtype.
        batch_stats = jax.tree.map(lambda new, old: new.astype(old.dtype), batch_stats, state.batch_stats)
        metrics = {"loss": loss, **aux}
        if axis_name is not None:
            grads, metrics = jax.lax.pmean((grads, metrics), axis_name)
        finite = jnp.isfinite(metrics["loss"]) & jnp.isfinite(optax.tree.norm(grads))
        new_state = state.apply_gradients(grads, batch_stats)
        # Skip, but still advance the step: see the module docstring.
        kept = jax.tree.map(lambda new, old: jnp.where(finite, new, old), new_state, state.replace(step=new_state.step))
        metrics["nonfinite"] = 1 - finite.astype(jnp.int32)
        return kept, metrics

    return train_step


def make_eval_step(task: str = "classify", compute_dtype: Any = None, axis_name: str | None = None):
    """Build ``eval_step(state, batch) -> sums`` with ``'count'`` and per-metric sums.

    Sums (not means) so padded last batches, marked by ``batch['mask']``, and several devices
    combine exactly: divide by ``count`` at the end.
    """
    _check(task, 0.0)

    def eval_step(state: TrainState, batch: dict):
        variables = {"params": _cast_floats(state.params, compute_dtype), "batch_stats": state.batch_stats}
        x = batch["image"] if compute_dtype is None else batch["image"].astype(compute_dtype)
        out = state.apply_fn(variables, x, train=False)
        mask = batch.get("mask", jnp.ones(x.shape[0], jnp.float32))
        count = jnp.sum(mask)
        if task == "classify":
            loss, aux = classification_loss(out, batch["label"], 0.0, mask)
        else:
            loss, aux = regression_loss(out, batch["target"], mask)
        sums = {"count": count, "loss": loss * count, **{k: v * count for k, v in aux.items()}}
        if axis_name is not None:
            sums = jax.lax.psum(sums, axis_name)
        return sums

    return eval_step
