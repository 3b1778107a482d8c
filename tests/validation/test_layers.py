"""``jaxcnn.layers``: bad arguments named at the boundary; torch is the oracle for the pools.

Decisions: ``torch_padding`` / ``conv_args`` / ``conv`` compute 'same' padding and so refuse an even
kernel; the :class:`Conv` class takes the caller's padding and accepts one (torch parity).
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from jaxcnn.layers import (
    BatchNorm,
    Conv,
    avg_pool_ceil_exclude_pad,
    batch_norm,
    conv,
    conv_args,
    global_avg_pool,
    make_divisible,
    make_norm,
    max_pool_torch,
    torch_padding,
)

K = jax.random.key(0)
X = jnp.ones((1, 8, 8, 4))
X3 = jnp.ones((8, 8, 4))
X2 = jnp.ones((8, 4))
EMPTY = jnp.ones((1, 0, 8, 4))
NAN, INF = float("nan"), float("inf")


def init(module, x=X):
    return module.init(K, x)


CASES = [
    # conv(): the square 'same'-padded conv, checked by its own argument names at construction
    ("conv features 0", lambda: conv(0), ValueError, "features"),
    ("conv features 2.5", lambda: conv(2.5), TypeError, "features"),
    ("conv features True", lambda: conv(True), TypeError, "features"),
    ("conv kernel_size 0", lambda: conv(4, kernel_size=0), ValueError, "kernel_size"),
    ("conv kernel_size 2.5", lambda: conv(4, kernel_size=2.5), TypeError, "kernel_size"),
    ("conv kernel_size 4 (even)", lambda: conv(4, kernel_size=4), ValueError, "kernel_size"),
    ("conv kernel_size tuple", lambda: conv(4, kernel_size=(3, 3)), TypeError, "kernel_size"),
    ("conv stride 0", lambda: conv(4, stride=0), ValueError, "stride"),
    ("conv stride 1.5", lambda: conv(4, stride=1.5), TypeError, "stride"),
    ("conv stride tuple", lambda: conv(4, stride=(2, 2)), TypeError, "stride"),
    ("conv groups 0", lambda: conv(4, groups=0), ValueError, "groups"),
    ("conv groups 1.5", lambda: conv(4, groups=1.5), TypeError, "groups"),
    ("conv groups 3 on 4 channels", lambda: init(conv(6, groups=3)), ValueError, "groups"),
    ("conv dilation 0", lambda: conv(4, dilation=0), ValueError, "dilation"),
    ("conv dilation 1.5", lambda: conv(4, dilation=1.5), TypeError, "dilation"),
    ("conv use_bias str", lambda: conv(4, use_bias="no"), TypeError, "use_bias"),
    ("conv module int", lambda: conv(4, module=5), TypeError, "module"),
    ("conv kernel_init str", lambda: conv(4, kernel_init="kaiming"), TypeError, "kernel_init"),
    ("conv name int", lambda: conv(4, name=5), TypeError, "name"),
    # Conv: fields are declared (test_declared.py); the input's channels against groups on call
    (
        "Conv feature_group_count 3 on 4",
        lambda: init(Conv(6, (3, 3), feature_group_count=3)),
        ValueError,
        "feature_group_count",
    ),
    ("Conv inputs list", lambda: Conv(4, (3, 3)).init(K, [[1.0]]), TypeError, "inputs"),
    # conv_args / torch_padding: 'same' padding exists only for odd kernels
    ("conv_args kernel_size 2", lambda: conv_args(2), ValueError, "kernel_size"),
    ("conv_args stride 0", lambda: conv_args(3, 0), ValueError, "stride"),
    ("conv_args groups 0", lambda: conv_args(3, 1, 0), ValueError, "groups"),
    ("conv_args dilation 0", lambda: conv_args(3, 1, 1, 0), ValueError, "dilation"),
    ("torch_padding kernel_size 4", lambda: torch_padding(4), ValueError, "kernel_size"),
    ("torch_padding kernel_size 0", lambda: torch_padding(0), ValueError, "kernel_size"),
    ("torch_padding kernel_size 2.5", lambda: torch_padding(2.5), TypeError, "kernel_size"),
    ("torch_padding kernel_size 3.0", lambda: torch_padding(3.0), TypeError, "kernel_size"),
    ("torch_padding dilation 0", lambda: torch_padding(3, 0), ValueError, "dilation"),
    ("torch_padding dilation 1.5", lambda: torch_padding(3, 1.5), TypeError, "dilation"),
    # norms
    ("make_norm norm int", lambda: make_norm(5), TypeError, "norm"),
    ("make_norm zero_init str", lambda: make_norm(BatchNorm, zero_init="yes"), TypeError, "zero_init"),
    ("batch_norm train str", lambda: batch_norm("no"), TypeError, "train"),
    ("batch_norm zero_init int", lambda: batch_norm(True, zero_init=1), TypeError, "zero_init"),
    # make_divisible
    ("make_divisible value -1", lambda: make_divisible(-1), ValueError, "value"),
    ("make_divisible value nan", lambda: make_divisible(NAN), ValueError, "value"),
    ("make_divisible value inf", lambda: make_divisible(INF), ValueError, "value"),
    ("make_divisible value str", lambda: make_divisible("8"), TypeError, "value"),
    ("make_divisible divisor 0", lambda: make_divisible(10, 0), ValueError, "divisor"),
    ("make_divisible divisor 2.5", lambda: make_divisible(10, 2.5), TypeError, "divisor"),
    ("make_divisible min_value 0", lambda: make_divisible(10, 8, 0), ValueError, "min_value"),
    ("make_divisible min_value 2.5", lambda: make_divisible(10, 8, 2.5), TypeError, "min_value"),
    # pools
    ("max_pool window 0", lambda: max_pool_torch(X, 0), ValueError, "window"),
    ("max_pool window 2.5", lambda: max_pool_torch(X, 2.5), TypeError, "window"),
    ("max_pool window > padded input", lambda: max_pool_torch(X, 11, 1, 1), ValueError, "window"),
    ("max_pool stride 0", lambda: max_pool_torch(X, 3, 0), ValueError, "stride"),
    ("max_pool stride 1.5", lambda: max_pool_torch(X, 3, 1.5), TypeError, "stride"),
    ("max_pool padding > window/2", lambda: max_pool_torch(X, 3, 2, 2), ValueError, "padding"),
    ("max_pool padding -1", lambda: max_pool_torch(X, 3, 2, -1), ValueError, "padding"),
    ("max_pool padding 0.5", lambda: max_pool_torch(X, 3, 2, 0.5), TypeError, "padding"),
    ("max_pool x 3-D", lambda: max_pool_torch(X3), ValueError, "x"),
    ("max_pool x list", lambda: max_pool_torch([[1.0]]), TypeError, "x"),
    ("max_pool x empty", lambda: max_pool_torch(EMPTY), ValueError, "x"),
    ("avg_pool window 0", lambda: avg_pool_ceil_exclude_pad(X, 0), ValueError, "window"),
    ("avg_pool window 2.5", lambda: avg_pool_ceil_exclude_pad(X, 2.5), TypeError, "window"),
    ("avg_pool window > input", lambda: avg_pool_ceil_exclude_pad(X, 10, 1), ValueError, "window"),
    ("avg_pool stride 0", lambda: avg_pool_ceil_exclude_pad(X, 2, 0), ValueError, "stride"),
    ("avg_pool stride True", lambda: avg_pool_ceil_exclude_pad(X, 2, True), TypeError, "stride"),
    ("avg_pool x 3-D", lambda: avg_pool_ceil_exclude_pad(X3), ValueError, "x"),
    ("avg_pool x empty", lambda: avg_pool_ceil_exclude_pad(EMPTY), ValueError, "x"),
    ("global_avg_pool x 3-D", lambda: global_avg_pool(X3), ValueError, "x"),
    ("global_avg_pool x 2-D", lambda: global_avg_pool(X2), ValueError, "x"),
    ("global_avg_pool x empty (NaN mean)", lambda: global_avg_pool(EMPTY), ValueError, "x"),
    ("global_avg_pool x list", lambda: global_avg_pool([[1.0]]), TypeError, "x"),
]


@pytest.mark.parametrize("name,call,exc,argument", CASES, ids=[c[0] for c in CASES])
def test_bad_input(bad_input, name, call, exc, argument):
    bad_input(call, exc, argument)


def test_even_kernel_is_valid_on_the_conv_class_with_explicit_padding():
    """Decision: only the 'same'-padding helpers refuse even kernels. ``Conv`` takes the caller's
    padding, and an even kernel there gives torch's size: Conv2d(k=4, padding=1) maps 8 -> 7."""
    y = jax.eval_shape(lambda: Conv(4, (4, 4), padding=((1, 1), (1, 1))).init_with_output(K, X)[0])
    assert y.shape == (1, 7, 7, 4)


def test_valid_edges_are_accepted():
    assert make_divisible(0) == 8  # torchvision's _make_divisible(0, 8) is 8 too
    assert make_divisible(np.float32(37.5), np.int64(8)) == 40
    assert torch_padding(np.int64(5), np.int64(2)) == ((4, 4), (4, 4))
    assert conv_args(1)["padding"] == ((0, 0), (0, 0))
    assert max_pool_torch(X, 2, 2, 1).shape == (1, 5, 5, 4)  # padding == window / 2 is allowed (torch too)
    assert avg_pool_ceil_exclude_pad(jnp.ones((1, 4, 4, 1), jnp.int32)).dtype == jnp.float32  # a mean, not truncated
    assert BatchNorm(momentum=0.0).momentum == 0.0 and BatchNorm(momentum=1).momentum == 1


def test_avg_pool_drops_a_window_that_starts_past_the_input():
    """stride > window used to leave a last window over padding only: 0 / 0 = NaN (torch drops it)."""
    y = avg_pool_ceil_exclude_pad(jnp.arange(4.0).reshape(1, 4, 1, 1), 1, 4)
    assert y.shape == (1, 1, 1, 1) and float(y[0, 0, 0, 0]) == 0.0


torch = pytest.importorskip("torch", reason="PyTorch is the pool oracle")
F = torch.nn.functional


def _outcome(fn):
    try:
        return "ok", fn()
    except (ValueError, TypeError, RuntimeError) as e:
        return "error", e


def _compare(ours, theirs, what):
    assert ours[0] == theirs[0], f"{what}: jaxcnn {ours[0]} ({ours[1]}) but torch {theirs[0]} ({theirs[1]})"
    if ours[0] == "ok":
        np.testing.assert_allclose(
            np.asarray(ours[1]), theirs[1].permute(0, 2, 3, 1).numpy(), rtol=1e-6, err_msg=str(what)
        )


_hw = st.sampled_from([(1, 1), (1, 3), (4, 5), (7, 6)])


@pytest.mark.torch
@settings(max_examples=60, deadline=None)
@given(window=st.integers(0, 5), stride=st.integers(0, 4), padding=st.integers(-1, 3), hw=_hw)
def test_max_pool_torch_refuses_and_computes_what_torch_does(window, stride, padding, hw):
    x = np.random.default_rng(0).normal(size=(1, *hw, 2)).astype(np.float32)
    ours = _outcome(lambda: max_pool_torch(jnp.asarray(x), window, stride, padding))
    theirs = _outcome(lambda: F.max_pool2d(torch.from_numpy(x).permute(0, 3, 1, 2), window, stride, padding))
    _compare(ours, theirs, (window, stride, padding, hw))


@pytest.mark.torch
@settings(max_examples=60, deadline=None)
@given(window=st.integers(0, 5), stride=st.integers(0, 5), hw=_hw)
def test_avg_pool_ceil_exclude_pad_refuses_and_computes_what_torch_does(window, stride, hw):
    x = np.random.default_rng(1).normal(size=(1, *hw, 2)).astype(np.float32)
    ours = _outcome(lambda: avg_pool_ceil_exclude_pad(jnp.asarray(x), window, stride))
    theirs = _outcome(
        lambda: F.avg_pool2d(
            torch.from_numpy(x).permute(0, 3, 1, 2), window, stride, ceil_mode=True, count_include_pad=False
        )
    )
    _compare(ours, theirs, (window, stride, hw))


@pytest.mark.torch
@settings(deadline=None)
@given(value=st.floats(0, 4096), divisor=st.integers(1, 64), min_value=st.one_of(st.none(), st.integers(1, 64)))
def test_make_divisible_matches_torchvision(value, divisor, min_value):
    from torchvision.models._utils import _make_divisible

    assert make_divisible(value, divisor, min_value) == _make_divisible(value, divisor, min_value)
