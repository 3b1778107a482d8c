"""Registry, the ``features`` method, and clear errors on bad input."""

import jax
import jax.numpy as jnp
import pytest

from jaxcnn.blocks import BasicBlock, DepthwiseSeparableConv
from jaxcnn.models import create_model, list_models

REQUIRED = [
    "resnet18",
    "resnet34",
    "resnet50",
    "resnet101",
    "resnet152",
    "resnet50d",
    "resnext50_32x4d",
    "resnext101_32x8d",
    "wide_resnet50_2",
    "se_resnet50",
    "preact_resnet18",
    "preact_resnet50",
    "cifar_resnet20",
    "cifar_resnet32",
    "cifar_resnet44",
    "cifar_resnet56",
    "cifar_resnet110",
    "preact_cifar_resnet110",
    "preact_cifar_resnet164",
    "mobilenet_v2",
]


def test_required_models_registered():
    assert set(REQUIRED) <= set(list_models())


@pytest.mark.parametrize(
    "name",
    [
        n
        for n in REQUIRED
        if n
        in (
            "resnet18",
            "resnet50",
            "preact_resnet50",
            "cifar_resnet20",
            "preact_cifar_resnet164",
            "mobilenet_v2",
            "resnet50d",
        )
    ],
)
def test_features_are_ordered_named_maps_ending_in_final(name):
    model = create_model(name)
    size = 32 if "cifar" in name else 64
    x = jnp.zeros((2, size, size, 3))
    variables = jax.eval_shape(lambda: model.init(jax.random.key(0), x))
    feats = jax.eval_shape(lambda v: model.apply(v, x, train=False, method="features"), variables)
    keys = list(feats)
    assert keys[0] == "stem" and keys[-1] == "final"
    assert all(k.startswith("stage") for k in keys[1:-1])
    reduction = 4 if "cifar" in name else 32
    assert feats["final"].shape[:3] == (2, size // reduction, size // reduction)
    logits = jax.eval_shape(lambda v: model.apply(v, x), variables)
    assert logits.shape == (2, model.num_classes)


def test_unknown_model_lists_known_ones():
    with pytest.raises(ValueError, match="unknown model 'resnet19'.*resnet18"):
        create_model("resnet19")


def test_unknown_override_names_the_option():
    with pytest.raises(TypeError, match="num_clases"):
        create_model("resnet18", num_clases=10)


def test_nchw_input_is_caught():
    model = create_model("cifar_resnet20")
    with pytest.raises(ValueError, match="NCHW"):
        model.init(jax.random.key(0), jnp.zeros((1, 3, 32, 32)))


@pytest.mark.parametrize("shape", [(32, 32, 3), (1, 1, 32, 32, 3)])
def test_non_4d_input(shape):
    with pytest.raises(ValueError, match="4-D NHWC"):
        create_model("cifar_resnet20").init(jax.random.key(0), jnp.zeros(shape))


def test_unknown_shortcut_type():
    with pytest.raises(ValueError, match="shortcut_type must be one of"):
        BasicBlock(16, shortcut_type="E").init(jax.random.key(0), jnp.zeros((1, 8, 8, 16)))
    with pytest.raises(ValueError, match="shortcut_type must be one of"):
        create_model("cifar_resnet20", shortcut="X").init(jax.random.key(0), jnp.zeros((1, 32, 32, 3)))


def test_groups_that_do_not_divide_channels():
    from jaxcnn.layers import conv

    with pytest.raises(ValueError, match="groups=3 must divide"):
        conv(12, 3, groups=3).init(jax.random.key(0), jnp.zeros((1, 8, 8, 16)))
    with pytest.raises(ValueError, match="groups=4 must divide"):
        DepthwiseSeparableConv(6).apply({}, jnp.zeros((1, 8, 8, 4)), method=lambda m, x: conv(6, 3, groups=4)(x))
    with pytest.raises(ValueError, match="inner width"):
        create_model("resnext50_32x4d", base_width=1, widths=(16, 32, 64, 128)).init(
            jax.random.key(0), jnp.zeros((1, 32, 32, 3))
        )


def test_shortcut_a_cannot_narrow():
    with pytest.raises(ValueError, match="can only widen"):
        BasicBlock(8, shortcut_type="A").init(jax.random.key(0), jnp.zeros((1, 8, 8, 16)))


def test_bad_block_and_features_arguments():
    with pytest.raises(ValueError, match="features must be a positive integer"):
        DepthwiseSeparableConv(0).init(jax.random.key(0), jnp.zeros((1, 8, 8, 4)))
    with pytest.raises(ValueError, match="block must be one of"):
        create_model("resnet18", block="dense").init(jax.random.key(0), jnp.zeros((1, 32, 32, 3)))


def test_an_explicit_block_option_reaches_the_block_even_at_the_resnet_default():
    """ResNeXtBottleneck's own default is 32 groups; ``groups=1`` given explicitly must reach it (a dense
    3x3 conv, kernel (3, 3, width, width)), however it is spelled."""
    import jax
    import jax.numpy as jnp

    from jaxcnn.blocks import ResNeXtBottleneck
    from jaxcnn.models import ResNet

    small = dict(stage_sizes=(1, 1, 1, 1), num_classes=10)
    for model in (
        ResNet(block=ResNeXtBottleneck, block_args=dict(groups=1), **small),
        create_model("resnet50", block=ResNeXtBottleneck, groups=1, **small),
        create_model("resnext50_32x4d", groups=1, **small),
    ):
        shapes = jax.eval_shape(lambda m=model: m.init(jax.random.key(0), jnp.zeros((1, 32, 32, 3))))
        assert shapes["params"]["layer1_0"]["conv2"]["kernel"].shape == (3, 3, 4, 4), model.block_args
    grouped = create_model("resnet50", block=ResNeXtBottleneck, **small)  # the class's default, 32 groups
    shapes = jax.eval_shape(lambda: grouped.init(jax.random.key(0), jnp.zeros((1, 32, 32, 3))))
    assert shapes["params"]["layer1_0"]["conv2"]["kernel"].shape == (3, 3, 4, 128)


def test_resnet_keeps_network_level_fields_only():
    import dataclasses

    from jaxcnn.models import ResNet

    assert len([f for f in dataclasses.fields(ResNet) if f.name not in ("parent", "name")]) <= 15
