"""The trade-off study's MBConv network has the CIFAR ResNet-20 layout: parameters counted by hand
from the layer shapes, and the stage maps at 32/16/8 pixels with 16/32/64 channels."""

import jax
import jax.numpy as jnp
import pytest

from experiments.cifar_mbconv import CifarMBConv


def _inverted_residual_params(c_in: int, c_out: int, t: int) -> int:
    """MobileNetV2 block: 1x1 expand + BN, 3x3 depthwise + BN, 1x1 project + BN (convs without bias)."""
    hidden = c_in * t
    return c_in * hidden + 2 * hidden + 9 * hidden + 2 * hidden + hidden * c_out + 2 * c_out


def _expected_params(stage_sizes, widths=(16, 32, 64), t=6, classes=10) -> int:
    total = 3 * 3 * 3 * widths[0] + 2 * widths[0]  # stem conv + BN
    c = widths[0]
    for n, w in zip(stage_sizes, widths):
        for _ in range(n):
            total += _inverted_residual_params(c, w, t)
            c = w
    return total + c * classes + classes  # linear head


@pytest.mark.parametrize("stage_sizes", [(1, 1, 1), (2, 1, 3)])
def test_parameter_count_and_stage_shapes(stage_sizes):
    model = CifarMBConv(stage_sizes=stage_sizes)
    x = jnp.zeros((2, 32, 32, 3))
    variables = jax.eval_shape(model.init, jax.random.key(0), x)
    n_params = sum(leaf.size for leaf in jax.tree.leaves(variables["params"]))
    assert n_params == _expected_params(stage_sizes)
    feats = jax.eval_shape(lambda v: model.apply(v, x, method="features"), variables)
    assert [(k, feats[k].shape) for k in ("stem", "stage1", "stage2", "stage3")] == [
        ("stem", (2, 32, 32, 16)),
        ("stage1", (2, 32, 32, 16)),
        ("stage2", (2, 16, 16, 32)),
        ("stage3", (2, 8, 8, 64)),
    ]
    assert jax.eval_shape(lambda v: model.apply(v, x), variables).dtype == jnp.float32
