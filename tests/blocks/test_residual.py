"""Residual blocks: shortcut semantics against hand-written numpy oracles, stride placement,
and the order of operations checked structurally by intercepting submodule calls."""

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxcnn.blocks import BasicBlock, BottleneckBlock, PreActBasicBlock, PreActBottleneckBlock
from jaxcnn.layers import avg_pool_ceil_exclude_pad

KEY = jax.random.key(0)


def _x(shape, seed=1):
    return jax.random.normal(jax.random.key(seed), shape)


def _init_apply(block, x, **kw):
    v = block.init(KEY, x)
    return v, block.apply(v, x, **kw)


# -- shortcuts ---------------------------------------------------------------------------------


def test_shortcut_a_is_subsample_and_zero_pad():
    x = _x((2, 8, 8, 4))
    block = BasicBlock(8, strides=2, shortcut_type="A")
    v = block.init(KEY, x)
    got = block.apply(v, x, False, method=lambda m, x, t: m.shortcut(x, t))
    xn = np.asarray(x)
    want = np.zeros((2, 4, 4, 8), np.float32)
    want[..., 2:6] = xn[:, ::2, ::2, :]  # 2 zero channels before, 2 after
    np.testing.assert_array_equal(np.asarray(got), want)
    assert "conv_proj" not in v["params"]  # parameter-free


def test_shortcut_b_identity_when_shape_kept_projection_when_changed():
    x = _x((1, 8, 8, 16))
    same = BasicBlock(16, strides=1, shortcut_type="B").init(KEY, x)
    assert "conv_proj" not in same["params"]
    v = BasicBlock(32, strides=2, shortcut_type="B").init(KEY, x)
    assert v["params"]["conv_proj"]["kernel"].shape == (1, 1, 16, 32)
    assert "norm_proj" in v["params"]


def test_shortcut_c_always_projects():
    x = _x((1, 8, 8, 16))
    v = BasicBlock(16, strides=1, shortcut_type="C").init(KEY, x)
    assert v["params"]["conv_proj"]["kernel"].shape == (1, 1, 16, 16)


def test_avg_pool_ceil_exclude_pad_by_hand():
    # 3x3 input, 2x2 window, stride 2, ceil mode: windows cover {0,1}x{0,1}, {0,1}x{2}, ...
    x = jnp.arange(9.0).reshape(1, 3, 3, 1)
    got = np.asarray(avg_pool_ceil_exclude_pad(x, 2, 2))[0, :, :, 0]
    want = np.array([[(0 + 1 + 3 + 4) / 4, (2 + 5) / 2], [(6 + 7) / 2, 8.0]])
    np.testing.assert_allclose(got, want)


def test_shortcut_d_matches_torch_avgpool_then_1x1():
    torch = pytest.importorskip("torch", reason="PyTorch is the parity oracle; install the [torch] extra")
    x = _x((2, 7, 9, 8))
    block = BasicBlock(16, strides=2, shortcut_type="D")
    v = block.init(KEY, x)
    got = block.apply(v, x, False, method=lambda m, x, t: m.shortcut(x, t))
    pool = torch.nn.AvgPool2d(2, 2, ceil_mode=True, count_include_pad=False)
    pooled = pool(torch.from_numpy(np.asarray(x).transpose(0, 3, 1, 2))).numpy().transpose(0, 2, 3, 1)
    k = np.asarray(v["params"]["conv_proj"]["kernel"])[0, 0]
    bn, st = v["params"]["norm_proj"], v["batch_stats"]["norm_proj"]
    want = (pooled @ k - st["mean"]) / np.sqrt(st["var"] + 1e-5) * bn["scale"] + bn["bias"]
    assert got.shape == (2, 4, 5, 16)
    np.testing.assert_allclose(np.asarray(got), want, atol=1e-5)


# -- stride placement ------------------------------------------------------------------------


@pytest.mark.parametrize("on_3x3, conv1_hw, conv2_hw", [(True, 8, 4), (False, 4, 4)])
def test_bottleneck_stride_placement(on_3x3, conv1_hw, conv2_hw):
    x = _x((1, 8, 8, 16))
    block = BottleneckBlock(8, strides=2, stride_on_3x3=on_3x3)
    v = block.init(KEY, x)
    _, state = block.apply(v, x, capture_intermediates=True, mutable=["intermediates"])
    inter = state["intermediates"]
    assert inter["conv1"]["__call__"][0].shape[1] == conv1_hw
    assert inter["conv2"]["__call__"][0].shape[1] == conv2_hw
    assert inter["__call__"][0].shape == (1, 4, 4, 32)


# -- order of operations, checked by intercepting calls ----------------------------------------


def _trace_children(block, v, x):
    """Run ``block`` and record (child name, class, input, output) for its direct children."""
    calls = []

    def interceptor(next_fun, args, kwargs, context):
        out = next_fun(*args, **kwargs)
        mod = context.module
        if context.method_name == "__call__" and mod.parent is not None and mod.parent.name is None:
            calls.append((mod.name, type(mod).__name__, args[0], out))
        return out

    with nn.intercept_methods(interceptor):
        y = block.apply(v, x)
    return calls, y


@pytest.mark.parametrize("cls", [PreActBasicBlock, PreActBottleneckBlock])
def test_preactivation_order(cls):
    x = _x((2, 6, 6, 16 * cls.expansion))
    block = cls(16)
    v = block.init(KEY, x)
    calls, y = _trace_children(block, v, x)
    name, kind, first_in, first_out = calls[0]
    assert kind == "BatchNorm" and name == "bn1"  # BN is the first op applied to the block input
    np.testing.assert_array_equal(np.asarray(first_in), np.asarray(x))
    # The next op is a conv on ReLU(BN(x)).
    assert calls[1][1].endswith("Conv")
    np.testing.assert_array_equal(np.asarray(calls[1][2]), np.maximum(np.asarray(first_out), 0))
    # Nothing after the add: output is exactly last conv + identity input (can be negative).
    last_conv_out = [c for c in calls if c[1].endswith("Conv")][-1][3]
    np.testing.assert_array_equal(np.asarray(y), np.asarray(last_conv_out + x))
    assert (np.asarray(y) < 0).any()


@pytest.mark.parametrize("cls", [BasicBlock, BottleneckBlock])
def test_postactivation_order(cls):
    x = _x((2, 6, 6, 16 * cls.expansion))
    block = cls(16)
    v = block.init(KEY, x)
    calls, y = _trace_children(block, v, x)
    assert calls[0][1].endswith("Conv") and calls[0][0] == "conv1"
    np.testing.assert_array_equal(np.asarray(calls[0][2]), np.asarray(x))
    last_bn_out = [c for c in calls if c[1] == "BatchNorm"][-1][3]
    np.testing.assert_array_equal(np.asarray(y), np.maximum(np.asarray(last_bn_out + x), 0))


def test_preact_projection_takes_preactivated_input():
    x = _x((2, 8, 8, 16))
    block = PreActBasicBlock(32, strides=2)
    v = block.init(KEY, x)
    calls, _ = _trace_children(block, v, x)
    proj = [c for c in calls if c[0] == "conv_proj"]
    bn1_out = [c for c in calls if c[0] == "bn1"][0][3]
    np.testing.assert_array_equal(np.asarray(proj[0][2]), np.maximum(np.asarray(bn1_out), 0))
    assert "norm_proj" not in v["params"]


def test_zero_init_last_bn_makes_block_identity_then_relu():
    x = _x((2, 6, 6, 64))
    block = BottleneckBlock(16, zero_init_last_bn=True)
    v = block.init(KEY, x)
    np.testing.assert_array_equal(np.asarray(block.apply(v, x)), np.maximum(np.asarray(x), 0))
