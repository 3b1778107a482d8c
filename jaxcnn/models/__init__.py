"""Model registry: ``create_model(name, **overrides)`` and ``list_models()``.

Every model is a flax.linen module used as ``model.init(key, x, train=False)`` and
``model.apply(variables, x, train=True, mutable=['batch_stats'], rngs=...)``, and has a
``features`` method returning an ordered dict of named NHWC maps ending in ``'final'``.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable

import flax.linen as nn

from jaxcnn.models.espcn import ESPCN, espcn
from jaxcnn.models.mobilenet import MobileNetV2
from jaxcnn.models.resnet import NETWORK_FIELDS, ResNet, ResNetStage, block_spec, scan_to_unrolled, unrolled_to_scan
from jaxcnn.validation import ArgumentTypeError, check_callable, check_positive_int, check_str

_IMAGENET = dict(stem="imagenet", widths=(64, 128, 256, 512), num_classes=1000)
_CIFAR = dict(stem="cifar", widths=(16, 32, 64), num_classes=10, block="basic")
# the ResNet spelling of a block option, kept for create_model overrides
_ALIASES = {"shortcut": "shortcut_type"}

_REGISTRY: dict[str, Callable[..., nn.Module]] = {}


def register(name: str, factory: Callable[..., nn.Module]) -> None:
    """Add a model factory (a module class or ``functools.partial`` of one) under ``name``;
    an existing name is replaced."""
    _REGISTRY[check_str(name, "name")] = check_callable(factory, "factory")


def _resnet(block_args: dict | None = None, **cfg):
    return functools.partial(ResNet, **cfg, block_args=dict(block_args or {}))


for _name, _block, _sizes in [
    ("resnet18", "basic", (2, 2, 2, 2)),
    ("resnet34", "basic", (3, 4, 6, 3)),
    ("resnet50", "bottleneck", (3, 4, 6, 3)),
    ("resnet101", "bottleneck", (3, 4, 23, 3)),
    ("resnet152", "bottleneck", (3, 8, 36, 3)),
]:
    register(_name, _resnet(**_IMAGENET, block=_block, stage_sizes=_sizes))
    register(
        f"preact_{_name}",
        _resnet(**dict(_IMAGENET, stem="preact_imagenet"), block=f"preact_{_block}", stage_sizes=_sizes),
    )

_R50 = dict(_IMAGENET, block="bottleneck", stage_sizes=(3, 4, 6, 3))
_R101 = dict(_R50, stage_sizes=(3, 4, 23, 3))
register("resnet50d", _resnet(**dict(_R50, stem="deep"), block_args=dict(shortcut_type="D")))
register("resnext50_32x4d", _resnet(**_R50, block_args=dict(groups=32, base_width=4)))
register("resnext101_32x8d", _resnet(**_R101, block_args=dict(groups=32, base_width=8)))
register("wide_resnet50_2", _resnet(**_R50, block_args=dict(base_width=128)))
register("wide_resnet101_2", _resnet(**_R101, block_args=dict(base_width=128)))
register("se_resnet50", _resnet(**_R50, block_args=dict(se_reduction=16)))

# CIFAR ResNets (ResNet paper, section 4.2): 6n+2 layers, 16/32/64 filters, option-A shortcuts.
for _depth in (20, 32, 44, 56, 110, 1202):
    _n = (_depth - 2) // 6
    register(f"cifar_resnet{_depth}", _resnet(**_CIFAR, stage_sizes=(_n,) * 3, block_args=dict(shortcut_type="A")))
# Pre-activation CIFAR ResNets (Identity Mappings paper): projection shortcuts where shapes change.
for _name, _block in (("preact_cifar_resnet110", "preact_basic"), ("preact_cifar_resnet164", "preact_bottleneck")):
    register(_name, _resnet(**dict(_CIFAR, stem="preact_cifar", block=_block), stage_sizes=(18,) * 3))

register("mobilenet_v2", MobileNetV2)
register("espcn", espcn)  # Shi et al. 2016: 5-3-3 kernels, 64-32 channels, tanh, pixel shuffle


def _check_name(name) -> str:
    """A registered model name; the message lists the known ones."""
    known = f"known models: {', '.join(list_models())}"
    if not isinstance(name, str):
        raise ArgumentTypeError(f"name must be a model name (str), got {name!r} ({type(name).__name__}); {known}")
    if name not in _REGISTRY:
        raise ValueError(f"name must be a registered model, got unknown model {name!r}; {known}")
    return name


def list_models() -> list[str]:
    """Names accepted by ``create_model``, sorted."""
    return sorted(_REGISTRY)


def default_input_shape(name: str, batch: int = 1) -> tuple[int, int, int, int]:
    """The NHWC input a model is usually run on: 32x32 for CIFAR nets and ESPCN's LR patches,
    224x224 RGB otherwise."""
    _check_name(name)
    batch = check_positive_int(batch, "batch")
    if name == "espcn":
        return (batch, 32, 32, 1)
    return (batch, 32, 32, 3) if "cifar" in name else (batch, 224, 224, 3)


def create_model(name: str, **overrides) -> nn.Module:
    """Build a registered model; ``overrides`` replace its fields (e.g. ``num_classes=10``).
    An unknown name or option is refused here; the model checks the values of its fields."""
    factory = _REGISTRY[_check_name(name)]
    cls = factory.func if isinstance(factory, functools.partial) else factory
    if not dataclasses.is_dataclass(cls):  # a plain factory function validates its own arguments
        return factory(**overrides)
    fields = {f.name for f in dataclasses.fields(cls)} - {"parent", "name"}
    options: set[str] = set()
    if isinstance(cls, type) and issubclass(cls, ResNet):
        overrides, options = _block_overrides(factory, overrides)
    unknown = sorted(set(overrides) - fields)
    if unknown:
        raise ArgumentTypeError(
            f"create_model({name!r}) got unknown option(s) {unknown}; {cls.__name__} accepts "
            f"{sorted(fields)}" + (f" and the block options {sorted(options)}" if options else "")
        )
    return factory(**overrides)


def _block_overrides(factory: Callable, overrides: dict) -> tuple[dict, set[str]]:
    """Move the overrides that are options of the ResNet's block (``groups``, ``conv``, ``shortcut``, ...)
    into its ``block_args``, on top of the registry's: an option given explicitly always reaches the block."""
    preset = factory.keywords if isinstance(factory, functools.partial) else {}
    block = overrides.get("block", preset.get("block", "basic"))
    try:
        cls = block_spec(block).func
    except (TypeError, ValueError):
        return overrides, set()  # the model names the bad block
    options = {f.name for f in dataclasses.fields(cls)} - set(NETWORK_FIELDS)
    options |= {alias for alias, field in _ALIASES.items() if field in options}
    moved = {_ALIASES.get(k, k): v for k, v in overrides.items() if k in options}
    if not moved:
        return overrides, options
    rest = {k: v for k, v in overrides.items() if k not in options}
    rest["block_args"] = {**preset.get("block_args", {}), **rest.get("block_args", {}), **moved}
    return rest, options


__all__ = [
    "create_model",
    "default_input_shape",
    "list_models",
    "register",
    "ResNet",
    "ResNetStage",
    "MobileNetV2",
    "ESPCN",
    "espcn",
    "scan_to_unrolled",
    "unrolled_to_scan",
]
