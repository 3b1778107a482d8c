"""Receptive fields measured by gradients: the support box and Luo et al.'s effective field.

An output unit's input gradient is nonzero only inside its field, but can be *silently zero*
inside it too (dead ReLU, max-pool routing, ReLU6 saturation, underflow). So the support is
measured with ``positive_variables`` (positive fan-in-normalised kernels, identity BatchNorm,
zero biases: every pre-activation stays positive and near the input's range), random positive
inputs stacked on the batch axis (max-pool argmaxes differ across samples), |grad| summed over
samples and channels, and float64 (deep nets' extreme-path gradients are about 3^-depth).
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Callable, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from jaxcnn.analysis.receptive_field import _check_shape
from jaxcnn.validation import (
    ArgumentTypeError,
    check_callable,
    check_dtype,
    check_int,
    check_int_tuple,
    check_number,
    check_positive_int,
)

__all__ = [
    "MeasuredField",
    "measured_receptive_field",
    "effective_receptive_field",
    "positive_variables",
    "input_gradient",
]


@dataclasses.dataclass(frozen=True)
class MeasuredField:
    """Bounding box (inclusive, input coordinates) of the nonzero input gradient of ``unit``."""

    box: tuple  # ((h_lo, h_hi), (w_lo, w_hi))
    unit: tuple  # (i, j) of the output unit
    output_shape: tuple

    @property
    def size(self) -> tuple:
        return tuple(hi - lo + 1 for lo, hi in self.box)


def positive_variables(variables: Any, seed: int = 0, bn_scale: float = 0.5) -> Any:
    """Flax variables with positive fan-in-normalised kernels, BatchNorm scale ``bn_scale``
    (< 1 so residual sums stay below ReLU6's cap), unit variance, zero biases and means (see
    the module docstring for why). Accepts arrays or ShapeDtypeStructs; returns numpy arrays.

    ``bn_scale`` must be positive: a negative scale flips signs, so ReLUs die and the support shrinks."""
    seed = check_int(seed, "seed", minimum=0)
    bn_scale = check_number(bn_scale, "bn_scale", 0.0, min_inclusive=False)
    rng = np.random.default_rng(seed)  # numpy: hundreds of small leaves, no per-shape compiles
    leaves, treedef = jax.tree_util.tree_flatten_with_path(variables)
    if not all(hasattr(leaf, "shape") for _, leaf in leaves):
        raise ArgumentTypeError(
            f"variables must be a pytree of arrays or ShapeDtypeStructs (a model's variables), "
            f"got {type(variables).__name__}"
        )
    out = []
    for path, leaf in leaves:
        name = str(getattr(path[-1], "key", path[-1]))
        shape = tuple(leaf.shape)
        if name == "kernel":
            w = rng.uniform(0.5, 1.5, shape).astype(np.float32)
            out.append(w / w.sum(axis=tuple(range(len(shape) - 1)), keepdims=True))
        else:  # bias, mean and anything else: zero keeps sums positive without shifting them
            out.append(np.full(shape, {"scale": bn_scale, "var": 1.0}.get(name, 0.0), np.float32))
    return jax.tree_util.tree_unflatten(treedef, out)


def _cast(tree, dtype):
    return jax.tree_util.tree_map(
        lambda a: np.asarray(a, dtype) if np.issubdtype(np.asarray(a).dtype, np.floating) else a, tree
    )


def input_gradient(f: Callable, x: jax.Array, *args: Any, unit: Sequence[int] | None = None) -> tuple:
    """``(d sum_c f(x)[:, i, j, c] / dx, (i, j), output_shape)`` for the output ``unit`` (centre by default)."""
    check_callable(f, "f")
    out_shape, (i, j) = _output_unit(f, jax.ShapeDtypeStruct(x.shape, x.dtype), args, unit)
    grad = jax.jit(jax.grad(lambda x: jnp.sum(f(x, *args)[:, i, j, :])))(x)
    return grad, (i, j), tuple(out_shape)


def _output_unit(f, x, args, unit) -> tuple:
    """(output shape, (i, j)) of ``f`` at ``x`` (abstract: nothing runs), ``unit`` checked against it."""
    if unit is not None:
        unit = check_int_tuple(unit, "unit", length=2)
    out_shape = jax.eval_shape(lambda x: f(x, *args), x).shape
    if len(out_shape) != 4:
        raise ValueError(f"f must return a 4-D NHWC map, got shape {tuple(out_shape)}")
    i, j = (out_shape[1] // 2, out_shape[2] // 2) if unit is None else unit
    if not (0 <= i < out_shape[1] and 0 <= j < out_shape[2]):
        raise ValueError(f"unit {(i, j)} is outside the output's spatial shape {tuple(out_shape[1:3])}")
    return tuple(out_shape), (i, j)


def _check_args(f, input_shape, num_samples, key, unit, args) -> None:
    check_callable(f, "f")
    if _check_shape(input_shape)[0] != 1:
        raise ValueError(f"input_shape must be (1, H, W, C): samples go on the batch axis, got {tuple(input_shape)}")
    check_positive_int(num_samples, "num_samples")
    check_int(key, "key")  # a seed for jax.random.key
    _output_unit(f, jax.ShapeDtypeStruct((num_samples, *input_shape[1:]), jnp.float32), args, unit)


def measured_receptive_field(
    f: Callable,
    input_shape: Sequence[int],
    *args: Any,
    unit: Sequence[int] | None = None,
    num_samples: int = 2,
    key: int = 0,
    dtype=jnp.float64,
) -> MeasuredField:
    """Bounding box of the input-gradient support of one output unit of ``f(x, *args)``.

    ``input_shape`` is (1, H, W, C); ``num_samples`` random inputs in [0.5, 1.5) go through the
    batch axis (``f`` must treat samples independently, as models do with ``train=False``).
    Pass weights from ``positive_variables`` so that no path is silently zeroed.
    """
    check_dtype(dtype, "dtype")  # the input is random in [0.5, 1.5): an integer dtype would make it constant
    dtype = jnp.float64 if dtype is None else dtype
    _check_args(f, input_shape, num_samples, key, unit, args)
    with jax.enable_x64(True) if jnp.dtype(dtype) == jnp.float64 else contextlib.nullcontext():
        x = jax.random.uniform(jax.random.key(key), (num_samples,) + tuple(input_shape[1:]), dtype, 0.5, 1.5)
        grad, ij, out_shape = input_gradient(f, x, *_cast(args, dtype), unit=unit)
        support = np.asarray(jnp.any(grad != 0, axis=(0, 3)))
    if not support.any():
        raise ValueError(
            f"output unit {ij} has zero gradient everywhere: no input reaches it (or every path was zeroed)"
        )
    rows, cols = np.flatnonzero(support.any(1)), np.flatnonzero(support.any(0))
    return MeasuredField(((int(rows[0]), int(rows[-1])), (int(cols[0]), int(cols[-1]))), ij, out_shape)


def effective_receptive_field(
    f: Callable,
    input_shape: Sequence[int],
    *args: Any,
    unit: Sequence[int] | None = None,
    num_samples: int = 16,
    key: int = 0,
    batch: int = 4,
) -> np.ndarray:
    """Effective receptive field (Luo et al. 2016): the mean over random N(0, 1) inputs of
    |d f(x)[centre] / dx| summed over input channels, normalised to sum to 1; an (H, W) array.

    The gradient signal is 1 at the chosen unit for every output channel and 0 elsewhere, as in
    the paper. Use the model's own (trained or freshly initialised) weights, not ``positive_variables``.
    """
    batch = check_positive_int(batch, "batch")
    _check_args(f, input_shape, num_samples, key, unit, args)
    total = np.zeros(tuple(input_shape[1:3]), np.float64)
    keys = jax.random.split(jax.random.key(key), -(-num_samples // batch))
    for k, start in zip(keys, range(0, num_samples, batch)):
        x = jax.random.normal(k, (min(batch, num_samples - start), *input_shape[1:]), jnp.float32)
        grad, _, _ = input_gradient(f, x, *args, unit=unit)
        total += np.asarray(jnp.abs(grad).sum(axis=(0, 3)), np.float64)
    if total.sum() == 0:
        raise ValueError("the gradient of the chosen unit is zero for every sample")
    return total / total.sum()
