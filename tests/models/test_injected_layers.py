"""Injected layers: a GroupNorm + weight-standardised-conv ResNet (BiT-style) is a partial, not a fork."""

from functools import partial

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax
from jax import lax

from jaxcnn import count_params
from jaxcnn.blocks import BasicBlock
from jaxcnn.layers import WeightStandardizedConv
from jaxcnn.models import create_model

KEY = jax.random.key(0)
GN = partial(nn.GroupNorm, num_groups=8)


def cifar_resnet_params(n: int, widths=(16, 32, 64), classes: int = 10) -> int:
    """Closed form for a 6n+2 CIFAR ResNet with option-A shortcuts and a per-channel affine norm
    (2 parameters per channel, GroupNorm or BatchNorm alike): 3x3 convs + norms + fc."""
    total = 9 * 3 * widths[0] + 2 * widths[0]  # stem conv + norm
    c_in = widths[0]
    for w in widths:
        for b in range(n):
            total += 9 * (c_in if b == 0 else w) * w + 9 * w * w + 2 * 2 * w
        c_in = w
    return total + widths[-1] * classes + classes


def test_cifar_formula_is_the_published_figure():
    assert cifar_resnet_params(3) == 269_722  # ResNet-20, He et al. 2015 ("0.27M")


def test_groupnorm_ws_resnet_has_no_batch_stats_and_the_formula_count():
    model = create_model("cifar_resnet20", conv=WeightStandardizedConv, norm=GN)
    x = jax.random.normal(KEY, (4, 32, 32, 3))
    variables = model.init(KEY, x, train=False)
    assert set(variables) == {"params"}
    assert count_params(variables) == cifar_resnet_params(3)
    # torchvision's submodule names survive: same tree as the BatchNorm model's parameters
    bn_params = jax.eval_shape(lambda: create_model("cifar_resnet20").init(KEY, x, train=False))["params"]
    assert jax.tree_util.tree_structure(variables["params"]) == jax.tree_util.tree_structure(bn_params)
    assert "GroupNorm" in repr(model.norm) or model.norm.func is nn.GroupNorm


def test_groupnorm_resnet50_count_equals_torchvision():
    model = create_model("resnet50", norm=partial(nn.GroupNorm, num_groups=32), conv=WeightStandardizedConv)
    v = jax.eval_shape(lambda: model.init(KEY, jnp.zeros((1, 64, 64, 3)), train=False))
    assert set(v) == {"params"} and count_params(v) == 25_557_032


def test_groupnorm_ws_resnet_trains_a_step():
    model = create_model("cifar_resnet20", conv=WeightStandardizedConv, norm=GN, stage_sizes=(1, 1, 1))
    x = jax.random.normal(KEY, (8, 16, 16, 3))
    y = jnp.arange(8) % 10
    params = model.init(KEY, x, train=False)["params"]
    tx = optax.sgd(0.1)
    opt = tx.init(params)

    def loss(p):
        logits = model.apply({"params": p}, x, train=True)  # no mutable collection needed
        return optax.softmax_cross_entropy_with_integer_labels(logits, y).mean()

    l0, g = jax.value_and_grad(loss)(params)
    upd, opt = tx.update(g, opt, params)
    new = optax.apply_updates(params, upd)
    assert np.isfinite(float(l0)) and float(loss(new)) < float(l0)
    # train and eval are the same function without running statistics
    np.testing.assert_array_equal(model.apply({"params": new}, x, train=True), model.apply({"params": new}, x))


def test_weight_standardized_conv_equals_numpy_standardisation():
    x = jax.random.normal(KEY, (2, 7, 7, 3))
    conv = WeightStandardizedConv(5, (3, 3), padding=((1, 1), (1, 1)))
    v = conv.init(KEY, x)
    k = np.asarray(v["params"]["kernel"], np.float64)
    k_hat = (k - k.mean(axis=(0, 1, 2))) / np.sqrt(k.var(axis=(0, 1, 2)) + 1e-5)
    want = lax.conv_general_dilated(
        x, jnp.asarray(k_hat, jnp.float32), (1, 1), ((1, 1), (1, 1)), dimension_numbers=("NHWC", "HWIO", "NHWC")
    )
    np.testing.assert_allclose(conv.apply(v, x), want, rtol=1e-5, atol=1e-5)


def test_injected_act_is_used():
    # act = 0: a post-activation block outputs exactly zero, and a whole model's logits are the fc bias
    zero = lambda z: jnp.zeros_like(z)
    x = jax.random.normal(KEY, (2, 8, 8, 4))
    block = BasicBlock(4, act=zero)
    np.testing.assert_array_equal(block.apply(block.init(KEY, x), x), 0.0)
    for name, head in (("cifar_resnet20", "fc"), ("mobilenet_v2", "classifier")):
        model = create_model(
            name, act=zero, **({"stage_sizes": (1, 1, 1)} if "cifar" in name else {"width_mult": 0.25})
        )
        xi = jax.random.normal(KEY, (2, 32, 32, 3))
        v = model.init(KEY, xi)
        bias = v["params"][head]["bias"] + 0.5  # a non-zero bias, so the check can fail
        v = {**v, "params": {**v["params"], head: {**v["params"][head], "bias": bias}}}
        np.testing.assert_allclose(model.apply(v, xi), np.broadcast_to(bias, (2, bias.shape[0])), atol=1e-6)


def test_block_class_and_stem_function():
    from jaxcnn.blocks import ResNeXtBottleneck

    x = jax.random.normal(KEY, (1, 32, 32, 3))
    small = dict(stage_sizes=(1, 1, 1, 1), widths=(8, 8, 16, 16))
    by_class = create_model("resnet50", block=ResNeXtBottleneck, **small, base_width=8)
    by_name = create_model("resnet50", block="bottleneck", groups=32, **small, base_width=8)
    v = by_name.init(KEY, x)
    np.testing.assert_array_equal(by_class.apply(v, x), by_name.apply(v, x))
    assert v["params"]["layer1_0"]["conv2"]["kernel"].shape == (3, 3, 1, 32)  # width int(8 * 8 / 64) * 32, 32 groups

    def stem5(model, x, train):  # a user's stem: one 5x5 conv, no norm
        return model.make_conv(model.widths[0], 5, name="conv1")(x)

    v = jax.eval_shape(lambda: create_model("cifar_resnet20", stem=stem5).init(KEY, x))
    assert v["params"]["conv1"]["kernel"].shape == (5, 5, 3, 16) and "bn1" not in v["params"]
    assert count_params(v) == cifar_resnet_params(3) - 9 * 3 * 16 - 2 * 16 + 25 * 3 * 16
