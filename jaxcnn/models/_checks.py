"""Field and input checks shared by the models (ResNet, MobileNetV2, ESPCN): each error names the
field as the user spells it. The general checks are in :mod:`jaxcnn.validation`."""

from __future__ import annotations

from typing import Any

import jax.numpy as jnp

from jaxcnn.regularizers.stochastic_depth import MODES, SCHEDULE_RULES, TEST_RULES
from jaxcnn.validation import (ArgumentTypeError, check_bool, check_callable, check_choice, check_nhwc,
                               check_probability)


def _check_dtype(dtype: Any, name: str = "dtype") -> None:
    """None (the inputs' dtype) or a floating dtype: an integer one would truncate every layer."""
    if dtype is None:
        return
    try:
        d = jnp.dtype(dtype)
    except TypeError:
        raise ArgumentTypeError(f"{name} must be None or a floating dtype such as jnp.bfloat16, got {dtype!r}") from None
    if not jnp.issubdtype(d, jnp.floating):
        raise ArgumentTypeError(f"{name} must be None or a floating dtype such as jnp.bfloat16, got {d}")


def _check_axis_name(value: Any, name: str = "bn_axis_name") -> None:
    """None, a non-empty axis name, or a tuple of them (BatchNorm's ``axis_name``)."""
    items = value if isinstance(value, tuple) else (value,)
    if value is not None and not (items and all(isinstance(v, str) and v for v in items)):
        raise ArgumentTypeError(f"{name} must be None, an axis name (str) or a tuple of them, got {value!r}")


def _check_layers(conv: Any, norm: Any, act: Any) -> None:
    check_callable(conv, "conv", allow_none=True)
    check_callable(norm, "norm")
    check_callable(act, "act")


def _check_drop_path(rate: Any, rule: Any, mode: Any, test_rule: Any) -> None:
    """The four stochastic-depth fields ResNet and MobileNetV2 share (named as the fields)."""
    check_probability(rate, "drop_path_rate")
    check_choice(rule, "drop_path_rule", SCHEDULE_RULES)
    check_choice(mode, "drop_path_mode", MODES)
    check_choice(test_rule, "drop_path_test_rule", TEST_RULES)


def _check_input(x: Any, channels: int, field: str, train: Any = False) -> None:
    """``x`` is NHWC with the channel count the model's ``field`` declares; ``train`` is a bool
    (a string such as ``'no'`` would be truthy and silently switch BatchNorm to batch statistics)."""
    check_bool(train, "train")
    check_nhwc(x, "x")
    try:
        check_nhwc(x, "x", channels=channels)
    except ValueError as e:
        raise ValueError(f"{e} The model was built with {field}={channels}; set {field} to match the input.") from None
