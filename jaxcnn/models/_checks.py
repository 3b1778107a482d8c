"""Input checks shared by the models (ResNet, MobileNetV2, ESPCN): each error names the
field as the user spells it. The general checks are in :mod:`jaxcnn.validation`."""

from __future__ import annotations

from typing import Any

from jaxcnn.validation import check_bool, check_nhwc


def _check_input(x: Any, channels: int, field: str, train: Any = False) -> None:
    """``x`` is NHWC with the channel count the model's ``field`` declares; ``train`` is a bool
    (a string such as ``'no'`` would be truthy and silently switch BatchNorm to batch statistics)."""
    check_bool(train, "train")
    check_nhwc(x, "x")
    try:
        check_nhwc(x, "x", channels=channels)
    except ValueError as e:
        raise ValueError(f"{e} The model was built with {field}={channels}; set {field} to match the input.") from None
