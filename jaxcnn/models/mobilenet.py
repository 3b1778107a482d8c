"""MobileNetV2 (Sandler et al. 2018), torchvision's layout and channel rounding.

3,504,872 parameters at width 1.0 with 1000 classes, equal to torchvision's ``mobilenet_v2``.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Sequence
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

from jaxcnn.blocks.inverted import InvertedResidual
from jaxcnn.declared import (
    AXIS_NAME,
    CALLABLE,
    DTYPE,
    MODULE_DEF,
    OPTIONAL_MODULE_DEF,
    POSITIVE_INT,
    POSITIVE_NUMBER,
    PROBABILITY,
    Declared,
    Rule,
    choice,
    declare,
)
from jaxcnn.layers import BatchNorm, ModuleDef, _conv_kwargs, _make_norm, apply_norm, global_avg_pool, make_divisible
from jaxcnn.models._checks import _check_input
from jaxcnn.regularizers import survival_probabilities
from jaxcnn.regularizers.stochastic_depth import MODES, SCHEDULE_RULES, TEST_RULES
from jaxcnn.validation import ArgumentTypeError, check_int, check_number
from jaxcnn.xla_cpu import default_conv

__all__ = ["MobileNetV2", "MOBILENET_V2_SETTINGS"]

# (expand ratio t, output channels c, repeats n, first stride s): Table 2 of the paper.
MOBILENET_V2_SETTINGS = (
    (1, 16, 1, 1),
    (6, 24, 2, 2),
    (6, 32, 3, 2),
    (6, 64, 4, 2),
    (6, 96, 3, 1),
    (6, 160, 3, 2),
    (6, 320, 1, 1),
)


def _check_settings(settings, name: str = "settings") -> None:
    """Rows ``(t, c, n, s)``: expand ratio t >= 1 (a float, as torchvision allows), output channels
    c, repeats n and first stride s positive integers (n = 0 would leave a stage with no block)."""
    if not isinstance(settings, (list, tuple)):
        raise ArgumentTypeError(f"settings must be a tuple of (t, c, n, s) rows, got {settings!r}")
    if not settings:
        raise ValueError("settings must have at least one (t, c, n, s) row, got ()")
    for i, row in enumerate(settings):
        if not isinstance(row, (list, tuple)):
            raise ArgumentTypeError(f"settings[{i}] must be a row (t, c, n, s), got {row!r}")
        if len(row) != 4:
            raise ValueError(f"settings[{i}] must be a row (t, c, n, s) of 4 numbers, got {row!r}")
        t, c, n, s = row
        check_number(t, f"settings[{i}] expand ratio t", minimum=1)
        check_int(c, f"settings[{i}] channels c", minimum=1)
        check_int(n, f"settings[{i}] repeats n", minimum=1)
        check_int(s, f"settings[{i}] stride s", minimum=1)


SETTINGS = Rule("settings", _check_settings, (3, (), ((1, 16, 1),), ((0.5, 16, 1, 1),), ((1, 16, 0, 1),)))


class MobileNetV2(Declared, nn.Module):
    """MobileNetV2.

    Stochastic depth has ResNet's four fields: ``drop_path_rate`` is the drop rate of the last
    residual block, scaled by block index with ``drop_path_rule`` (see
    ``jaxcnn.regularizers.survival_probabilities``); ``drop_path_mode``/``drop_path_test_rule``
    default to torchvision's per-sample form (``'row'``, ``'inverted'``) where ResNet defaults
    to the paper's (``'batch'``, ``'paper'``). ``conv``/``norm``/``act`` are the injected
    layers (``None`` conv: ``jaxcnn.xla_cpu.default_conv``; ``BatchNorm``; ReLU6).

    Fields are checked at construction: ``settings`` rows are ``(t, c, n, s)`` with ``t >= 1``
    and positive integers ``c, n, s``; the input at the call (NHWC with ``in_channels`` channels,
    ``train`` a bool).
    """

    num_classes: int = declare(POSITIVE_INT, 1000)
    width_mult: float = declare(POSITIVE_NUMBER, 1.0)
    in_channels: int = declare(POSITIVE_INT, 3)
    settings: Sequence[tuple] = declare(SETTINGS, MOBILENET_V2_SETTINGS)
    dropout_rate: float = declare(PROBABILITY, 0.2)
    drop_path_rate: float = declare(PROBABILITY, 0.0)
    drop_path_rule: str = declare(choice(*SCHEDULE_RULES), "torchvision")
    drop_path_mode: str = declare(choice(*MODES), "row")
    drop_path_test_rule: str = declare(choice(*TEST_RULES), "inverted")
    bn_axis_name: str | None = declare(AXIS_NAME, None)
    dtype: Any = declare(DTYPE, None)
    conv: ModuleDef | None = declare(OPTIONAL_MODULE_DEF, None)
    norm: ModuleDef = declare(MODULE_DEF, BatchNorm)
    act: Callable = declare(CALLABLE, nn.relu6)

    def __call__(self, x: jax.Array, train: bool = False) -> jax.Array:
        """Class logits (float32) for an NHWC batch."""
        return self._forward(x, train, head=True)["logits"]

    def features(self, x: jax.Array, train: bool = False):
        """Named NHWC maps: ``stem``, ``stage1``..``stage7`` (one per row of Table 2), ``final``."""
        return self._forward(x, train, head=False)

    def drop_rates(self) -> list[float]:
        """Per-block drop rates 1 - p_l of the inverted residual blocks, in network order."""
        return self._drop_rates(sum(n for _, _, n, _ in self.settings))

    def _drop_rates(self, n):
        if self.drop_path_rate == 0:
            return [0.0] * n
        probs = survival_probabilities(n, final_survival=1.0 - self.drop_path_rate, rule=self.drop_path_rule)
        return [1.0 - float(p) for p in probs]

    @nn.compact
    def _forward(self, x, train, head):
        _check_input(x, self.in_channels, "in_channels", train, batch_stats=True)
        conv_cls = self.conv if self.conv is not None else default_conv()

        def conv_norm_act(x, features, k, stride, prefix):
            x = conv_cls(features, **_conv_kwargs(k, stride), dtype=self.dtype, name=f"{prefix}_conv")(x)
            norm = _make_norm(self.norm, f"{prefix}_bn", axis_name=self.bn_axis_name, dtype=self.dtype)
            return self.act(apply_norm(norm, x, train))

        feats = OrderedDict()
        stem = make_divisible(32 * self.width_mult, 8)
        x = conv_norm_act(x, stem, 3, 2, "stem")
        feats["stem"] = x
        rates = iter(self._drop_rates(sum(n for _, _, n, _ in self.settings)))
        k = 0
        for si, (t, c, n, s) in enumerate(self.settings):
            out = make_divisible(c * self.width_mult, 8)
            for i in range(n):
                x = InvertedResidual(
                    out,
                    s if i == 0 else 1,
                    t,
                    bn_axis_name=self.bn_axis_name,
                    dtype=self.dtype,
                    drop_path_rate=next(rates),
                    drop_path_mode=self.drop_path_mode,
                    drop_path_test_rule=self.drop_path_test_rule,
                    conv=self.conv,
                    norm=self.norm,
                    act=self.act,
                    name=f"block{k}",
                )(x, train)
                k += 1
            feats[f"stage{si + 1}"] = x
        last = make_divisible(1280 * max(1.0, self.width_mult), 8)
        x = conv_norm_act(x, last, 1, 1, "head")
        feats["final"] = x
        if head:
            y = global_avg_pool(x)
            y = nn.Dropout(self.dropout_rate, deterministic=not train)(y)
            feats["logits"] = jnp.asarray(
                nn.Dense(self.num_classes, dtype=self.dtype, name="classifier")(y), jnp.float32
            )
        return feats
