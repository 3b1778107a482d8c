"""Analytic receptive fields against hand-computed recurrences and published numbers."""

import jax
import jax.numpy as jnp
import pytest
from jax import lax

from jaxcnn.analysis import UnsupportedPrimitive, layerwise_receptive_fields, model_receptive_fields, receptive_field
from jaxcnn.models import create_model
from jaxcnn.xla_cpu import OneDNNConv


def araujo(layers):
    """Araujo, Norris & Sim (Distill 2019), written out here as the oracle: layers are
    (kernel, stride, pad_left, dilation); returns (size, jump, effective padding)."""
    r, j, p = 1, 1, 0
    for k, s, pad, d in layers:
        k = d * (k - 1) + 1
        r += (k - 1) * j
        p += pad * j
        j *= s
    return r, j, p


def conv(x, k=3, s=1, pad=1, d=1, feats=2):
    w = jnp.ones((k, k, x.shape[-1], feats))
    return lax.conv_general_dilated(
        x, w, (s, s), ((pad, pad), (pad, pad)), rhs_dilation=(d, d), dimension_numbers=("NHWC", "HWIO", "NHWC")
    )


def max_pool(x, k=2, s=2, pad=0):
    return lax.reduce_window(x, -jnp.inf, lax.max, (1, k, k, 1), (1, s, s, 1), ((0, 0), (pad, pad), (pad, pad), (0, 0)))


VGG16 = [(2, 64), (2, 128), (3, 256), (3, 512), (3, 512)]


def vgg16_pool5(x):
    for n, _ in VGG16:
        for _ in range(n):
            x = jax.nn.relu(conv(x))
        x = max_pool(x)
    return x


def test_vgg16_matches_published_and_recurrence():
    r = receptive_field(vgg16_pool5, (1, 224, 224, 3))
    layers = [l for n, _ in VGG16 for l in [(3, 1, 1, 1)] * n + [(2, 2, 0, 1)]]
    assert araujo(layers) == (212, 32, 90)  # google-research/receptive_field's vgg_16 row
    assert (r.size, r.stride, r.padding) == ((212, 212), (32, 32), (90, 90))
    assert r.field_of(1, 2) == ((32 - 90, 32 - 90 + 211), (64 - 90, 64 - 90 + 211))
    assert not r.centred  # 2x2 pools shift the centre by half a pixel per stage


@pytest.mark.parametrize(
    "layers",
    [
        [(3, 1, 1, 1)],
        [(3, 1, 0, 1), (3, 1, 0, 1)],
        [(3, 2, 1, 1), (3, 1, 1, 1)],
        [(3, 1, 1, 1), (3, 2, 1, 1)],
        [(5, 1, 2, 1), ("pool", 3, 2, 1), (3, 1, 1, 1)],
        [(3, 1, 2, 2), (3, 1, 4, 4)],
        [(7, 2, 3, 1), ("pool", 3, 2, 1), (3, 2, 1, 2)],
        [(4, 3, 0, 1), ("pool", 2, 2, 0), (1, 1, 0, 1), (3, 1, 1, 3)],
    ],
)
def test_table_padding_stride_pool_dilation(layers):
    def f(x):
        for layer in layers:
            if layer[0] == "pool":
                x = max_pool(x, *layer[1:])
            else:
                k, s, pad, d = layer
                x = conv(x, k, s, pad, d)
        return x

    expected = araujo([(l[1], l[2], l[3], 1) if l[0] == "pool" else l for l in layers])
    r = receptive_field(f, (1, 64, 48, 1))
    assert (r.size[0], r.stride[0], r.padding[0]) == expected
    assert (r.size[1], r.stride[1], r.padding[1]) == expected


def test_resnet50_stages_and_layouts():
    r = model_receptive_fields(create_model("resnet50"))
    assert [r[k].size[0] for k in ("stage1", "stage2", "stage3", "stage4")] == [35, 91, 267, 427]
    assert r["final"].stride == (32, 32) and r["final"].centred
    assert model_receptive_fields(create_model("resnet50", stride_on_3x3=False))["final"].size == (483, 483)
    assert model_receptive_fields(create_model("resnet18"))["final"].size == (435, 435)


def test_scan_and_remat_give_the_same_field():
    base = model_receptive_fields(create_model("resnet34"), (1, 64, 64, 3))
    # scanned stages and OneDNNConv lower to lax.platform_dependent choices (a CPU custom call or XLA's conv)
    for kw in (dict(scan_stages=True), dict(remat=True), dict(conv=OneDNNConv)):
        assert model_receptive_fields(create_model("resnet34", **kw), (1, 64, 64, 3)) == base


@pytest.mark.parametrize("depth", [20, 56, 110])
def test_cifar_resnet_closed_form(depth):
    n = (depth - 2) // 6  # 3x3 stem, 2n convs at jump 1, 2n at jump 2, 2n at jump 4: r = 28n - 3
    assert (
        model_receptive_fields(create_model(f"cifar_resnet{depth}"), (1, 32, 32, 3))["final"].size == (28 * n - 3,) * 2
    )


def test_squeeze_excite_is_global():
    r = model_receptive_fields(create_model("se_resnet50", widths=(8, 8, 8, 8)), (1, 64, 64, 3))
    assert r["stem"].stride == (4, 4)
    assert r["final"].is_global and r["final"].size == (64, 64)


def test_nested_jit_cond_custom_vjp():
    @jax.custom_vjp
    def double(x):
        return 2 * x

    double.defvjp(lambda x: (2 * x, None), lambda _, g: (2 * g,))

    def f(x):
        y = jax.jit(conv)(x)
        y = lax.cond(True, lambda a: conv(a), lambda a: max_pool(a, 5, 1, 2), y)
        return double(jax.checkpoint(conv)(y))

    assert receptive_field(f, (1, 16, 16, 1)).size == (9, 9)  # 3, then max(3, 5), then 3


def test_upsampling_fields():
    from jaxcnn.upsample import conv_transpose, interpolate

    r = receptive_field(lambda x: conv_transpose(x, jnp.ones((4, 4, 1, 1)), stride=2, padding=1), (1, 8, 8, 1))
    assert r.size == (2, 2) and r.stride == (0.5, 0.5)
    r = receptive_field(lambda x: interpolate(x, scale_factor=2, mode="bilinear"), (1, 8, 8, 1))
    assert r.size == (2, 2) and r.stride == (0.5, 0.5)
    from jaxcnn.models.espcn import ESPCN

    assert model_receptive_fields(ESPCN(scale=3), (1, 12, 12, 1))["final"].size == (9, 9)  # 5 + 2 + 2 at low res


def test_layerwise_growth_is_monotone():
    layers = layerwise_receptive_fields(vgg16_pool5, (1, 64, 64, 1))
    assert len(layers) == 13 + 5
    sizes = [l.size[0] for l in layers]
    assert sizes == sorted(sizes) and sizes[-1] == 212 and sizes[0] == 3


def test_errors():
    with pytest.raises(ValueError, match="4-D"):
        receptive_field(lambda x: x[0], (1, 8, 8, 1))
    with pytest.raises(ValueError, match="no spatial axes"):
        receptive_field(lambda x: jnp.mean(x, axis=(1, 2), keepdims=True), (1, 8, 8, 1))
    with pytest.raises(ValueError, match="4-D NHWC"):  # logits
        model_receptive_fields(create_model("cifar_resnet20"), (1, 32, 32, 3), method=None)
    with pytest.raises(ValueError, match="smaller than a kernel"):
        receptive_field(lambda x: conv(x, 5, pad=0), (1, 3, 3, 1))
    with pytest.raises(ValueError, match="input_shape"):
        receptive_field(conv, (8, 8, 1))
    with pytest.raises(TypeError, match="callable"):
        receptive_field("conv", (1, 8, 8, 1))
    with pytest.raises(ValueError, match="does not depend"):
        receptive_field(lambda x: jnp.zeros_like(x), (1, 8, 8, 1))
    with pytest.raises(UnsupportedPrimitive, match="gather"):
        receptive_field(lambda x: jnp.take(x, jnp.argmax(x[0, 0, :, 0]) + jnp.arange(3), axis=1), (1, 8, 8, 1))
