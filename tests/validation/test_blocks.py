"""``jaxcnn.blocks``: inputs and field relations named at the boundary (construction / top of ``__call__``).

Decisions: shortcut 'C' on a basic block is valid (the ResNet paper's ResNet-34 C), and
``BottleneckBlock(groups=g)`` with any g is valid (the inner width is a multiple of g by construction).
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxcnn.blocks import (
    BasicBlock,
    BottleneckBlock,
    DepthwiseSeparableConv,
    InvertedResidual,
    PreActBasicBlock,
    PreActBottleneckBlock,
    ResNeXtBottleneck,
    ResNeXtBranches,
    SqueezeExcite,
    zero_pad_shortcut,
)

K = jax.random.key(0)
X = jnp.ones((1, 8, 8, 4))
X3 = jnp.ones((8, 8, 4))


def init(block, x=X, **kwargs):
    return block.init(K, x, **kwargs)


# Field values are generated from the declarations (test_declared.py); here: the inputs, and the
# relations between fields (and with the input) that no single declaration sees.
CASES = [
    ("zero_pad_shortcut stride 0", lambda: zero_pad_shortcut(X, 8, 0), ValueError, "stride"),
    ("zero_pad_shortcut stride 1.5", lambda: zero_pad_shortcut(X, 8, 1.5), TypeError, "stride"),
    ("zero_pad_shortcut out_features < C", lambda: zero_pad_shortcut(X, 2, 1), ValueError, "out_features"),
    ("zero_pad_shortcut out_features 8.5", lambda: zero_pad_shortcut(X, 8.5, 1), TypeError, "out_features"),
    ("zero_pad_shortcut x 3-D", lambda: zero_pad_shortcut(X3, 8, 2), ValueError, "x"),
    ("zero_pad_shortcut x list", lambda: zero_pad_shortcut([[1.0]], 8, 2), TypeError, "x"),
    ("dws train str", lambda: init(DepthwiseSeparableConv(16), train="no"), TypeError, "train"),
    ("dws x 3-D", lambda: init(DepthwiseSeparableConv(16), X3), ValueError, "x"),
    ("basic train str", lambda: init(BasicBlock(4), train="no"), TypeError, "train"),
    ("basic x 3-D", lambda: init(BasicBlock(4), X3), ValueError, "x"),
    ("basic x list", lambda: init(BasicBlock(4), [[1.0]]), TypeError, "x"),
    ("basic shortcut A narrows", lambda: init(BasicBlock(2, shortcut_type="A")), ValueError, "out_features"),
    ("bottleneck width 0", lambda: BottleneckBlock(4, base_width=8), ValueError, "features"),
    ("bottleneck se_reduction > channels", lambda: BottleneckBlock(4, se_reduction=32), ValueError, "se_reduction"),
    ("preact bottleneck width 0", lambda: PreActBottleneckBlock(4, base_width=8), ValueError, "features"),
    ("resnext width 0 (defaults)", lambda: ResNeXtBottleneck(4), ValueError, "features"),
    ("branches width 0", lambda: ResNeXtBranches(4, groups=3, base_width=4), ValueError, "features"),
    ("inverted train str", lambda: init(InvertedResidual(4), train="no"), TypeError, "train"),
    ("inverted x 3-D", lambda: init(InvertedResidual(4), X3), ValueError, "x"),
    ("se reduction > channels", lambda: init(SqueezeExcite(8)), ValueError, "reduction"),
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
