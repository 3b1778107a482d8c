"""Whole blocks against a float64 NumPy reference, run in train mode with non-trivial BatchNorm.

A freshly initialised BatchNorm in eval mode is ``x / sqrt(1 + eps)``: a positive scale that
commutes with ReLU (and, below 6, with ReLU6), so order bugs pass any test that uses it. Here
every BatchNorm gets random scales of both signs, random biases and random running statistics,
and the blocks run in train mode (batch statistics, running-statistics update) as well as in
eval mode; the reference (``numpy_reference.py``) is written from the papers and shares no code
with jaxcnn. Zero-init of the last BN is checked for every block type that offers it.
"""

import sys
from pathlib import Path

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
)

sys.path.insert(0, str(Path(__file__).resolve().parent))
import numpy_reference as ref  # noqa: E402

TOL = dict(rtol=2e-4, atol=2e-4)


def randomise(variables, seed, scale=(-1.5, 1.5), bias=1.0):
    """Random BN scales (both signs, |s| >= 0.3), biases and running statistics; kernels kept."""
    rng = np.random.default_rng(seed)

    def leaf(path, a):
        name = path[-1].key
        if name == "scale":
            s = rng.uniform(*scale, a.shape)
            return jnp.asarray(np.where(np.abs(s) < 0.3, 0.3 * np.sign(s + 1e-9), s), a.dtype)
        if name == "bias" or name == "mean":
            return jnp.asarray(rng.normal(0, bias, a.shape), a.dtype)
        if name == "var":
            return jnp.asarray(rng.uniform(0.5, 2.0, a.shape), a.dtype)
        return a

    return jax.tree_util.tree_map_with_path(leaf, variables)


def run(block, x, seed=0, **randomise_kw):
    """Randomised variables, then (train output, updated batch_stats) and the eval output."""
    v = randomise(block.init(jax.random.key(seed), x), seed, **randomise_kw)

    @jax.jit
    def both(v, x):
        y, new = block.apply(v, x, train=True, mutable=["batch_stats"])
        return y, new["batch_stats"], block.apply(v, x, train=False)

    y_train, stats, y_eval = both(v, x)
    return v, {True: np.asarray(y_train), False: np.asarray(y_eval)}, stats


def check_stats(got, want):
    assert set(got) == set(want), (sorted(got), sorted(want))
    for name in want:
        for k in ("mean", "var"):
            np.testing.assert_allclose(np.asarray(got[name][k]), want[name][k], **TOL, err_msg=f"{name}/{k}")


def _x(shape, seed=1):
    return jax.random.normal(jax.random.key(seed), shape)


# (class, reference kind, features, in channels, strides, extra fields)
RESIDUAL_CASES = [
    (PreActBasicBlock, "preact_basic", 8, 8, 1, {}),
    (PreActBasicBlock, "preact_basic", 16, 8, 2, {}),  # projection of the pre-activated input
    (PreActBottleneckBlock, "preact_bottleneck", 4, 16, 1, {}),
    (PreActBottleneckBlock, "preact_bottleneck", 4, 8, 2, dict(groups=2, base_width=32)),
    (BasicBlock, "basic", 8, 8, 1, {}),
    (BasicBlock, "basic", 16, 8, 2, {}),
    (BottleneckBlock, "bottleneck", 4, 16, 1, {}),
    (BottleneckBlock, "bottleneck", 4, 8, 2, dict(stride_on_3x3=True, groups=2, base_width=32)),
    (BottleneckBlock, "bottleneck", 4, 8, 2, dict(stride_on_3x3=False)),
]


@pytest.mark.parametrize(
    "cls, kind, features, cin, strides, extra",
    RESIDUAL_CASES,
    ids=[f"{c[1]}-s{c[4]}-{'-'.join(f'{k}{v}' for k, v in c[5].items())}" for c in RESIDUAL_CASES],
)
def test_residual_block_matches_numpy_reference(cls, kind, features, cin, strides, extra):
    x = _x((4, 6, 6, cin))
    block = cls(features, strides=strides, **extra)
    v, y, stats = run(block, x)
    kw = {k: extra[k] for k in ("groups", "stride_on_3x3") if k in extra}
    for train in (True, False):
        want, want_stats = ref.residual_block(kind, v, x, strides=strides, train=train, **kw)
        assert y[train].shape == want.shape
        np.testing.assert_allclose(y[train], want, **TOL, err_msg=f"train={train}")
        if train:
            check_stats(stats, want_stats)
        # Pre-activation outputs are not clipped at zero; post-activation ones are.
        assert (want < 0).any() if kind.startswith("preact") else (want == 0).any()


def test_reference_tells_bn_relu_order_apart():
    """The oracle itself is sensitive to the bug it guards against (BN and ReLU swapped)."""
    x = np.asarray(_x((4, 6, 6, 8)))
    block = PreActBasicBlock(8)
    v = randomise(block.init(jax.random.key(0), x), 0)
    p, st = v["params"], v["batch_stats"]
    h = ref.conv(ref.relu(ref.batch_norm(x, p, st, True, {}, "bn1")), np.asarray(p["conv1"]["kernel"]))
    a = ref.relu(ref.batch_norm(h, p, st, True, {}, "bn2"))
    b = ref.batch_norm(ref.relu(h), p, st, True, {}, "bn2")
    assert np.abs(a - b).max() > 0.5


# ---- zero-init of the last BatchNorm: every block type that offers it ----------------------

ZERO_INIT = [
    ("basic", lambda **kw: BasicBlock(8, **kw), 8, "bn2"),
    ("bottleneck", lambda **kw: BottleneckBlock(4, **kw), 16, "bn3"),
    ("resnext_grouped", lambda **kw: ResNeXtBottleneck(8, groups=4, base_width=16, **kw), 32, "bn3"),
    ("resnext_branches", lambda **kw: ResNeXtBranches(8, groups=4, base_width=16, **kw), 32, "bn3"),
]


@pytest.mark.parametrize("name, make, cin, last_bn", ZERO_INIT, ids=[z[0] for z in ZERO_INIT])
def test_zero_init_last_bn_makes_every_block_relu_of_identity(name, make, cin, last_bn):
    x = _x((2, 5, 5, cin))
    relu_x = np.maximum(np.asarray(x), 0)
    block = make(zero_init_last_bn=True)
    v = block.init(jax.random.key(0), x)
    np.testing.assert_array_equal(np.asarray(v["params"][last_bn]["scale"]), 0.0)
    assert np.all(np.asarray(v["params"][last_bn]["bias"]) == 0)
    for train in (False, True):
        y = block.apply(v, x, train=train, mutable=["batch_stats"])[0] if train else block.apply(v, x)
        np.testing.assert_array_equal(np.asarray(y), relu_x)
    # Without the flag the same block is not the identity: the check above can fail.
    plain = make()
    y = plain.apply(plain.init(jax.random.key(0), x), x)
    assert np.abs(np.asarray(y) - relu_x).max() > 1e-2
    np.testing.assert_array_equal(np.asarray(plain.init(jax.random.key(0), x)["params"][last_bn]["scale"]), 1.0)


@pytest.mark.parametrize("cls, features, cin", [(PreActBasicBlock, 8, 8), (PreActBottleneckBlock, 4, 16)])
def test_zero_init_flag_on_preact_blocks_is_not_silently_ignored(cls, features, cin):
    """Either the flag is not offered, or refused with a message naming it, or it makes the branch
    zero at init (a pre-activation block then is exactly the identity: nothing follows the add)."""
    x = _x((2, 5, 5, cin))
    try:
        block = cls(features, zero_init_last_bn=True)
        v = block.init(jax.random.key(0), x)
    except TypeError:  # the field was removed from pre-activation blocks
        return
    except ValueError as e:
        assert "zero_init_last_bn" in str(e)
        return
    np.testing.assert_array_equal(np.asarray(block.apply(v, x)), np.asarray(x))


# ---- MobileNetV2 inverted residual: ReLU6 where the paper puts it, linear bottleneck ---------

# (in, out, stride, t, hidden by torchvision's int(round(in * t)))
INVERTED_CASES = [(8, 8, 1, 6, 48), (8, 12, 2, 6, 48), (8, 8, 1, 1, 8), (3, 5, 1, 2.5, 8), (6, 6, 1, 2.5, 15)]


@pytest.mark.parametrize("cin, cout, strides, t, hidden", INVERTED_CASES)
def test_inverted_residual_matches_numpy_reference(cin, cout, strides, t, hidden):
    x = 2.0 * _x((4, 6, 6, cin))
    block = InvertedResidual(cout, strides, t)
    # BN scales of 2-5 and biases around 2 push activations past 6 and below 0, so ReLU6 vs
    # ReLU and a (wrong) activation after the projection show.
    v, y, stats = run(block, x, scale=(2.0, 5.0), bias=2.0)
    p, st = v["params"], v["batch_stats"]
    assert ("expand_conv" in p) == (t != 1)
    assert p["dw_conv"]["kernel"].shape == (3, 3, 1, hidden)
    for train in (True, False):
        want, want_stats = ref.inverted_residual(v, x, strides=strides, train=train)
        np.testing.assert_allclose(y[train], want, **TOL, err_msg=f"train={train}")
        if train:
            check_stats(stats, want_stats)
        # The data exercise both clips of ReLU6 and the linear bottleneck's negative outputs.
        h = np.asarray(x, np.float64)
        if t != 1:
            h = ref.relu6(ref.batch_norm(ref.conv(h, p["expand_conv"]["kernel"]), p, st, train, {}, "expand_bn"))
            assert (h == 6).sum() >= 3
        h = ref.batch_norm(ref.conv(h, p["dw_conv"]["kernel"], strides, hidden), p, st, train, {}, "dw_bn")
        assert (h > 6).sum() >= 3 and (h < 0).sum() >= 3
        residual = strides == 1 and cin == cout
        assert ((want - np.asarray(x)) if residual else want).min() < -0.5


def test_depthwise_separable_matches_numpy_reference():
    x = _x((4, 6, 6, 8))
    block = DepthwiseSeparableConv(12, strides=2)
    v, y, stats = run(block, x)
    for train in (True, False):
        want, want_stats = ref.depthwise_separable(v, x, strides=2, train=train)
        np.testing.assert_allclose(y[train], want, **TOL, err_msg=f"train={train}")
        if train:
            check_stats(stats, want_stats)
