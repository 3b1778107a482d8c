"""Bad-field tests generated from the declarations: every declared field of every ``Declared`` class
reachable from jaxcnn's public modules, every value its rule refuses (``Rule.bad``), must be refused at
construction with a message naming the class, the field and the value. Relations between fields, which
no single rule sees, are a short hand-written table."""

import importlib
import pkgutil
import re

import pytest

import jaxcnn
from jaxcnn.blocks import BasicBlock, BottleneckBlock, PreActBasicBlock, PreActBottleneckBlock
from jaxcnn.declared import Declared, declared_rules
from jaxcnn.layers import Conv
from jaxcnn.models import ResNet, ResNetStage
from jaxcnn.upsample import ConvTranspose


def _declared_classes() -> list[type]:
    found = set()
    for info in pkgutil.walk_packages(jaxcnn.__path__, "jaxcnn."):
        if info.name.rsplit(".", 1)[-1].startswith("_"):
            continue  # private modules (and the native handler library, which is no Python module)
        module = importlib.import_module(info.name)
        for name in getattr(module, "__all__", ()):
            obj = getattr(module, name, None)
            if isinstance(obj, type) and issubclass(obj, Declared) and obj is not Declared:
                found.add(obj)
    return sorted(found, key=lambda c: (c.__module__, c.__name__))


# The required fields (no default) by name, with a value every class that has them accepts.
REQUIRED = {"features": 16, "kernel_size": (3, 3), "drop_rate": 0.1, "block": BasicBlock, "num_blocks": 1, "scale": 2}
CLASSES = _declared_classes()


def _required(cls: type) -> dict:
    rules = declared_rules(cls)
    import dataclasses

    return {
        f.name: REQUIRED[f.name]
        for f in dataclasses.fields(cls)
        if f.name in rules and f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
    }


CASES = [
    pytest.param(cls, field, bad, id=f"{cls.__name__}-{field}-{bad!r}")
    for cls in CLASSES
    for field, rule in declared_rules(cls).items()
    for bad in rule.bad
]


def test_the_walk_finds_the_declared_classes():
    names = {c.__name__ for c in CLASSES}
    assert {
        "Conv",
        "BatchNorm",
        "BasicBlock",
        "ResNet",
        "ResNetStage",
        "MobileNetV2",
        "ESPCN",
        "DropBlock",
        "StochasticDepth",
        "Cutout",
        "ConvTranspose",
        "SubPixelConv",
        "SqueezeExcite",
        "InvertedResidual",
    } <= names
    assert len(CASES) > 300


@pytest.mark.parametrize("cls", CLASSES, ids=lambda c: c.__name__)
def test_required_values_construct(cls):
    cls(**_required(cls))


@pytest.mark.parametrize("cls, field, bad", CASES)
def test_bad_field_is_refused_naming_class_field_and_value(cls, field, bad):
    with pytest.raises((TypeError, ValueError)) as info:
        cls(**dict(_required(cls), **{field: bad}))
    message = str(info.value)
    assert message.startswith(f"{cls.__name__}:"), message
    assert re.search(rf"\b{re.escape(field)}\b", message), message
    assert repr(bad) in message, message


RELATIONS = [
    (lambda: Conv(6, (3, 3), feature_group_count=4), "Conv", "features"),
    (lambda: ConvTranspose(3, 3, groups=2), "ConvTranspose", "features"),
    (
        lambda: (
            BasicBlock(4, zero_init_last_bn=False, shortcut_type="A") and PreActBasicBlock(4, zero_init_last_bn=True)
        ),
        "PreActBasicBlock",
        "zero_init_last_bn",
    ),
    (lambda: PreActBottleneckBlock(16, zero_init_last_bn=True), "PreActBottleneckBlock", "zero_init_last_bn"),
    (lambda: BottleneckBlock(1, base_width=4), "BottleneckBlock", "features"),
    (lambda: BottleneckBlock(1, se_reduction=16), "BottleneckBlock", "se_reduction"),
    (lambda: ResNet(widths=(8,)), "ResNet", "widths"),
    (lambda: ResNet(drop_block_rate=0.1, drop_block_stages=(5,)), "ResNet", "drop_block_stages"),
    (lambda: ResNet(scan_stages=True, drop_path_rate=0.1), "ResNet", "scan_stages"),
    (lambda: ResNet(block_args=dict(groups=2)), "ResNet", "block_args"),
    (lambda: ResNet(block_args=dict(features=3)), "ResNet", "block_args"),
    (lambda: ResNet(block="bottleneck", block_args=dict(groups=0)), "BottleneckBlock", "groups"),
    (
        lambda: ResNet(block="preact_basic", block_args=dict(zero_init_last_bn=True)),
        "PreActBasicBlock",
        "zero_init_last_bn",
    ),
    (lambda: ResNetStage(BasicBlock, 4, 2, drop_path_rates=(0.1,)), "ResNetStage", "drop_path_rates"),
    (lambda: ResNetStage(BasicBlock, 4, 2, scan=True, drop_block_rate=0.1), "ResNetStage", "scan"),
]


@pytest.mark.parametrize("make, cls, field", RELATIONS, ids=[f"{c}-{f}" for _, c, f in RELATIONS])
def test_relation_is_refused_naming_class_and_field(make, cls, field):
    with pytest.raises(ValueError) as info:
        make()
    assert cls in str(info.value) and re.search(rf"\b{field}\b", str(info.value)), str(info.value)


def test_a_refused_value_is_refused_again_after_a_good_one():
    """Checks are skipped for a configuration that passed before; an equal-looking bad one
    (``2.0 == 2``, ``True == 1``) is not mistaken for it."""
    Conv(2, (3, 3))
    for bad in (2.0, True):
        with pytest.raises(TypeError, match="features"):
            Conv(bad, (3, 3))
    Conv(4, (3, 3), strides=(1, 1))
    with pytest.raises(TypeError, match="strides"):
        Conv(4, (3, 3), strides=(1.0, 1))
