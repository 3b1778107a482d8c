"""Parameter counts equal the published ones exactly (torchvision / the papers).

Shapes come from ``jax.eval_shape``, so no weights are materialised.
"""

import jax
import jax.numpy as jnp
import pytest

from jaxcnn import count_params
from jaxcnn.models import create_model

PUBLISHED = {
    # torchvision model cards
    "resnet18": 11_689_512,
    "resnet34": 21_797_672,
    "resnet50": 25_557_032,
    "resnet101": 44_549_160,
    "resnet152": 60_192_808,
    "resnext50_32x4d": 25_028_904,
    "resnext101_32x8d": 88_791_336,
    "wide_resnet50_2": 68_883_240,
    "mobilenet_v2": 3_504_872,
    # SE-ResNet-50, reduction 16, FCs with bias (Hu et al.; timm seresnet50 / pretrainedmodels)
    "se_resnet50": 28_088_024,
    # timm resnet50d: deep 32-32-64 stem, avg-down shortcut
    "resnet50d": 25_576_264,
    # ResNet paper, CIFAR section: 0.27M, 0.46M, 0.66M, 0.85M, 1.7M (exact values of option A)
    "cifar_resnet20": 269_722,
    "cifar_resnet32": 464_154,
    "cifar_resnet44": 658_586,
    "cifar_resnet56": 853_018,
    "cifar_resnet110": 1_727_962,
}


def _count(name):
    model = create_model(name)
    size = 32 if "cifar" in name else 224
    shapes = jax.eval_shape(lambda: model.init(jax.random.key(0), jnp.zeros((1, size, size, 3)), train=False))
    return count_params(shapes)


@pytest.mark.parametrize("name", sorted(PUBLISHED))
def test_published_parameter_count(name):
    assert _count(name) == PUBLISHED[name]


@pytest.mark.parametrize("name, millions", [("preact_cifar_resnet110", 1.7), ("preact_cifar_resnet164", 1.7)])
def test_identity_mappings_paper_counts(name, millions):
    # The papers give these only to 0.1M (Identity Mappings Table 3; ResNet paper Table 6).
    assert round(_count(name) / 1e6, 1) == millions


def test_count_params_formula_on_a_known_tree():
    tree = {"a": jnp.zeros((3, 4)), "b": {"c": jnp.zeros((5,))}}
    assert count_params(tree) == 17
    assert count_params({"params": tree, "batch_stats": {"m": jnp.zeros((100,))}}) == 17
