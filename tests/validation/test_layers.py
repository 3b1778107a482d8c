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
    conv_args,
    make_divisible,
    max_pool_torch,
    torch_padding,
)

K = jax.random.key(0)
X = jnp.ones((1, 8, 8, 4))


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
