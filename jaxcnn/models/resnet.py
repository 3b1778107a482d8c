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
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
from flax.core import FrozenDict

from jaxcnn.blocks.residual import BLOCKS, ResidualBlock
from jaxcnn.declared import (
    DTYPE,
    FLAG,
    MODULE_DEF,
    POSITIVE_INT,
    PROBABILITY,
    Declared,
    Rule,
    choice,
    declare,
    int_tuple,
)
from jaxcnn.layers import _conv_kwargs, _make_norm, apply_norm, global_avg_pool, max_pool_torch
from jaxcnn.models._checks import _check_input, _drop_rates
from jaxcnn.regularizers import DropBlock
from jaxcnn.regularizers.stochastic_depth import SCHEDULE_RULES
from jaxcnn.validation import ArgumentTypeError, check_int_tuple, check_probability
from jaxcnn.xla_cpu import block_remat, default_conv

__all__ = [
    "ResNet",
    "ResNetStage",
    "STEMS",
    "imagenet_stem",
    "deep_stem",
    "cifar_stem",
    "scan_to_unrolled",
    "unrolled_to_scan",
]


def imagenet_stem(model: ResNet, x: jax.Array, train: bool, preact: bool = False) -> jax.Array:
    """7x7/2 conv ``conv1`` + norm ``bn1`` + act (none if ``preact``), 3x3/2 max-pool. A stem is a function
    ``(model, x, train) -> x`` building its layers on ``model`` (``model.make_conv``/``model.apply_norm``),
    so the names stay torchvision's."""
    x = model.make_conv(model.widths[0], 7, 2, name="conv1")(x)
    if not preact:
        x = model.act(model.apply_norm(x, train, "bn1"))
    return max_pool_torch(x, 3, 2, 1)


def deep_stem(model: ResNet, x: jax.Array, train: bool) -> jax.Array:
    """ResNet-D's stem: three 3x3 convs 32-32-width (first strided), norm + act after each, max-pool."""
    for i, f in enumerate((32, 32)):
        x = model.make_conv(f, 3, 2 if i == 0 else 1, name=f"conv1_{i}")(x)
        x = model.act(model.apply_norm(x, train, f"bn1_{i}"))
    x = model.act(model.apply_norm(model.make_conv(model.widths[0], 3, name="conv1")(x), train, "bn1"))
    return max_pool_torch(x, 3, 2, 1)


def cifar_stem(model: ResNet, x: jax.Array, train: bool, preact: bool = False) -> jax.Array:
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

# Block fields the network sets itself, per block (never in ``block_args``).
NETWORK_FIELDS = ("features", "strides", "drop_path_rate", "dtype", "name", "parent")


def _check_block(value: Any, name: str) -> None:
    if isinstance(value, str) and value in BLOCKS:
        return
    if not (isinstance(value, type) and issubclass(value, ResidualBlock)):
        raise ValueError(f"{name} must be one of {sorted(BLOCKS)} or a ResidualBlock subclass, got {value!r}")


def _check_stem(value: Any, name: str) -> None:
    expected = f"one of {tuple(STEMS)} or a function (model, x, train) -> x"
    if isinstance(value, str) and value not in STEMS:
        raise ValueError(f"{name} must be {expected}, got {value!r}")
    if not isinstance(value, str) and not callable(value):
        raise ArgumentTypeError(f"{name} must be {expected}, got {value!r} ({type(value).__name__})")


def _check_block_args(value: Any, name: str) -> None:
    if not isinstance(value, Mapping) or not all(isinstance(k, str) for k in value):
        raise ArgumentTypeError(f"{name} must be a mapping of block field names to values, got {value!r}")


def _check_rates(value: Any, name: str) -> None:
    if not isinstance(value, (list, tuple)):
        raise ArgumentTypeError(f"{name} must be a tuple of rates in [0, 1], got {value!r}")
    for i, r in enumerate(value):
        check_probability(r, f"{name}[{i}]")


BLOCK = Rule("block", _check_block, ("?", 3, None, int))
STEM = Rule("stem", _check_stem, ("?", 3, None))
BLOCK_ARGS = Rule("block_args", _check_block_args, (3, "groups", (("groups", 1),)))
RATES = Rule("rates", _check_rates, (0.5, (1.5,), ("0.1",), (float("nan"),)))


def block_spec(block: str | type, block_args: Mapping[str, Any] = FrozenDict()) -> functools.partial:
    """The block class (``block`` or the class its name stands for in ``BLOCKS``) with its options
    ``block_args`` bound: ``functools.partial(cls, **block_args)``."""
    _check_block(block, "block")
    _check_block_args(block_args, "block_args")
    return functools.partial(BLOCKS[block] if isinstance(block, str) else block, **block_args)


class _ScanCell(nn.Module):
    """Adapts a block to ``nn.scan``'s ``(carry, x) -> (carry, y)`` signature; ``train`` is static."""

    block_cls: Any
    block_kwargs: tuple
    train: bool

    @nn.compact
    def __call__(self, x, _):
        return self.block_cls(**dict(self.block_kwargs), name="block")(x, self.train), None


class ResNetStage(Declared, nn.Module):
    """One stage: ``num_blocks`` blocks of ``block`` (a block class or a ``functools.partial`` of one), the
    first with ``strides``, named ``layer{index}_{j}`` (torchvision's ``layer{index}.{j}``).

    ``drop_path_rates``: each block's stochastic-depth rate (empty: none); ``drop_block_rate`` > 0 applies
    DropBlock after every block in training. ``scan`` runs blocks 1..n-1 as one ``nn.scan`` named
    ``layer{index}_rest`` (parameters get a leading block axis); ``remat`` recomputes each block's
    activations in the backward pass (``jaxcnn.xla_cpu.block_remat``; ``nn.remat`` on the scan cell).
    """

    block: Callable = declare(MODULE_DEF)
    features: int = declare(POSITIVE_INT)
    num_blocks: int = declare(POSITIVE_INT)
    index: int = declare(POSITIVE_INT, 1)
    strides: int = declare(POSITIVE_INT, 1)
    drop_path_rates: Sequence[float] = declare(RATES, ())
    drop_block_rate: float = declare(PROBABILITY, 0.0)
    drop_block_size: int = declare(POSITIVE_INT, 7)
    scan: bool = declare(FLAG, False)
    remat: bool = declare(FLAG, False)

    def check_relations(self):
        if self.drop_path_rates and len(self.drop_path_rates) != self.num_blocks:
            raise self.field_error("drop_path_rates", f"one rate per block ({self.num_blocks})")
        if self.scan and (any(r > 0 for r in self.drop_path_rates) or self.drop_block_rate > 0):
            raise self.field_error("scan", "a scanned stage does not support drop_path_rate or drop_block_rate")

    @nn.compact
    def __call__(self, x: jax.Array, train: bool = False) -> jax.Array:
        spec = self.block if isinstance(self.block, functools.partial) else functools.partial(self.block)
        cls, kw = spec.func, dict(spec.keywords)
        # with scan this covers the stage's first block; the scan cell is rematted below
        block_cls = block_remat(cls, static_argnums=(2,)) if self.remat else cls
        rates = self.drop_path_rates or (0.0,) * self.num_blocks
        scan = self.scan and self.num_blocks > 1
        for j in range(1 if scan else self.num_blocks):
            stride = 1 if j else self.strides
            x = block_cls(self.features, stride, drop_path_rate=rates[j], name=f"layer{self.index}_{j}", **kw)(x, train)
            if self.drop_block_rate != 0:
                drop = DropBlock(self.drop_block_rate, self.drop_block_size, name=f"dropblock{self.index}_{j}")
                x = drop(x, not train)
        if scan:
            cell = nn.remat(_ScanCell) if self.remat else _ScanCell
            scanned = nn.scan(
                cell,
                variable_axes={"params": 0, "batch_stats": 0},
                split_rngs={"params": True, "dropout": True},
                length=self.num_blocks - 1,
            )
            loop_conv = kw.get("conv") or default_conv(control_flow=True)
            cell_kw = tuple(sorted(dict(kw, features=self.features, conv=loop_conv).items()))
            x, _ = scanned(cls, cell_kw, train, name=f"layer{self.index}_rest")(x, None)
        return x


def _block_option(name: str, default: Any = None) -> property:
    """A read-only view of a block option, for stems and weight converters (``model.act``)."""
    return property(lambda self: self.block_option(name, default), doc=f"The blocks' ``{name}``.")


class ResNet(Declared, nn.Module):
    """Configurable residual network on NHWC input: the ResNet family differs only in the stem, the block
    and its options, so one network builds all of them, with torchvision's parameter names.

    Args (fields):
      block: a ``ResidualBlock`` subclass or one of ``'basic' | 'bottleneck' | 'preact_basic' |
        'preact_bottleneck'``.
      block_args: the blocks' options, passed to every block (timm's ``block_args``), e.g.
        ``dict(groups=32, base_width=4)``, ``dict(shortcut_type='A')``, the injected ``conv``/``norm``/
        ``act``/``bn_axis_name`` (used by the stem too). The network sets ``features``, ``strides``,
        ``drop_path_rate`` and ``dtype`` itself.
      stage_sizes, widths: blocks and ``features`` ("planes") per stage; stage 1 has stride 1, the rest 2.
      stem: a function ``(model, x, train) -> x`` or a name in ``STEMS``; the ``preact_*`` stems have no
        BN-ReLU (the blocks start with it, and a final BN-ReLU follows the last stage).
      drop_path_rate: stochastic depth, the drop rate of the *last* block; per-block rates follow
        ``drop_path_rule`` (``jaxcnn.regularizers.survival_probabilities``).
      drop_block_rate, drop_block_size, drop_block_stages: DropBlock after every block of the listed
        stages (1-based).
      scan_stages, remat: see :class:`ResNetStage`; ``scan_to_unrolled``/``unrolled_to_scan`` convert
        the parameter layouts.
      dtype: the computation dtype of every layer (``None``: the input's).
    """

    block: str | type = declare(BLOCK, "basic")
    block_args: Mapping[str, Any] = declare(BLOCK_ARGS, FrozenDict())
    stage_sizes: Sequence[int] = declare(int_tuple(1), (2, 2, 2, 2))
    widths: Sequence[int] = declare(int_tuple(1), (64, 128, 256, 512))
    num_classes: int = declare(POSITIVE_INT, 1000)
    in_channels: int = declare(POSITIVE_INT, 3)
    stem: str | Callable = declare(STEM, "imagenet")
    drop_path_rate: float = declare(PROBABILITY, 0.0)
    drop_path_rule: str = declare(choice(*SCHEDULE_RULES), "paper")
    drop_block_rate: float = declare(PROBABILITY, 0.0)
    drop_block_size: int = declare(POSITIVE_INT, 7)
    drop_block_stages: Sequence[int] = declare(int_tuple(1, min_length=0), (3, 4))
    scan_stages: bool = declare(FLAG, False)
    remat: bool = declare(FLAG, False)
    dtype: Any = declare(DTYPE, None)

    act = _block_option("act")
    conv = _block_option("conv")
    norm = _block_option("norm")
    bn_axis_name = _block_option("bn_axis_name")
    shortcut = _block_option("shortcut_type")
    groups = _block_option("groups", 1)
    base_width = _block_option("base_width", 64)
    se_reduction = _block_option("se_reduction")

    def __post_init__(self):
        if isinstance(self.block_args, Mapping) and not isinstance(self.block_args, FrozenDict):
            object.__setattr__(self, "block_args", FrozenDict(self.block_args))  # a module is hashable
        super().__post_init__()

    def check_relations(self):
        n = len(self.stage_sizes)
        if len(self.widths) != n:
            raise self.field_error("widths", f"one entry per stage: stage_sizes {tuple(self.stage_sizes)} has {n}")
        missing = sorted(s for s in self.drop_block_stages if s > n)
        if self.drop_block_rate > 0 and missing:
            raise self.field_error("drop_block_stages", f"stage(s) {missing} do not exist (stages are 1..{n})")
        if self.scan_stages and (self.drop_path_rate > 0 or self.drop_block_rate > 0):
            raise self.field_error("scan_stages", "a scanned stage does not support drop_path_rate or drop_block_rate")
        cls = self.block_spec().func
        fields = {f.name for f in dataclasses.fields(cls)}
        bad = sorted(k for k in self.block_args if k in NETWORK_FIELDS or k not in fields)
        if bad:
            raise self.field_error("block_args", f"{cls.__name__} options but {list(NETWORK_FIELDS)}, got {bad}")
        for width in set(self.widths):  # the block checks its own options, once per width
            try:
                self.block_spec()(features=width, dtype=self.dtype, parent=None)
            except (TypeError, ValueError) as e:
                raise type(e)(f"{type(self).__name__}: block_args: {e}") from None

    def block_spec(self) -> functools.partial:
        """The block class with its options bound (see :func:`block_spec`)."""
        return block_spec(self.block, self.block_args)

    def block_option(self, name: str, default: Any = None) -> Any:
        """The blocks' option ``name``: from ``block_args``, else the block class's default."""
        if name in self.block_args:
            return self.block_args[name]
        field = {f.name: f for f in dataclasses.fields(self.block_spec().func)}.get(name)
        return default if field is None or field.default is dataclasses.MISSING else field.default

    def __call__(self, x: jax.Array, train: bool = False) -> jax.Array:
        """Class logits (float32) for an NHWC batch."""
        return self._forward(x, train, head=True)["logits"]

    def features(self, x: jax.Array, train: bool = False) -> OrderedDict[str, jax.Array]:
        """Named NHWC feature maps: ``stem``, ``stage1``..``stageN``, ``final`` (before pooling)."""
        return self._forward(x, train, head=False)

    def drop_rates(self) -> list[float]:
        """Per-block drop rates 1 - p_l, in network order (all zero without stochastic depth)."""
        return _drop_rates(sum(self.stage_sizes), self.drop_path_rate, self.drop_path_rule)

    def make_conv(self, features: int, kernel_size: int, stride: int = 1, name: str | None = None) -> nn.Module:
        """The injected conv (backend default when ``conv`` is None) with torch padding, on this model."""
        cls = self.conv if self.conv is not None else default_conv()
        return cls(features, **_conv_kwargs(kernel_size, stride), dtype=self.dtype, name=name)

    def apply_norm(self, x: jax.Array, train: bool, name: str) -> jax.Array:
        """Apply the injected norm named ``name`` (a submodule of this model) to ``x``."""
        return apply_norm(_make_norm(self.norm, name, axis_name=self.bn_axis_name, dtype=self.dtype), x, train)

    @nn.compact
    def _forward(self, x, train, head):
        _check_input(x, self.in_channels, "in_channels", train, batch_stats=True)
        spec = functools.partial(self.block_spec(), dtype=self.dtype)
        rates = self.drop_rates()
        feats = OrderedDict()
        stem = STEMS[self.stem] if isinstance(self.stem, str) else self.stem
        x = stem(self, x, train)
        feats["stem"] = x
        first = 0
        for i, (n, width) in enumerate(zip(self.stage_sizes, self.widths)):
            stage = ResNetStage(
                spec,
                width,
                n,
                index=i + 1,
                strides=1 if i == 0 else 2,
                drop_path_rates=tuple(rates[first : first + n]),
                drop_block_rate=self.drop_block_rate if i + 1 in tuple(self.drop_block_stages) else 0.0,
                drop_block_size=self.drop_block_size,
                scan=self.scan_stages,
                remat=self.remat,
                name=f"stage{i + 1}",
            )
            nn.share_scope(self, stage)  # the blocks' names sit under the model's: layer{s}_{i}, as in torchvision
            x = stage(x, train)
            first += n
            feats[f"stage{i + 1}"] = x
        if spec.func.preact:
            x = self.act(self.apply_norm(x, train, "bn_final"))  # blocks end with an add, not an activation
        feats["final"] = x
        if head:
            pooled = global_avg_pool(x)
            feats["logits"] = jnp.asarray(nn.Dense(self.num_classes, dtype=self.dtype, name="fc")(pooled), jnp.float32)
        return feats


# -- parameter layout converters for scan_stages --------------------------------------------

_BLOCK_KEY = re.compile(r"layer(\d+)_(\d+|rest)")


def _check_layout(variables: Any, stage_sizes: Any, scanned: bool) -> tuple[int, ...]:
    """``variables`` in the ``scanned`` (``layer{s}_rest``) or unrolled layout of a model with ``stage_sizes``
    (other sizes would convert silently into a wrong tree); returns the sizes."""
    if not isinstance(variables, Mapping) or not all(isinstance(t, Mapping) for t in variables.values()):
        raise ArgumentTypeError(
            f"variables must be a mapping of collections to mappings, e.g. {{'params': ..., 'batch_stats': ...}}, "
            f"got {type(variables).__name__}"
        )
    sizes = check_int_tuple(stage_sizes, "stage_sizes", minimum=1)
    seen = set()
    for col, tree in variables.items():
        found: dict[int, set[str]] = {}  # stage -> its block suffixes: "0", "rest", "1", ...
        for key in filter(_BLOCK_KEY.fullmatch, tree):
            stage, block = _BLOCK_KEY.fullmatch(key).groups()
            if not 1 <= int(stage) <= len(sizes):
                raise ValueError(f"variables[{col!r}] has {key!r} but stage_sizes {sizes} has only {len(sizes)} stages")
            found.setdefault(int(stage), set()).add(block)
        seen |= set(found)
        for stage, n in enumerate(sizes, 1):
            suffixes = found.get(stage, set())
            blocks = sorted(int(b) for b in suffixes - {"0", "rest"})
            where = f"variables[{col!r}] vs stage_sizes {sizes} (stage {stage} has {n} blocks)"
            if scanned and blocks:
                raise ValueError(
                    f"variables[{col!r}] mixes layouts: layer{stage}_{blocks[0]} in a scan_stages=True tree"
                )
            if scanned and "rest" not in suffixes:
                if n > 1 and "0" in suffixes:
                    raise ValueError(f"{where}: no 'layer{stage}_rest' holds blocks 1..{n - 1}")
            elif scanned:
                rest = tree[f"layer{stage}_rest"]
                if not isinstance(rest, Mapping) or "block" not in rest:
                    raise ValueError(f"variables[{col!r}]['layer{stage}_rest'] must hold the scanned 'block'")
                stacked = sorted(
                    {int(jnp.shape(a)[0]) if jnp.ndim(a) else 0 for a in jax.tree_util.tree_leaves(rest["block"])}
                )
                if stacked != [n - 1]:
                    raise ValueError(f"{where}: 'layer{stage}_rest' stacks {stacked} blocks, not {n - 1}")
            elif (blocks or "0" in suffixes) and blocks != list(range(1, n)):
                names = [f"layer{stage}_{j}" for j in blocks]
                raise ValueError(f"{where}: it holds blocks {names} after layer{stage}_0, not 1..{n - 1}")
    unseen = sorted(set(range(1, len(sizes) + 1)) - seen)
    if unseen:
        raise ValueError(
            f"stage_sizes {sizes} has {len(sizes)} stages but variables hold no block of stage(s) {unseen}"
        )
    return sizes


def scan_to_unrolled(variables: dict, stage_sizes: Sequence[int]) -> dict:
    """Map a ``scan_stages=True`` variables tree to the unrolled layout (``layer{s}_{j}``).
    ``stage_sizes`` must be the model's (checked against the stacks)."""
    sizes = _check_layout(variables, stage_sizes, scanned=True)
    out = {}
    for col, tree in variables.items():
        out[col] = new = {}
        for name, sub in tree.items():
            m = _BLOCK_KEY.fullmatch(name)
            if m and m.group(2) == "rest":
                for j in range(1, sizes[int(m.group(1)) - 1]):
                    new[f"layer{m.group(1)}_{j}"] = jax.tree_util.tree_map(lambda a, j=j: a[j - 1], sub["block"])
            else:
                new[name] = sub
    return out


def unrolled_to_scan(variables: dict, stage_sizes: Sequence[int]) -> dict:
    """Inverse of ``scan_to_unrolled``: stack blocks 1..n-1 of each stage under ``layer{s}_rest``.
    ``stage_sizes`` must be the model's (checked against the blocks present)."""
    sizes = _check_layout(variables, stage_sizes, scanned=False)
    out = {}
    for col, tree in variables.items():
        stacked = {f"layer{s}_{j}" for s, n in enumerate(sizes, 1) for j in range(1, n)}
        out[col] = new = {k: v for k, v in tree.items() if k not in stacked}
        for s, n in enumerate(sizes, 1):
            blocks = [tree[f"layer{s}_{j}"] for j in range(1, n) if f"layer{s}_{j}" in tree]
            if blocks:
                new[f"layer{s}_rest"] = {"block": jax.tree_util.tree_map(lambda *a: jnp.stack(a), *blocks)}
    return out
