"""Where torch is the reference, it is also the oracle for the boundary: on random argument
combinations, valid and not, jaxcnn refuses exactly what torch refuses, and where both accept, the
output shapes agree. jaxcnn's side is traced with ``jax.eval_shape`` (nothing compiled); torch runs on
tiny tensors. The two deliberate differences, allowed explicitly below: jaxcnn refuses an empty output
(torch returns a tensor with a zero-sized axis) and a zero dilation or r (torch lets them through
where they cannot matter).
"""

import jax
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from jaxcnn.upsample import (
    conv_transpose,
    interpolate,
    max_pool_with_indices,
    max_unpool,
    pixel_shuffle,
    pixel_unshuffle,
)

torch = pytest.importorskip("torch", reason="PyTorch is the boundary oracle; install the [torch] extra")
pytestmark = pytest.mark.torch
F = torch.nn.functional


def _outcome(fn):
    """('ok', shape) or ('error', exception): only ValueError / TypeError / RuntimeError count as refusals."""
    try:
        return "ok", tuple(fn())
    except (ValueError, TypeError, RuntimeError) as e:
        return "error", e


def _agree(ours, theirs, what):
    if ours[0] == "error" and theirs[0] == "ok" and 0 in theirs[1]:
        return  # torch returns an empty tensor; jaxcnn refuses an empty output (deliberately)
    assert ours[0] == theirs[0], f"{what}: jaxcnn {ours[0]} ({ours[1]}) but torch {theirs[0]} ({theirs[1]})"
    if ours[0] == "ok":
        assert ours[1] == theirs[1], f"{what}: shape {ours[1]} != torch {theirs[1]}"


_size = st.one_of(st.none(), st.integers(-1, 9), st.tuples(st.integers(-1, 9), st.integers(-1, 9)))
_factor = st.sampled_from([-1.0, 0.0, 0.1, 0.5, 0.75, 1.0, 1.3, 2.0, 3])  # no NaN: torch's handling varies
_scale = st.one_of(st.none(), _factor, st.tuples(_factor, _factor))


@settings(max_examples=150, deadline=None)
@given(
    size=_size,
    scale=_scale,
    mode=st.sampled_from(["nearest", "nearest-exact", "bilinear", "bicubic"]),
    align=st.sampled_from([None, False, True]),
    antialias=st.booleans(),
    recompute=st.sampled_from([None, False, True]),
    hw=st.sampled_from([(4, 5), (1, 3), (6, 6)]),
)
def test_interpolate_refuses_what_torch_refuses(size, scale, mode, align, antialias, recompute, hw):
    kw = dict(
        size=size,
        scale_factor=scale,
        mode=mode,
        align_corners=align,
        antialias=antialias,
        recompute_scale_factor=recompute,
    )
    x = np.zeros((1, *hw, 2), np.float32)
    ours = _outcome(lambda: jax.eval_shape(lambda: interpolate(x, **kw)).shape)
    theirs = _outcome(lambda: F.interpolate(torch.zeros(1, 2, *hw), **kw).permute(0, 2, 3, 1).shape)
    _agree(ours, theirs, kw)


_int = st.integers(-1, 3)


@settings(max_examples=150, deadline=None)
@given(
    stride=st.integers(0, 3),
    padding=_int,
    output_padding=_int,
    dilation=st.integers(0, 3),
    groups=st.sampled_from([0, 1, 2, 3]),
    k=st.integers(1, 3),
    hw=st.sampled_from([(1, 1), (3, 4)]),
)
def test_conv_transpose_refuses_what_torch_refuses(stride, padding, output_padding, dilation, groups, k, hw):
    c_in, c_out_g = 6, 2
    y = np.zeros((1, *hw, c_in), np.float32)
    kernel = np.zeros((k, k, c_out_g, c_in), np.float32)
    kw = dict(stride=stride, padding=padding, output_padding=output_padding, dilation=dilation, groups=groups)
    ours = _outcome(lambda: jax.eval_shape(lambda: conv_transpose(y, kernel, **kw)).shape)
    weight = torch.zeros(c_in, c_out_g, k, k)  # torch's (in, out/groups, kH, kW)
    theirs = _outcome(lambda: F.conv_transpose2d(torch.zeros(1, c_in, *hw), weight, **kw).permute(0, 2, 3, 1).shape)
    if dilation == 0 and ours[0] == "error" and theirs[0] == "ok":
        return  # torch lets dilation 0 through where it cannot matter (k = 1); jaxcnn refuses it always
    _agree(ours, theirs, kw)


@settings(max_examples=80, deadline=None)
@given(r=st.integers(-1, 3), h=st.integers(1, 6), w=st.integers(1, 6), c=st.integers(1, 9))
def test_pixel_shuffle_refuses_what_torch_refuses(r, h, w, c):
    x = np.zeros((1, h, w, c), np.float32)
    for ours_fn, torch_fn in ((pixel_shuffle, F.pixel_shuffle), (pixel_unshuffle, F.pixel_unshuffle)):
        ours = _outcome(lambda: jax.eval_shape(lambda: ours_fn(x, r)).shape)
        theirs = _outcome(lambda: torch_fn(torch.zeros(1, c, h, w), r).permute(0, 2, 3, 1).shape)
        if r == 0 and ours[0] == "error" and theirs[0] == "ok":
            continue  # torch returns an empty tensor for r = 0 where the channels allow; jaxcnn refuses r = 0
        _agree(ours, theirs, dict(fn=ours_fn.__name__, r=r, shape=x.shape))


@settings(max_examples=80, deadline=None)
@given(
    k=st.integers(0, 3),
    s=st.one_of(st.none(), st.integers(0, 3)),
    p=st.integers(-1, 2),
    ceil=st.booleans(),
    out=st.one_of(st.none(), st.tuples(st.integers(1, 9), st.integers(1, 9))),
)
def test_max_pool_and_unpool_refuse_what_torch_refuses(k, s, p, ceil, out):
    x = np.arange(2 * 5 * 6, dtype=np.float32).reshape(1, 5, 6, 2)
    pool = dict(kernel_size=k, stride=s, padding=p)
    ours = _outcome(lambda: max_pool_with_indices(x, **pool, ceil_mode=ceil)[0].shape)
    t = torch.from_numpy(x).permute(0, 3, 1, 2)
    theirs = _outcome(lambda: F.max_pool2d(t, **pool, ceil_mode=ceil).permute(0, 2, 3, 1).shape)
    _agree(ours, theirs, dict(pool, ceil_mode=ceil))
    if ours[0] != "ok":
        return
    y, idx = max_pool_with_indices(x, **pool, ceil_mode=ceil)
    ty, tidx = F.max_pool2d(t, **pool, ceil_mode=ceil, return_indices=True)
    ours = _outcome(lambda: max_unpool(y, idx, **pool, output_size=out).shape)
    theirs = _outcome(lambda: F.max_unpool2d(ty, tidx, **pool, output_size=out).permute(0, 2, 3, 1).shape)
    _agree(ours, theirs, dict(pool, output_size=out))
