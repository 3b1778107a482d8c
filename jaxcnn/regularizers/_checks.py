"""Argument checks shared by the regularizers; every message names the argument."""

from __future__ import annotations

import functools
from typing import Any

import jax
import numpy as np


@functools.lru_cache(maxsize=None)
def _legacy_key_shape() -> tuple[int, ...]:
    # (2,) for threefry; another default PRNG impl (e.g. rbg) has a longer raw key.
    return tuple(jax.eval_shape(lambda: jax.random.PRNGKey(0)).shape)


def check_key(key: Any, name: str = "key") -> Any:
    """Accept one new-style typed key (``jax.random.key``) or one legacy ``uint32[2]`` key."""
    hint = "pass jax.random.key(seed) or jax.random.PRNGKey(seed)"
    if not hasattr(key, "dtype") or not hasattr(key, "shape"):
        raise TypeError(f"{name} must be a JAX PRNG key; {hint}, got {type(key).__name__}")
    if jax.dtypes.issubdtype(key.dtype, jax.dtypes.prng_key):
        if tuple(key.shape) != ():
            raise ValueError(
                f"{name} must be a single key, got a key array of shape {tuple(key.shape)}; use jax.vmap over keys"
            )
        return key
    if np.dtype(key.dtype) == np.uint32 and tuple(key.shape) == _legacy_key_shape():
        return key
    raise TypeError(
        f"{name} must be a JAX PRNG key; {hint}, got an array of dtype {key.dtype} and shape {tuple(key.shape)}"
    )


def check_probability(value: Any, name: str) -> Any:
    """A rate/probability in [0, 1]. Traced scalars (schedules inside jit) pass unchecked."""
    if isinstance(value, bool):
        raise TypeError(f"{name} must be a number in [0, 1], got bool {value!r}")
    if isinstance(value, (int, float, np.number)):
        v = float(value)
        if not (0.0 <= v <= 1.0):  # also rejects NaN
            raise ValueError(f"{name} must be in [0, 1], got {value!r}")
        return v
    if hasattr(value, "shape") and hasattr(value, "dtype"):
        if tuple(value.shape) != ():
            raise ValueError(f"{name} must be a scalar in [0, 1], got an array of shape {tuple(value.shape)}")
        if not np.issubdtype(np.dtype(value.dtype), np.floating):
            raise TypeError(f"{name} must be a float in [0, 1], got dtype {value.dtype}")
        try:
            v = float(value)
        except jax.errors.ConcretizationTypeError:
            return value  # traced: cannot check here
        if not (0.0 <= v <= 1.0):
            raise ValueError(f"{name} must be in [0, 1], got {v!r}")
        return value
    raise TypeError(f"{name} must be a number in [0, 1], got {type(value).__name__}")


def static_value(value: Any) -> float | None:
    """The Python float behind ``value`` when it is known at trace time, else None."""
    if isinstance(value, (int, float, np.number)):
        return float(value)
    try:
        return float(value)
    except (jax.errors.ConcretizationTypeError, TypeError):
        return None


def check_choice(value: Any, name: str, choices: tuple[str, ...]) -> str:
    if value not in choices:
        raise ValueError(f"{name} must be one of {choices}, got {value!r}")
    return value


def check_batched(x: Any, name: str = "x") -> None:
    """An array with a leading batch axis (any rank >= 1)."""
    if not hasattr(x, "shape") or not hasattr(x, "dtype"):
        raise TypeError(f"{name} must be an array, got {type(x).__name__}")
    if len(x.shape) < 1:
        raise ValueError(f"{name} must have a leading batch axis, got a scalar")
