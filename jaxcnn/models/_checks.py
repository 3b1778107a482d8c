"""Input checks shared by the models (ResNet, MobileNetV2, ESPCN): each error names the
field as the user spells it. The general checks are in :mod:`jaxcnn.validation`."""

from __future__ import annotations

from typing import Any

from jaxcnn.validation import check_bool, check_nhwc


def _check_input(x: Any, channels: int, field: str, train: Any = False, batch_stats: bool = False) -> None:
    """``x`` is NHWC with the channel count the model's ``field`` declares; ``train`` is a bool
    (a string such as ``'no'`` would be truthy and silently switch BatchNorm to batch statistics).
    A model with ``batch_stats`` refuses an empty batch in training: the mean of no samples is NaN,
    and it would become the running statistics."""
    check_bool(train, "train")
    check_nhwc(x, "x")
    try:
        check_nhwc(x, "x", channels=channels)
    except ValueError as e:
        raise ValueError(f"{e} The model was built with {field}={channels}; set {field} to match the input.") from None
    if train and batch_stats and x.shape[0] == 0:
        raise ValueError(
            f"x must hold at least one sample in training (train=True), got shape {tuple(x.shape)}: "
            f"batch statistics of an empty batch are NaN and would become the running statistics"
        )
