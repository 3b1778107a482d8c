"""``jaxcnn.blocks``: every field and argument named at the boundary (setup / top of ``__call__``).

Decisions: shortcut 'C' on a basic block is valid (the ResNet paper's ResNet-34 C), and
``BottleneckBlock(groups=g)`` with any g is valid (the inner width is a multiple of g by construction).
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxcnn.blocks import (
    BasicBlock, BottleneckBlock, DepthwiseSeparableConv, InvertedResidual, PreActBasicBlock, PreActBottleneckBlock,
    ResNeXtBottleneck, ResNeXtBranches, SqueezeExcite, zero_pad_shortcut,
)

K = jax.random.key(0)
X = jnp.ones((1, 8, 8, 4))
X3 = jnp.ones((8, 8, 4))
NAN, INF = float("nan"), float("inf")


def init(block, x=X, **kwargs):
    return block.init(K, x, **kwargs)


CASES = [
    ("zero_pad_shortcut stride 0", lambda: zero_pad_shortcut(X, 8, 0), ValueError, "stride"),
    ("zero_pad_shortcut stride 1.5", lambda: zero_pad_shortcut(X, 8, 1.5), TypeError, "stride"),
    ("zero_pad_shortcut out_features < C", lambda: zero_pad_shortcut(X, 2, 1), ValueError, "out_features"),
    ("zero_pad_shortcut out_features 8.5", lambda: zero_pad_shortcut(X, 8.5, 1), TypeError, "out_features"),
    ("zero_pad_shortcut out_features 0", lambda: zero_pad_shortcut(X, 0, 1), ValueError, "out_features"),
    ("zero_pad_shortcut x 3-D", lambda: zero_pad_shortcut(X3, 8, 2), ValueError, "x"),
    ("zero_pad_shortcut x list", lambda: zero_pad_shortcut([[1.0]], 8, 2), TypeError, "x"),
    # DepthwiseSeparableConv promises H and W kept (stride 1): odd kernels only
    ("dws features 0", lambda: init(DepthwiseSeparableConv(0)), ValueError, "features"),
    ("dws strides 0", lambda: init(DepthwiseSeparableConv(16, strides=0)), ValueError, "strides"),
    ("dws strides 1.5", lambda: init(DepthwiseSeparableConv(16, strides=1.5)), TypeError, "strides"),
    ("dws kernel_size 4", lambda: init(DepthwiseSeparableConv(16, kernel_size=4)), ValueError, "kernel_size"),
    ("dws kernel_size 0", lambda: init(DepthwiseSeparableConv(16, kernel_size=0)), ValueError, "kernel_size"),
    ("dws kernel_size 2.5", lambda: init(DepthwiseSeparableConv(16, kernel_size=2.5)), TypeError, "kernel_size"),
    ("dws act None", lambda: init(DepthwiseSeparableConv(16, act=None)), TypeError, "act"),
    ("dws norm str", lambda: init(DepthwiseSeparableConv(16, norm="bn")), TypeError, "norm"),
    ("dws conv str", lambda: init(DepthwiseSeparableConv(16, conv="gemm")), TypeError, "conv"),
    ("dws bn_axis_name int", lambda: init(DepthwiseSeparableConv(16, bn_axis_name=0)), TypeError, "bn_axis_name"),
    ("dws train str", lambda: init(DepthwiseSeparableConv(16), train="no"), TypeError, "train"),
    ("dws x 3-D", lambda: init(DepthwiseSeparableConv(16), X3), ValueError, "x"),
    # residual blocks: shared fields
    ("basic features 0", lambda: init(BasicBlock(0)), ValueError, "features"),
    ("basic features 2.5", lambda: init(BasicBlock(2.5)), TypeError, "features"),
    ("basic strides 0", lambda: init(BasicBlock(4, strides=0)), ValueError, "strides"),
    ("basic strides 1.5", lambda: init(BasicBlock(4, strides=1.5)), TypeError, "strides"),
    ("basic shortcut_type E", lambda: init(BasicBlock(4, shortcut_type="E")), ValueError, "shortcut_type"),
    ("basic shortcut_type None", lambda: init(BasicBlock(4, shortcut_type=None)), ValueError, "shortcut_type"),
    ("basic shortcut_type lower", lambda: init(BasicBlock(4, shortcut_type="b")), ValueError, "shortcut_type"),
    ("basic zero_init_last_bn str", lambda: init(BasicBlock(4, zero_init_last_bn="yes")), TypeError,
     "zero_init_last_bn"),
    ("basic drop_path_rate 1.5", lambda: init(BasicBlock(4, drop_path_rate=1.5)), ValueError, "drop_path_rate"),
    ("basic drop_path_rate nan", lambda: init(BasicBlock(4, drop_path_rate=NAN)), ValueError, "drop_path_rate"),
    ("basic drop_path_rate -0.1", lambda: init(BasicBlock(4, drop_path_rate=-0.1)), ValueError, "drop_path_rate"),
    ("basic drop_path_rate str", lambda: init(BasicBlock(4, drop_path_rate="0.1")), TypeError, "drop_path_rate"),
    ("basic drop_path_mode x", lambda: init(BasicBlock(4, drop_path_rate=0.1, drop_path_mode="x"), train=True),
     ValueError, "drop_path_mode"),
    ("basic drop_path_mode x at rate 0", lambda: init(BasicBlock(4, drop_path_mode="x")), ValueError,
     "drop_path_mode"),
    ("basic drop_path_test_rule x", lambda: init(BasicBlock(4, drop_path_rate=0.1, drop_path_test_rule="x")),
     ValueError, "drop_path_test_rule"),
    ("basic conv str", lambda: init(BasicBlock(4, conv="x")), TypeError, "conv"),
    ("basic norm None", lambda: init(BasicBlock(4, norm=None)), TypeError, "norm"),
    ("basic act str", lambda: init(BasicBlock(4, act="relu")), TypeError, "act"),
    ("basic bn_axis_name int", lambda: init(BasicBlock(4, bn_axis_name=5)), TypeError, "bn_axis_name"),
    ("basic train str", lambda: init(BasicBlock(4), train="no"), TypeError, "train"),
    ("basic x 3-D", lambda: init(BasicBlock(4), X3), ValueError, "x"),
    ("basic shortcut A narrows", lambda: init(BasicBlock(2, shortcut_type="A")), ValueError, "out_features"),
    # bottlenecks
    ("bottleneck groups 0", lambda: init(BottleneckBlock(4, groups=0)), ValueError, "groups"),
    ("bottleneck groups 1.5", lambda: init(BottleneckBlock(4, groups=1.5)), TypeError, "groups"),
    ("bottleneck base_width 0", lambda: init(BottleneckBlock(4, base_width=0)), ValueError, "base_width"),
    ("bottleneck base_width 2.5", lambda: init(BottleneckBlock(4, base_width=2.5)), TypeError, "base_width"),
    ("bottleneck width 0", lambda: init(BottleneckBlock(4, base_width=8)), ValueError, "base_width"),
    ("bottleneck stride_on_3x3 str", lambda: init(BottleneckBlock(4, stride_on_3x3="no")), TypeError,
     "stride_on_3x3"),
    ("bottleneck se_reduction 0", lambda: init(BottleneckBlock(4, se_reduction=0)), ValueError, "se_reduction"),
    ("bottleneck se_reduction 2.5", lambda: init(BottleneckBlock(4, se_reduction=2.5)), TypeError, "se_reduction"),
    ("bottleneck se_reduction > channels", lambda: init(BottleneckBlock(4, se_reduction=32)), ValueError,
     "se_reduction"),
    ("preact basic zero_init_last_bn", lambda: init(PreActBasicBlock(4, zero_init_last_bn=True)), ValueError,
     "zero_init_last_bn"),
    ("preact bottleneck zero_init_last_bn", lambda: init(PreActBottleneckBlock(4, zero_init_last_bn=True)),
     ValueError, "zero_init_last_bn"),
    ("preact bottleneck groups 0", lambda: init(PreActBottleneckBlock(4, groups=0)), ValueError, "groups"),
    ("preact bottleneck width 0", lambda: init(PreActBottleneckBlock(4, base_width=8)), ValueError, "base_width"),
    ("resnext groups 0", lambda: init(ResNeXtBottleneck(4, groups=0)), ValueError, "groups"),
    ("resnext width 0 (defaults)", lambda: init(ResNeXtBottleneck(4)), ValueError, "base_width"),
    ("branches groups 0", lambda: init(ResNeXtBranches(4, groups=0)), ValueError, "groups"),
    ("branches groups 2.5", lambda: init(ResNeXtBranches(4, groups=2.5)), TypeError, "groups"),
    ("branches width 0", lambda: init(ResNeXtBranches(4, groups=3, base_width=4)), ValueError, "base_width"),
    ("branches stride_on_3x3 str", lambda: init(ResNeXtBranches(64, groups=2, stride_on_3x3="no")), TypeError,
     "stride_on_3x3"),
    # inverted residual
    ("inverted features 0", lambda: init(InvertedResidual(0)), ValueError, "features"),
    ("inverted expand_ratio 0", lambda: init(InvertedResidual(4, expand_ratio=0)), ValueError, "expand_ratio"),
    ("inverted expand_ratio nan", lambda: init(InvertedResidual(4, expand_ratio=NAN)), ValueError, "expand_ratio"),
    ("inverted expand_ratio inf", lambda: init(InvertedResidual(4, expand_ratio=INF)), ValueError, "expand_ratio"),
    ("inverted expand_ratio str", lambda: init(InvertedResidual(4, expand_ratio="6")), TypeError, "expand_ratio"),
    ("inverted strides 3", lambda: init(InvertedResidual(4, strides=3)), ValueError, "strides"),
    ("inverted strides 0", lambda: init(InvertedResidual(4, strides=0)), ValueError, "strides"),
    ("inverted strides 1.5", lambda: init(InvertedResidual(4, strides=1.5)), TypeError, "strides"),
    ("inverted drop_path_rate 1.5", lambda: init(InvertedResidual(4, drop_path_rate=1.5)), ValueError,
     "drop_path_rate"),
    ("inverted drop_path_mode x", lambda: init(InvertedResidual(4, drop_path_rate=0.1, drop_path_mode="x"),
                                               train=True), ValueError, "drop_path_mode"),
    ("inverted drop_path_test_rule x", lambda: init(InvertedResidual(4, drop_path_rate=0.1, drop_path_test_rule="x"),
                                                    train=True), ValueError, "drop_path_test_rule"),
    ("inverted act None", lambda: init(InvertedResidual(4, act=None)), TypeError, "act"),
    ("inverted train str", lambda: init(InvertedResidual(4), train="no"), TypeError, "train"),
    ("inverted x 3-D", lambda: init(InvertedResidual(4), X3), ValueError, "x"),
    # squeeze-excite
    ("se reduction 0", lambda: init(SqueezeExcite(0)), ValueError, "reduction"),
    ("se reduction 2.5", lambda: init(SqueezeExcite(2.5)), TypeError, "reduction"),
    ("se reduction > channels", lambda: init(SqueezeExcite(8)), ValueError, "reduction"),
    ("se act int", lambda: init(SqueezeExcite(2, act=5)), TypeError, "act"),
    ("se x 3-D", lambda: init(SqueezeExcite(2), X3), ValueError, "x"),
]


@pytest.mark.parametrize("name,call,exc,argument", CASES, ids=[c[0] for c in CASES])
def test_bad_input(bad_input, name, call, exc, argument):
    bad_input(call, exc, argument)


def _shapes(block, x=X):
    return jax.eval_shape(lambda: block.init(K, x))["params"]


def test_shortcut_c_on_a_basic_block_is_valid():
    """Option C (projection on every block) is the paper's ResNet-34 C: basic blocks."""
    p = _shapes(BasicBlock(4, shortcut_type="C"))
    assert p["conv_proj"]["kernel"].shape == (1, 1, 4, 4)


def test_groups_that_do_not_divide_features_are_valid_on_a_bottleneck():
    """The inner width is int(features * base_width / 64) * groups, a multiple of groups."""
    p = _shapes(BottleneckBlock(4, groups=3))
    assert p["conv2"]["kernel"].shape == (3, 3, 4, 12)


def test_valid_numpy_scalars_and_float_expand_ratio_are_accepted():
    p = _shapes(InvertedResidual(np.int64(4), strides=np.int64(1), expand_ratio=2.5))
    assert p["expand_conv"]["kernel"].shape == (1, 1, 4, 10)
    y = jax.eval_shape(lambda: DepthwiseSeparableConv(8, kernel_size=5).init_with_output(K, X, train=np.bool_(True))[0])
    assert y.shape == (1, 8, 8, 8)


def test_preact_blocks_still_build_without_the_flag():
    for cls, cin in ((PreActBasicBlock, 4), (PreActBottleneckBlock, 16)):
        x = jnp.ones((1, 4, 4, cin))
        assert jax.eval_shape(lambda: cls(4, zero_init_last_bn=False).init_with_output(K, x)[0]).shape == x.shape
