"""MobileNetV2 (Sandler et al. 2018) with torchvision's layout and channel rounding (same parameter count)."""

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
from jaxcnn.models._checks import _check_input, _drop_rates
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
    c, repeats n and first stride s positive integers."""
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
    """MobileNetV2; ``settings`` rows are ``(t, c, n, s)`` as in Table 2 of the paper.

    Stochastic depth has ResNet's four fields (``drop_path_rate`` is the last residual block's), with
    torchvision's defaults (``'torchvision'`` schedule, ``'row'`` mode, ``'inverted'`` test rule).
    ``conv``/``norm``/``act`` are the injected layers (``None`` conv: the backend default; ReLU6).
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
        return _drop_rates(sum(n for _, _, n, _ in self.settings), self.drop_path_rate, self.drop_path_rule)

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
        shared = ("bn_axis_name", "dtype", "drop_path_mode", "drop_path_test_rule", "conv", "norm", "act")
        block_kw = {f: getattr(self, f) for f in shared}  # the fields the blocks take from the model
        rates = iter(self.drop_rates())
        k = 0
        for si, (t, c, n, s) in enumerate(self.settings):
            out = make_divisible(c * self.width_mult, 8)
            for i in range(n):
                block = InvertedResidual(
                    out, s if i == 0 else 1, t, drop_path_rate=next(rates), **block_kw, name=f"block{k}"
                )
                x = block(x, train)
                k += 1
            feats[f"stage{si + 1}"] = x
        last = make_divisible(1280 * max(1.0, self.width_mult), 8)
        x = conv_norm_act(x, last, 1, 1, "head")
        feats["final"] = x
        if head:
            y = global_avg_pool(x)
            y = nn.Dropout(self.dropout_rate, deterministic=not train)(y)
            logits = nn.Dense(self.num_classes, dtype=self.dtype, name="classifier")(y)
            feats["logits"] = jnp.asarray(logits, jnp.float32)
        return feats
