"""MACs and parameters against torchvision's published GFLOPS and parameter counts."""

import jax
import jax.numpy as jnp
import pytest

from jaxcnn.analysis.complexity import count_macs, model_complexity, xla_flops
from jaxcnn.models import create_model
from jaxcnn.xla_cpu import OneDNNConv

# torchvision model docs: (GFLOPS at 224x224 -- which are MACs --, params)
PUBLISHED = {
    "resnet18": (1.814, 11_689_512),
    "resnet50": (4.089, 25_557_032),
    "resnext50_32x4d": (4.23, 25_028_904),
    "mobilenet_v2": (0.30, 3_504_872),
}


@pytest.mark.parametrize("name", list(PUBLISHED))
def test_macs_and_params_match_torchvision(name):
    gflops, n_params = PUBLISHED[name]
    c = model_complexity(create_model(name))
    tol = 0.01 if name == "mobilenet_v2" else 0.01 * gflops  # mobilenet is published to 2 digits
    assert abs(c.macs / 1e9 - gflops) <= tol
    assert c.params == n_params
    assert sum(m for _, m in c.stages.values()) == c.macs
    assert sum(p for p, _ in c.stages.values()) == c.params


def test_resnet18_stage_macs_by_hand():
    c = model_complexity(create_model("resnet18"))
    stem = 112 * 112 * 64 * 7 * 7 * 3
    stage1 = 4 * 56 * 56 * 64 * 9 * 64
    assert c.stages["stem"][1] == stem and c.stages["stage1"][1] == stage1
    assert c.stages["head"] == (512 * 1000 + 1000, 512 * 1000)


@pytest.mark.parametrize(
    "kw", [dict(conv=OneDNNConv), dict(scan_stages=True), dict(drop_path_rate=0.2, drop_path_mode="batch")]
)
def test_platform_dependent_convs_count_as_convs(kw):
    """oneDNN custom calls, scanned stages and cond branches: the torchvision figure of resnet18."""
    gflops, n_params = PUBLISHED["resnet18"]
    c = model_complexity(create_model("resnet18", **kw))
    assert abs(c.macs / 1e9 - gflops) <= 0.01 * gflops and c.params == n_params


def test_count_macs_conv_transpose_and_dense():
    from jaxcnn.upsample import conv_transpose

    y = jax.ShapeDtypeStruct((1, 8, 8, 4), jnp.float32)
    k = jax.ShapeDtypeStruct((3, 3, 2, 4), jnp.float32)
    # every input pixel meets every tap once: 8*8 inputs * 4 in * 2 out * 9 taps (edges aside)
    macs = count_macs(lambda y, k: conv_transpose(y, k, stride=2, padding=1, output_padding=1), y, k)
    assert abs(macs - 8 * 8 * 4 * 2 * 9) <= 8 * 8 * 4 * 2 * 9 * 0.05
    a, b = jax.ShapeDtypeStruct((5, 7), jnp.float32), jax.ShapeDtypeStruct((7, 3), jnp.float32)
    assert count_macs(jnp.dot, a, b) == 5 * 7 * 3


def test_xla_agrees_within_elementwise_overhead():
    from jax import lax

    def f(x, w1, w2):
        dn = ("NHWC", "HWIO", "NHWC")
        y = jax.nn.relu(lax.conv_general_dilated(x, w1, (2, 2), ((1, 1), (1, 1)), dimension_numbers=dn))
        return lax.conv_general_dilated(y, w2, (1, 1), ((1, 1), (1, 1)), dimension_numbers=dn, feature_group_count=4)

    args = (jnp.ones((2, 16, 16, 8)), jnp.ones((3, 3, 8, 16)), jnp.ones((3, 3, 4, 16)))
    macs = count_macs(f, *args)
    assert macs == 2 * 8 * 8 * 16 * (9 * 8) + 2 * 8 * 8 * 16 * (9 * 4)
    # XLA counts 2 flops per MAC but skips taps on the zero padding, and adds one per ReLU:
    # conv1 sees 23 of 24 tap rows per axis (only unit 0 hangs over), conv2 22 of 24
    in_bounds = 2 * 23 * 23 * 16 * 8 + 2 * 22 * 22 * 16 * 4
    assert xla_flops(f, *args) == 2 * in_bounds + 2 * 8 * 8 * 16
