"""``jaxcnn.models`` (registry, ResNet, MobileNetV2, ESPCN, layout converters) and ``jaxcnn.nnx``:
bad fields are named at construction, bad inputs at the call, before anything is compiled."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx
from flax.core import FrozenDict
from hypothesis import given, settings
from hypothesis import strategies as st

from jaxcnn import nnx as jnnx
from jaxcnn.models import (
    ESPCN,
    MobileNetV2,
    ResNet,
    create_model,
    default_input_shape,
    scan_to_unrolled,
    unrolled_to_scan,
)

K = jax.random.key(0)
C = jnp.ones((1, 32, 32, 3))
L = jnp.ones((1, 8, 8, 1))
TINY = dict(stage_sizes=(1, 1), widths=(8, 16), stem="cifar", num_classes=10)


def init(model, x, **kw):
    """Trace (never compile) ``model.init``; returns the variables' shapes."""
    return jax.eval_shape(lambda: model.init({"params": K, "dropout": K}, x, **kw))


def R(**kw):
    return init(ResNet(**dict(TINY, **kw)), C)


def M(**kw):
    return init(MobileNetV2(10, **kw), C)


def E(**kw):
    return init(ESPCN(**kw), L)


# Field values are generated from the declarations (test_declared.py); here: the registry, the inputs,
# the block options create_model moves into block_args, the layout converters and nnx.


def test_in_channels_message_names_both_x_and_the_field(bad_input):
    message = bad_input(lambda: R(in_channels=1), ValueError, "x")
    assert "in_channels=1" in message


def test_nnx_load_variables_refuses_other_leaf_shapes(bad_input):
    model = jnnx.create_model("espcn", rngs=nnx.Rngs(0), input_shape=(1, 8, 8, 1))
    v = jax.tree_util.tree_map(np.asarray, jnnx.linen_variables(model))
    v["params"]["conv3"]["bias"] = np.zeros(18, np.float32)  # a x3 RGB head's bias, model is x3 luminance
    message = bad_input(lambda: jnnx.load_variables(model, v), ValueError, "variables")
    assert "conv3" in message and "(18,)" in message and "(9,)" in message
    with pytest.raises(TypeError, match="variables"):
        jnnx.load_variables(model, 5)


# ---- valid by decision


def test_shortcut_c_is_valid_a_projection_on_every_block():
    """Option C of the ResNet paper (1x1 conv + BN on every shortcut) is documented and accepted."""
    params = R(block_args=dict(shortcut_type="C"))["params"]
    assert all("conv_proj" in params[f"layer{s}_0"] for s in (1, 2))


def test_default_drop_block_stages_are_unused_and_accepted_at_rate_zero():
    create_model("cifar_resnet20")  # 3 stages, default stages (3, 4): DropBlock off, nothing to check
    init(create_model("cifar_resnet20", drop_block_rate=0.1, drop_block_stages=(3,)), C)
    R(drop_block_rate=0.1, drop_block_stages=())  # none listed: explicitly no DropBlock


def test_zero_init_last_bn_still_zeroes_post_activation_blocks():
    params = ResNet(**TINY, block_args=dict(zero_init_last_bn=True)).init(K, jnp.ones((1, 8, 8, 3)))["params"]
    assert not np.any(params["layer1_0"]["bn2"]["scale"]) and np.all(params["layer1_0"]["bn1"]["scale"] == 1)


def test_numpy_integers_tuples_lists_and_numpy_bools_are_accepted():
    R(stage_sizes=[np.int64(1), 1], widths=[8, np.int32(16)], num_classes=np.int64(10), scan_stages=np.bool_(False))
    init(ResNet(**TINY), C, train=np.bool_(True))
    R(block_args=dict(bn_axis_name=("data", "model")))
    shape = default_input_shape("resnet18", np.int64(2))
    assert shape == (2, 224, 224, 3) and type(shape[0]) is int
    M(settings=[(1, 16, 1, 1), [6.5, 24, 2, 2]])  # a float expand ratio, as torchvision allows
    R(dtype=jnp.bfloat16), M(dtype="float16"), E(dtype=np.float32)
    R(block_args={"shortcut_type": "B"}), R(block_args=FrozenDict(shortcut_type="B"))


@pytest.mark.parametrize("kernel_sizes,scale", [((5, 3, 3), 3), ((3, 3, 5), 2), ((1, 1, 1), 4), ((7, 5, 3), 3)])
def test_espcn_odd_kernels_keep_the_promised_size(kernel_sizes, scale):
    out = jax.eval_shape(lambda: ESPCN(scale, kernel_sizes=kernel_sizes).init_with_output(K, L)[0])
    assert out.shape == (1, 8 * scale, 8 * scale, 1)


def _unrolled(sizes):
    tree = {
        f"layer{s + 1}_{j}": {"w": np.full((2,), 10 * s + j, np.float32)} for s, n in enumerate(sizes) for j in range(n)
    }
    return {"params": dict(tree, fc={"kernel": np.ones((2, 3))}), "batch_stats": {k: v for k, v in tree.items()}}


SIZES = st.lists(st.integers(1, 4), min_size=1, max_size=4).map(tuple)


@settings(max_examples=60, deadline=None)
@given(SIZES, SIZES)
def test_layout_converters_round_trip_and_refuse_other_stage_sizes(sizes, other):
    """Oracle: the round trip is the identity, and any stage_sizes but the tree's is refused."""
    flat = _unrolled(sizes)
    scanned = unrolled_to_scan(flat, sizes)
    back = scan_to_unrolled(scanned, sizes)
    assert jax.tree_util.tree_structure(back) == jax.tree_util.tree_structure(flat)
    for a, b in zip(jax.tree_util.tree_leaves(flat), jax.tree_util.tree_leaves(back)):
        np.testing.assert_array_equal(a, b)
    if other != sizes:
        for convert, tree in ((unrolled_to_scan, flat), (scan_to_unrolled, scanned)):
            with pytest.raises(ValueError, match="stage_sizes"):
                convert(tree, other)
