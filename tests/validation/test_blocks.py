"""``jaxcnn.blocks``: inputs and field relations named at the boundary (construction / top of ``__call__``).

Decisions: shortcut 'C' on a basic block is valid (the ResNet paper's ResNet-34 C), and
``BottleneckBlock(groups=g)`` with any g is valid (the inner width is a multiple of g by construction).
"""

import jax
import jax.numpy as jnp
import numpy as np

from jaxcnn.blocks import (
    BasicBlock,
    BottleneckBlock,
    DepthwiseSeparableConv,
    InvertedResidual,
    PreActBasicBlock,
    PreActBottleneckBlock,
)

K = jax.random.key(0)
X = jnp.ones((1, 8, 8, 4))


# Field values are generated from the declarations (test_declared.py); here: the inputs, and the
# relations between fields (and with the input) that no single declaration sees.


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
