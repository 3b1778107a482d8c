"""Input checks and the drop-rate schedule shared by the models (ResNet, MobileNetV2, ESPCN)."""

from __future__ import annotations

from typing import Any

from jaxcnn.regularizers import survival_probabilities
from jaxcnn.validation import check_bool, check_nhwc


def _check_input(x: Any, channels: int, field: str, train: Any = False, batch_stats: bool = False) -> None:
    """``x`` is NHWC with the channel count the model's ``field`` declares; ``train`` is a bool. A model
    with ``batch_stats`` refuses an empty batch in training (its NaN statistics would be kept)."""
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


def _drop_rates(num_blocks: int, drop_path_rate: float, rule: str) -> list[float]:
    """Per-block stochastic-depth drop rates 1 - p_l, ``drop_path_rate`` being the last block's."""
    if drop_path_rate == 0:
        return [0.0] * num_blocks
    probs = survival_probabilities(num_blocks, final_survival=1.0 - drop_path_rate, rule=rule)
    return [1.0 - float(p) for p in probs]
