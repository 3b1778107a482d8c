"""Argument checks for the public boundary, shared by every module: each error names the argument, the
value it got and what was expected, and is raised before anything is traced or compiled.

Sizes and counts are Python/NumPy integers: a float (even ``2.0``) or a bool is refused with an
:class:`ArgumentTypeError` (a ``TypeError`` that is also a ``ValueError``). Probabilities are numbers in
[0, 1] (NaN refused; a traced scalar passes). Flags are bools (``'no'`` would be truthy). An output of more
than :data:`MAX_OUTPUT_ELEMENTS` elements is refused before it is allocated.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

__all__ = [
    "MAX_OUTPUT_ELEMENTS",
    "ArgumentTypeError",
    "check_int",
    "check_positive_int",
    "check_odd_kernel",
    "check_int_pair",
    "check_int_tuple",
    "check_rank",
    "check_number",
    "check_probability",
    "static_value",
    "check_bool",
    "check_choice",
    "check_dtype",
    "check_axis_name",
    "check_callable",
    "check_str",
    "check_array",
    "check_nhwc",
    "check_batched",
    "check_floating",
    "check_output_size",
    "check_key",
]

# int32 indexing bound: beyond 2**31 - 1 elements XLA, the int32 indices of max pooling and most
# accelerators' memory give out. Raise it (``jaxcnn.validation.MAX_OUTPUT_ELEMENTS = ...``) if needed.
MAX_OUTPUT_ELEMENTS = 2**31 - 1


class ArgumentTypeError(TypeError, ValueError):
    """An argument of the wrong type: a ``TypeError`` that ``except ValueError`` also catches."""


def _is_int(value: Any) -> bool:
    return isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_))


def _is_real(value: Any) -> bool:
    return isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, (bool, np.bool_))


# ----------------------------------------------------------------------------- integers


def check_int(value: Any, name: str, minimum: int | None = None, maximum: int | None = None) -> int:
    """A Python/NumPy integer (not bool, not a float) in [minimum, maximum]; returned as ``int``."""
    if not _is_int(value):
        raise ArgumentTypeError(f"{name} must be an integer, got {value!r} ({type(value).__name__})")
    v = int(value)
    if minimum is not None and v < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {v}")
    if maximum is not None and v > maximum:
        raise ValueError(f"{name} must be <= {maximum}, got {v}")
    return v


def check_positive_int(value: Any, name: str) -> int:
    """An integer >= 1 (sizes, strides, counts)."""
    if not _is_int(value) or value < 1:
        error = ValueError if _is_int(value) else ArgumentTypeError
        raise error(f"{name} must be a positive integer, got {value!r} ({type(value).__name__})")
    return int(value)


def check_odd_kernel(value: Any, name: str) -> int:
    """A positive odd kernel size: torch-style symmetric padding ``(k-1)//2`` keeps H and W only then."""
    k = check_positive_int(value, name)
    if k % 2 == 0:
        raise ValueError(
            f"{name} must be odd, got {k}: symmetric 'same' padding of (k-1)//2 keeps the size only for odd "
            f"kernels (an even one shrinks every output by one pixel)"
        )
    return k


def check_int_pair(value: Any, name: str, minimum: int) -> tuple[int, int]:
    """An int or a pair of ints (torch's ``_pair``), each >= ``minimum``, as a tuple of two ints."""
    items = tuple(value) if isinstance(value, (list, tuple)) else (value, value)
    if len(items) != 2 or not all(_is_int(v) for v in items):
        raise ArgumentTypeError(f"{name} must be an int or a pair of ints, got {value!r}")
    if any(v < minimum for v in items):
        raise ValueError(f"{name} must be >= {minimum}, got {value!r}")
    return tuple(int(v) for v in items)


def check_int_tuple(
    value: Any, name: str, minimum: int | None = None, length: int | None = None, min_length: int = 1
) -> tuple[int, ...]:
    """A list/tuple of integers (``length`` of them if given, at least ``min_length``), each >= ``minimum``."""
    if not isinstance(value, (list, tuple)) or not all(_is_int(v) for v in value):
        raise ArgumentTypeError(f"{name} must be a tuple of integers, got {value!r}")
    if length is not None and len(value) != length:
        raise ValueError(f"{name} must have {length} entries, got {len(value)}: {value!r}")
    if len(value) < min_length:
        raise ValueError(
            f"{name} must have at least {min_length} entr{'y' if min_length == 1 else 'ies'}, got {value!r}"
        )
    if minimum is not None and any(v < minimum for v in value):
        raise ValueError(f"{name} entries must be >= {minimum}, got {value!r}")
    return tuple(int(v) for v in value)


# ----------------------------------------------------------------------------- numbers, flags, choices


def check_number(
    value: Any,
    name: str,
    minimum: float | None = None,
    maximum: float | None = None,
    *,
    min_inclusive: bool = True,
    max_inclusive: bool = True,
) -> float:
    """A finite real number (not bool, not NaN or inf) within the given bounds; returned as ``float``."""
    if not _is_real(value):
        raise ArgumentTypeError(f"{name} must be a real number, got {value!r} ({type(value).__name__})")
    v = float(value)
    if not math.isfinite(v):
        raise ValueError(f"{name} must be finite, got {value!r}")
    if minimum is not None and (v < minimum or (v == minimum and not min_inclusive)):
        raise ValueError(f"{name} must be {'>=' if min_inclusive else '>'} {minimum}, got {value!r}")
    if maximum is not None and (v > maximum or (v == maximum and not max_inclusive)):
        raise ValueError(f"{name} must be {'<=' if max_inclusive else '<'} {maximum}, got {value!r}")
    return v


def check_probability(value: Any, name: str) -> Any:
    """A rate/probability in [0, 1], NaN refused. Traced scalars (schedules inside jit) pass unchecked."""
    if isinstance(value, (bool, np.bool_)):
        raise ArgumentTypeError(f"{name} must be a number in [0, 1], got bool {value!r}")
    is_number = _is_real(value)
    if not is_number and not (hasattr(value, "shape") and hasattr(value, "dtype")):
        raise ArgumentTypeError(f"{name} must be a number in [0, 1], got {type(value).__name__}")
    if not is_number and tuple(value.shape) != ():
        raise ValueError(f"{name} must be a scalar in [0, 1], got an array of shape {tuple(value.shape)}")
    if not is_number and not jnp.issubdtype(value.dtype, jnp.floating):
        raise ArgumentTypeError(f"{name} must be a float in [0, 1], got dtype {value.dtype}")
    v = static_value(value)
    if v is not None and not (0.0 <= v <= 1.0):  # also rejects NaN
        raise ValueError(f"{name} must be in [0, 1], got {value!r}")
    return v if is_number else value  # a traced scalar cannot be checked here and passes


def static_value(value: Any) -> float | None:
    """The Python float behind ``value`` when it is known at trace time, else None."""
    try:
        return float(value)
    except (jax.errors.ConcretizationTypeError, TypeError):
        return None


def check_bool(value: Any, name: str, allow_none: bool = False) -> bool | None:
    """``True`` / ``False`` (or ``np.bool_``; ``None`` if allowed). Strings and ints are refused."""
    if value is None and allow_none:
        return None
    if not isinstance(value, (bool, np.bool_)):
        expected = "a bool or None" if allow_none else "a bool"
        raise ArgumentTypeError(f"{name} must be {expected}, got {value!r} ({type(value).__name__})")
    return bool(value)


def check_choice(value: Any, name: str, choices: tuple[str, ...]) -> str:
    try:
        ok = value in choices
    except TypeError:  # e.g. an array compared with strings
        ok = False
    if not ok or not isinstance(value, str):
        raise ValueError(f"{name} must be one of {choices}, got {value!r}")
    return value


def check_callable(value: Any, name: str, allow_none: bool = False) -> Callable | None:
    if value is None and allow_none:
        return None
    if not callable(value):
        raise ArgumentTypeError(f"{name} must be callable, got {value!r} ({type(value).__name__})")
    return value


def check_str(value: Any, name: str) -> str:
    if not isinstance(value, str) or not value:
        raise ArgumentTypeError(f"{name} must be a non-empty str, got {value!r} ({type(value).__name__})")
    return value


# ----------------------------------------------------------------------------- module fields


def check_dtype(dtype: Any, name: str = "dtype") -> None:
    """None (the inputs' dtype) or a floating dtype: an integer one would truncate every layer."""
    if dtype is None:
        return
    try:
        d = jnp.dtype(dtype)
    except TypeError:
        raise ArgumentTypeError(
            f"{name} must be None or a floating dtype such as jnp.bfloat16, got {dtype!r}"
        ) from None
    if not jnp.issubdtype(d, jnp.floating):
        raise ArgumentTypeError(f"{name} must be None or a floating dtype such as jnp.bfloat16, got {d}")


def check_axis_name(value: Any, name: str = "bn_axis_name") -> None:
    """None, a non-empty axis name, or a tuple of them (BatchNorm's ``axis_name``)."""
    items = value if isinstance(value, tuple) else (value,)
    if value is not None and not (items and all(isinstance(v, str) and v for v in items)):
        raise ArgumentTypeError(f"{name} must be None, an axis name (str) or a tuple of them, got {value!r}")


# ----------------------------------------------------------------------------- arrays


def check_array(x: Any, name: str = "x") -> None:
    if not hasattr(x, "shape") or not hasattr(x, "dtype"):
        raise ArgumentTypeError(f"{name} must be an array, got {type(x).__name__}")


def check_nhwc(x: Any, name: str = "x", channels: int | None = None, nonempty: bool = False) -> None:
    """A 4-D NHWC array (with ``channels`` channels if given; non-empty H and W if ``nonempty``)."""
    check_array(x, name)
    if len(x.shape) != 4:
        raise ValueError(f"{name} must be 4-D NHWC (batch, height, width, channels), got shape {tuple(x.shape)}")
    if channels is not None and x.shape[-1] != channels:
        hint = " It looks like NCHW; transpose with x.transpose(0, 2, 3, 1)." if x.shape[1] == channels else ""
        raise ValueError(
            f"{name} must be NHWC with {channels} channels in the last axis, got shape {tuple(x.shape)}.{hint}"
        )
    if nonempty and (x.shape[1] < 1 or x.shape[2] < 1):
        raise ValueError(f"{name} must have a non-empty height and width, got shape {tuple(x.shape)}")


def check_rank(x: Any, name: str, rank: int | tuple[int, ...], what: str = "") -> None:
    """An array of the given rank (or one of the given ranks); ``what`` describes the axes."""
    check_array(x, name)
    ranks = (rank,) if isinstance(rank, int) else tuple(rank)
    if len(x.shape) not in ranks:
        expected = " or ".join(f"{r}-D" for r in ranks)
        raise ValueError(f"{name} must be {expected}{' ' + what if what else ''}, got shape {tuple(x.shape)}")


def check_batched(x: Any, name: str = "x") -> None:
    """An array with a leading batch axis (any rank >= 1)."""
    check_array(x, name)
    if len(x.shape) < 1:
        raise ValueError(f"{name} must have a leading batch axis, got a scalar")


def check_floating(x: Any, name: str, why: str) -> None:
    """A floating-point array: integer and bool arrays would truncate a rescale (``why``)."""
    if not jnp.issubdtype(x.dtype, jnp.floating):
        raise ArgumentTypeError(
            f"{name} must be floating point ({why}), got dtype {x.dtype}; cast it first, e.g. x.astype(jnp.float32)"
        )


def check_output_size(shape: Sequence[int], name: str, what: str = "the output") -> tuple[int, ...]:
    """Refuse an output of more than :data:`MAX_OUTPUT_ELEMENTS` elements before allocating it."""
    shape = tuple(int(s) for s in shape)
    count = math.prod(shape)
    if count > MAX_OUTPUT_ELEMENTS:
        digits = len(str(count))
        size = f"{count:.3g}" if digits < 300 else f"about 1e{digits - 1}"
        shown = shape if max(len(str(s)) for s in shape) < 20 else "(...)"
        raise ValueError(
            f"{name} gives {what} of shape {shown} ({size} elements), more than the "
            f"{MAX_OUTPUT_ELEMENTS:.3g} allowed (jaxcnn.validation.MAX_OUTPUT_ELEMENTS)"
        )
    return shape


# ----------------------------------------------------------------------------- PRNG keys


@functools.cache
def _legacy_key_shape() -> tuple[int, ...]:
    # (2,) for threefry; another default PRNG impl (e.g. rbg) has a longer raw key.
    return tuple(jax.eval_shape(lambda: jax.random.PRNGKey(0)).shape)


def check_key(key: Any, name: str = "key") -> Any:
    """Accept one new-style typed key (``jax.random.key``) or one legacy ``uint32[2]`` key."""
    hint = "pass jax.random.key(seed) or jax.random.PRNGKey(seed)"
    if not hasattr(key, "dtype") or not hasattr(key, "shape"):
        raise ArgumentTypeError(f"{name} must be a JAX PRNG key; {hint}, got {type(key).__name__}")
    if jax.dtypes.issubdtype(key.dtype, jax.dtypes.prng_key):
        if tuple(key.shape) != ():
            raise ValueError(
                f"{name} must be a single key, got a key array of shape {tuple(key.shape)}; use jax.vmap over keys"
            )
        return key
    if np.dtype(key.dtype) == np.uint32 and tuple(key.shape) == _legacy_key_shape():
        return key
    raise ArgumentTypeError(
        f"{name} must be a JAX PRNG key; {hint}, got an array of dtype {key.dtype} and shape {tuple(key.shape)}"
    )
