"""The ResNet family as one configurable module: ResNet, CIFAR ResNet, pre-activation ResNet,
ResNeXt, Wide ResNet, SE-ResNet and ResNet-D are ``functools.partial`` configurations of it
(see ``jaxcnn.models`` for the registry).

Layout follows torchvision so converted weights line up name for name: stem ``conv1``/``bn1``,
blocks ``layer{stage}_{index}`` (torchvision's ``layer{stage}.{index}``), head ``fc``.
"""

from __future__ import annotations

import dataclasses
import functools
import re
from collections import OrderedDict
from collections.abc import Mapping
from typing import Any, Callable, Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp

from jaxcnn.blocks.residual import BLOCKS, SHORTCUT_TYPES, ResidualBlock
from jaxcnn.layers import BatchNorm, ModuleDef, apply_norm, conv_args, global_avg_pool, make_norm, max_pool_torch
from jaxcnn.models._checks import _check_input
from jaxcnn.regularizers.stochastic_depth import check_drop_path_fields
from jaxcnn.validation import check_axis_name, check_dtype, check_layers
from jaxcnn.validation import (ArgumentTypeError, check_bool, check_choice, check_int_tuple, check_positive_int,
                               check_probability)
from jaxcnn.regularizers import DropBlock, survival_probabilities
from jaxcnn.xla_cpu import block_remat, default_conv

__all__ = ["ResNet", "STEMS", "imagenet_stem", "deep_stem", "cifar_stem", "scan_to_unrolled", "unrolled_to_scan"]

def imagenet_stem(model: "ResNet", x: jax.Array, train: bool, preact: bool = False) -> jax.Array:
    """7x7/2 conv ``conv1`` + norm ``bn1`` + act, 3x3/2 max-pool; ``preact``: no norm/act (the
    blocks start with them). A stem is a function ``(model, x, train) -> x`` that builds its
    layers on ``model`` with ``model.make_conv``/``model.apply_norm``, so the names stay flat
    (torchvision's ``conv1``/``bn1``)."""
    x = model.make_conv(model.widths[0], 7, 2, name="conv1")(x)
    if not preact:
        x = model.act(model.apply_norm(x, train, "bn1"))
    return max_pool_torch(x, 3, 2, 1)


def deep_stem(model: "ResNet", x: jax.Array, train: bool) -> jax.Array:
    """ResNet-D's stem: three 3x3 convs 32-32-width (first strided), norm + act after each, max-pool."""
    for i, f in enumerate((32, 32)):
        x = model.make_conv(f, 3, 2 if i == 0 else 1, name=f"conv1_{i}")(x)
        x = model.act(model.apply_norm(x, train, f"bn1_{i}"))
    x = model.act(model.apply_norm(model.make_conv(model.widths[0], 3, name="conv1")(x), train, "bn1"))
    return max_pool_torch(x, 3, 2, 1)


def cifar_stem(model: "ResNet", x: jax.Array, train: bool, preact: bool = False) -> jax.Array:
    """3x3 conv ``conv1`` (+ norm ``bn1`` + act unless ``preact``), no pooling (CIFAR ResNets)."""
    x = model.make_conv(model.widths[0], 3, name="conv1")(x)
    return x if preact else model.act(model.apply_norm(x, train, "bn1"))


# The names ``ResNet(stem=...)`` accepts as strings; it takes a stem function too.
STEMS: dict[str, Callable] = {
    "imagenet": imagenet_stem,
    "deep": deep_stem,
    "cifar": cifar_stem,
    "preact_imagenet": functools.partial(imagenet_stem, preact=True),
    "preact_cifar": functools.partial(cifar_stem, preact=True),
}



def _check_widths(widths, stage_sizes: tuple[int, ...]) -> None:
    """One positive width per stage."""
    check_int_tuple(widths, "widths", minimum=1)
    if len(widths) != len(stage_sizes):
        raise ValueError(
            f"widths must have one entry per stage: stage_sizes {stage_sizes} has {len(stage_sizes)} stages, "
            f"widths {tuple(widths)} has {len(widths)}"
        )


def _check_drop_block_stages(stages, num_stages: int, rate) -> None:
    """1-based stage numbers (the paper's groups 3 and 4 are ``(3, 4)``). The range is checked only
    where DropBlock runs (rate > 0): the default ``(3, 4)`` stays valid, unused, on a 3-stage net."""
    stages = check_int_tuple(stages, "drop_block_stages", minimum=1, min_length=0)
    missing = sorted(s for s in stages if s > num_stages)
    if rate > 0 and missing:
        raise ValueError(
            f"drop_block_stages {stages} names stage(s) {missing} this {num_stages}-stage ResNet does not have "
            f"(stages are numbered 1..{num_stages}); DropBlock would silently never run there"
        )

class _ScanCell(nn.Module):
    """Adapts a block to ``nn.scan``'s ``(carry, x) -> (carry, y)`` signature; ``train`` is static."""

    block_cls: Any
    block_kwargs: tuple
    train: bool

    @nn.compact
    def __call__(self, x, _):
        return self.block_cls(**dict(self.block_kwargs), name="block")(x, self.train), None


class ResNet(nn.Module):
    """Configurable residual network on NHWC input.

    Args (fields):
      block: a ``ResidualBlock`` subclass (e.g. ``jaxcnn.blocks.ResNeXtBottleneck``) or one of
        the names ``'basic' | 'bottleneck' | 'preact_basic' | 'preact_bottleneck'``; the model
        passes each block only the fields it declares.
      stage_sizes: blocks per stage, e.g. ``(3, 4, 6, 3)`` for ResNet-50.
      widths: the ``features`` ("planes") of each stage; the first stage has stride 1, the rest 2.
      stem: a stem function ``(model, x, train) -> x`` (``imagenet_stem``, ``deep_stem``,
        ``cifar_stem``, or your own) or its name: ``'imagenet'`` (7x7/2 conv-BN-ReLU + 3x3/2 max-pool), ``'deep'`` (ResNet-D: three
        3x3 convs 32-32-64), ``'cifar'`` (3x3 conv-BN-ReLU), ``'preact_imagenet'`` /
        ``'preact_cifar'`` (the same convs with no BN-ReLU; blocks start with BN-ReLU and a final
        BN-ReLU follows the last stage).
      shortcut: ``'A' | 'B' | 'C' | 'D'`` (see ``jaxcnn.blocks.residual``).
      drop_path_rate: stochastic depth, the drop rate of the *last* block, 1 - p_L (0.5 is the
        paper's setting); the per-block rates follow ``drop_path_rule`` (see
        ``jaxcnn.regularizers.survival_probabilities``); ``drop_path_mode`` (``'batch'``, the
        paper's whole-batch skip, or ``'row'``) and ``drop_path_test_rule`` (``'paper'`` or
        ``'inverted'``) as in ``jaxcnn.blocks.ResidualBlock``. The same four fields as
        ``MobileNetV2``'s, with the paper's defaults here.
      drop_block_rate, drop_block_size, drop_block_stages: DropBlock after every block of the
        listed stages (1-based; the paper's groups 3 and 4), identity at eval. The rate is
        static; for the paper's linear keep-prob ramp rebuild the model or apply
        ``jaxcnn.regularizers.DropBlock`` with a traced ``drop_rate`` in your own module.
      scan_stages: run each stage's identical blocks (all but the first) as one ``nn.scan``;
        compiles once per stage instead of once per block. Parameters then carry a leading
        block axis under ``layer{s}_rest``; ``scan_to_unrolled``/``unrolled_to_scan`` convert.
        Without an injected conv the scanned blocks get ``jaxcnn.xla_cpu.default_conv(True)``
        (canonical gradients on CPU: in a loop body XLA:CPU otherwise runs conv gradients ~27x
        slower, resnet50 step 143 s -> 4.8 s; the plain conv on GPU/TPU).
      conv, norm, act: the layers every block and the stem are made of (``ModuleDef``s, the Flax
        ImageNet example's idiom). ``conv=None`` is the backend default
        (``jaxcnn.xla_cpu.default_conv``: ``jaxcnn.layers.Conv``, canonical gradients on CPU in
        a cond or scan); ``conv=jaxcnn.xla_cpu.GemmGradConv`` opts into GEMM weight gradients,
        ``conv=WeightStandardizedConv, norm=partial(nn.GroupNorm, num_groups=32)`` builds a
        BiT-style net with no ``batch_stats``.
      remat: recompute each block's activations in the backward pass
        (``jaxcnn.xla_cpu.block_remat``: ``nn.remat``, or on CPU a cotangent-tied remat that
        XLA:CPU's CSE cannot undo). Measured on CPU (resnet50, 224 px, batch 8, train-step temp
        memory from ``memory_analysis()``): 0.46x of the plain step with remat, 0.48x with
        scan+remat; step time 1.11x and 0.95x.

    Every field is checked at construction (``__post_init__``), the input at the call (NHWC with
    ``in_channels`` channels, ``train`` a bool). Refused there rather than silently ignored:
    ``zero_init_last_bn=True`` with a pre-activation block (no BatchNorm ends its branch), and a
    ``drop_block_stages`` entry naming a stage the net does not have while ``drop_block_rate > 0``.
    """

    block: str | type = "basic"
    stage_sizes: Sequence[int] = (2, 2, 2, 2)
    widths: Sequence[int] = (64, 128, 256, 512)
    num_classes: int = 1000
    in_channels: int = 3
    stem: str | Callable = "imagenet"
    shortcut: str = "B"
    groups: int = 1
    base_width: int = 64
    stride_on_3x3: bool = True
    se_reduction: int | None = None
    zero_init_last_bn: bool = False
    drop_path_rate: float = 0.0
    drop_path_rule: str = "paper"
    drop_path_mode: str = "batch"
    drop_path_test_rule: str = "paper"
    drop_block_rate: float = 0.0
    drop_block_size: int = 7
    drop_block_stages: Sequence[int] = (3, 4)
    scan_stages: bool = False
    remat: bool = False
    bn_axis_name: str | None = None
    dtype: Any = None
    conv: ModuleDef | None = None
    norm: ModuleDef = BatchNorm
    act: Callable = nn.relu

    def __call__(self, x: jax.Array, train: bool = False) -> jax.Array:
        """Class logits (float32) for an NHWC batch."""
        return self._forward(x, train, head=True)["logits"]

    def features(self, x: jax.Array, train: bool = False) -> "OrderedDict[str, jax.Array]":
        """Named NHWC feature maps: ``stem``, ``stage1``..``stageN``, ``final`` (before pooling)."""
        return self._forward(x, train, head=False)

    # -- configuration helpers -------------------------------------------------------------

    def block_class(self) -> type:
        """The block class: ``block`` itself, or the class its name stands for in ``BLOCKS``."""
        if isinstance(self.block, str):
            if self.block not in BLOCKS:
                raise ValueError(f"block must be one of {sorted(BLOCKS)} or a ResidualBlock subclass, got {self.block!r}")
            return BLOCKS[self.block]
        if not (isinstance(self.block, type) and issubclass(self.block, ResidualBlock)):
            raise ArgumentTypeError(f"block must be a block name or a ResidualBlock subclass, got {self.block!r}")
        return self.block

    def __post_init__(self):
        super().__post_init__()
        self._validate()

    def _validate(self):
        """Every field, at construction: a bad one fails before anything is traced."""
        cls = self.block_class()
        sizes = check_int_tuple(self.stage_sizes, "stage_sizes", minimum=1)  # a stage of 0 blocks has no first block
        _check_widths(self.widths, sizes)
        check_positive_int(self.num_classes, "num_classes")
        check_positive_int(self.in_channels, "in_channels")
        stem_expected = f"one of {tuple(STEMS)} or a function (model, x, train) -> x"
        if isinstance(self.stem, str) and self.stem not in STEMS:
            raise ValueError(f"stem must be {stem_expected}, got {self.stem!r}")
        if not isinstance(self.stem, str) and not callable(self.stem):
            raise ArgumentTypeError(f"stem must be {stem_expected}, got {self.stem!r} ({type(self.stem).__name__})")
        check_choice(self.shortcut, "shortcut", SHORTCUT_TYPES)
        check_positive_int(self.groups, "groups")
        check_positive_int(self.base_width, "base_width")
        check_bool(self.stride_on_3x3, "stride_on_3x3")
        if self.se_reduction is not None:
            check_positive_int(self.se_reduction, "se_reduction")
        if check_bool(self.zero_init_last_bn, "zero_init_last_bn") and cls.preact:
            raise ValueError(
                f"zero_init_last_bn=True needs a block that ends with a BatchNorm (basic/bottleneck); "
                f"the pre-activation block {cls.__name__} ends with a conv, so the flag would be ignored"
            )
        check_drop_path_fields(self.drop_path_rate, self.drop_path_mode, self.drop_path_test_rule, self.drop_path_rule)
        check_probability(self.drop_block_rate, "drop_block_rate")
        check_positive_int(self.drop_block_size, "drop_block_size")
        _check_drop_block_stages(self.drop_block_stages, len(sizes), self.drop_block_rate)
        check_bool(self.scan_stages, "scan_stages")
        check_bool(self.remat, "remat")
        check_axis_name(self.bn_axis_name)
        check_dtype(self.dtype)
        check_layers(self.conv, self.norm, self.act)
        if self.scan_stages and (self.drop_path_rate > 0 or self.drop_block_rate > 0):
            raise ValueError("scan_stages=True does not support drop_path_rate or drop_block_rate yet")
        self._block_kwargs(cls)  # a setting the block class does not have (groups on a basic block)

    def _block_kwargs(self, cls: type) -> dict:
        """The model's settings as ``cls``'s fields; a setting the block does not have is an error."""
        fields = {f.name for f in dataclasses.fields(cls)}
        kw = dict(shortcut_type=self.shortcut, bn_axis_name=self.bn_axis_name, dtype=self.dtype, conv=self.conv,
                  norm=self.norm, act=self.act, zero_init_last_bn=self.zero_init_last_bn,
                  drop_path_mode=self.drop_path_mode, drop_path_test_rule=self.drop_path_test_rule)
        # block-specific settings go only where the model sets them, so a block class's own
        # defaults (ResNeXtBottleneck's groups=32) stand otherwise
        if self.groups != 1:
            kw["groups"] = self.groups
        if self.base_width != 64:
            kw["base_width"] = self.base_width
        if not self.stride_on_3x3:
            kw["stride_on_3x3"] = self.stride_on_3x3
        if self.se_reduction is not None:
            kw["se_reduction"] = self.se_reduction
        unsupported = sorted(k for k in kw if k not in fields)
        if unsupported:
            raise ValueError(f"block {cls.__name__} has no field(s) {unsupported} (set on the ResNet)")
        if cls.preact:  # zero-init of a last BN only exists in post-activation blocks
            kw.pop("zero_init_last_bn", None)
        return kw

    def drop_rates(self) -> list[float]:
        """Per-block drop rates 1 - p_l, in network order (all zero without stochastic depth)."""
        total = sum(self.stage_sizes)
        if self.drop_path_rate == 0:
            return [0.0] * total
        probs = survival_probabilities(total, final_survival=1.0 - self.drop_path_rate, rule=self.drop_path_rule)
        return [1.0 - float(p) for p in probs]

    # -- the network -----------------------------------------------------------------------

    def make_conv(self, features: int, kernel_size: int, stride: int = 1, name: str | None = None) -> nn.Module:
        """The injected conv (backend default when ``conv`` is None) with torch padding, as a
        submodule of this model (for stems)."""
        cls = self.conv if self.conv is not None else default_conv()
        return cls(features, **conv_args(kernel_size, stride), dtype=self.dtype, name=name)

    def apply_norm(self, x: jax.Array, train: bool, name: str) -> jax.Array:
        """Apply the injected norm named ``name`` (a submodule of this model) to ``x``."""
        return apply_norm(make_norm(self.norm, name, axis_name=self.bn_axis_name, dtype=self.dtype), x, train)

    @nn.compact
    def _forward(self, x, train, head):
        _check_input(x, self.in_channels, "in_channels", train)
        plain_cls = self.block_class()
        kw = self._block_kwargs(plain_cls)
        # with scan_stages this covers each stage's first block; the scan cell is rematted below
        block_cls = block_remat(plain_cls, static_argnums=(2,)) if self.remat else plain_cls
        rates = iter(self.drop_rates())
        feats = OrderedDict()

        def drop_block(x, stage, j):
            if self.drop_block_rate == 0 or stage not in tuple(self.drop_block_stages):
                return x
            return DropBlock(self.drop_block_rate, self.drop_block_size, name=f"dropblock{stage}_{j}")(x, not train)

        stem = STEMS[self.stem] if isinstance(self.stem, str) else self.stem
        x = stem(self, x, train)
        feats["stem"] = x
        for i, (n, width) in enumerate(zip(self.stage_sizes, self.widths)):
            stride = 1 if i == 0 else 2
            x = block_cls(width, stride, drop_path_rate=next(rates), name=f"layer{i + 1}_0", **kw)(x, train)
            x = drop_block(x, i + 1, 0)
            if self.scan_stages and n > 1:
                # a loop body cannot be merged with code outside it, so plain nn.remat works here
                cell = nn.remat(_ScanCell) if self.remat else _ScanCell
                scan = nn.scan(
                    cell,
                    variable_axes={"params": 0, "batch_stats": 0},
                    split_rngs={"params": True, "dropout": True},
                    length=n - 1,
                )
                loop_conv = self.conv if self.conv is not None else default_conv(control_flow=True)
                cell_kw = tuple(sorted(dict(kw, features=width, conv=loop_conv).items()))
                x, _ = scan(plain_cls, cell_kw, train, name=f"layer{i + 1}_rest")(x, None)
                for _ in range(n - 1):
                    next(rates)
            else:
                for j in range(1, n):
                    x = block_cls(width, 1, drop_path_rate=next(rates), name=f"layer{i + 1}_{j}", **kw)(x, train)
                    x = drop_block(x, i + 1, j)
            feats[f"stage{i + 1}"] = x
        if plain_cls.preact:
            x = self.act(self.apply_norm(x, train, "bn_final"))  # blocks end with an add, not an activation
        feats["final"] = x
        if head:
            pooled = global_avg_pool(x)
            feats["logits"] = jnp.asarray(nn.Dense(self.num_classes, dtype=self.dtype, name="fc")(pooled), jnp.float32)
        return feats


# -- parameter layout converters for scan_stages --------------------------------------------

_BLOCK_KEY = re.compile(r"layer(\d+)_(\d+|rest)")


def _check_layout(variables: Any, stage_sizes: Any, scanned: bool) -> tuple[int, ...]:
    """``variables`` a mapping of collections to mappings in the ``scanned`` (``layer{s}_rest``) or
    unrolled layout, and ``stage_sizes`` the model's: sizes that are not would otherwise convert
    silently into a wrong tree (indexing past a stack repeats its last block, a block beyond a
    stage's size is left out of the stack)."""
    if not isinstance(variables, Mapping) or not all(isinstance(t, Mapping) for t in variables.values()):
        raise ArgumentTypeError(
            f"variables must be a mapping of collections to mappings, e.g. {{'params': ..., 'batch_stats': ...}}, "
            f"got {type(variables).__name__}"
        )
    sizes = check_int_tuple(stage_sizes, "stage_sizes", minimum=1)
    seen = set()
    for col, tree in variables.items():
        for key in tree:
            m = _BLOCK_KEY.fullmatch(key)
            if m is None:
                continue
            stage = int(m.group(1))
            seen.add(stage)
            if not 1 <= stage <= len(sizes):
                raise ValueError(f"variables[{col!r}] has {key!r} but stage_sizes {sizes} has only {len(sizes)} stages")
        for stage, n in enumerate(sizes, 1):
            blocks = sorted(int(m.group(2)) for m in map(_BLOCK_KEY.fullmatch, tree)
                            if m and int(m.group(1)) == stage and m.group(2) not in ("0", "rest"))
            where = f"variables[{col!r}] vs stage_sizes {sizes} (stage {stage} has {n} blocks)"
            if scanned and blocks:
                raise ValueError(f"variables[{col!r}] mixes layouts: layer{stage}_{blocks[0]} in a scan_stages=True tree")
            if scanned:
                rest = tree.get(f"layer{stage}_rest")
                if rest is None:
                    if n > 1 and f"layer{stage}_0" in tree:
                        raise ValueError(f"{where}: no 'layer{stage}_rest' holds blocks 1..{n - 1}")
                    continue
                if not isinstance(rest, Mapping) or "block" not in rest:
                    raise ValueError(f"variables[{col!r}]['layer{stage}_rest'] must hold the scanned 'block'")
                stacked = sorted({int(jnp.shape(a)[0]) if jnp.ndim(a) else 0 for a in jax.tree_util.tree_leaves(rest["block"])})
                if stacked != [n - 1]:
                    raise ValueError(f"{where}: 'layer{stage}_rest' stacks {stacked} blocks, not {n - 1}")
            elif (blocks or f"layer{stage}_0" in tree) and blocks != list(range(1, n)):
                names = [f"layer{stage}_{j}" for j in blocks]
                raise ValueError(f"{where}: it holds blocks {names} after layer{stage}_0, not 1..{n - 1}")
    unseen = sorted(set(range(1, len(sizes) + 1)) - seen)
    if unseen:
        raise ValueError(f"stage_sizes {sizes} has {len(sizes)} stages but variables hold no block of stage(s) {unseen}")
    return sizes


def scan_to_unrolled(variables: dict, stage_sizes: Sequence[int]) -> dict:
    """Map a ``scan_stages=True`` variables tree to the unrolled layout (``layer{s}_{j}``).
    ``stage_sizes`` must be the model's (checked against the stacks)."""
    sizes = _check_layout(variables, stage_sizes, scanned=True)
    out = {}
    for col, tree in variables.items():
        new = {}
        for name, sub in tree.items():
            if _BLOCK_KEY.fullmatch(name) and name.endswith("_rest"):
                stage = name[: -len("_rest")]
                n = sizes[int(stage[len("layer"):]) - 1]
                for j in range(1, n):
                    new[f"{stage}_{j}"] = jax.tree_util.tree_map(lambda a, j=j: a[j - 1], sub["block"])
            else:
                new[name] = sub
        out[col] = new
    return out


def unrolled_to_scan(variables: dict, stage_sizes: Sequence[int]) -> dict:
    """Inverse of ``scan_to_unrolled``: stack blocks 1..n-1 of each stage under ``layer{s}_rest``.
    ``stage_sizes`` must be the model's (checked against the blocks present)."""
    sizes = _check_layout(variables, stage_sizes, scanned=False)
    out = {}
    for col, tree in variables.items():
        new = {k: v for k, v in tree.items() if not any(k == f"layer{s + 1}_{j}" for s, n in enumerate(sizes) for j in range(1, n))}
        for s, n in enumerate(sizes):
            blocks = [tree[f"layer{s + 1}_{j}"] for j in range(1, n) if f"layer{s + 1}_{j}" in tree]
            if blocks:
                new[f"layer{s + 1}_rest"] = {"block": jax.tree_util.tree_map(lambda *a: jnp.stack(a), *blocks)}
        out[col] = new
    return out
