"""interpolate vs torch.nn.functional.interpolate (the parity oracle)."""

import math

import jax
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from jaxcnn.upsample import interpolate

torch = pytest.importorskip("torch", reason="PyTorch is the parity oracle; install the [torch] extra")

SHAPES = [(1, 5, 7, 2), (2, 3, 4, 1), (1, 1, 6, 3)]  # a small pool keeps recompiles few


def _rand(shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape).astype(np.float32)


F = torch.nn.functional


def _torch_interpolate(x, **kw):
    t = F.interpolate(torch.from_numpy(x).permute(0, 3, 1, 2), **kw)
    return t.permute(0, 2, 3, 1).numpy()


def _check(x, **kw):
    ref = _torch_interpolate(x, **kw)
    out = np.asarray(interpolate(x, **kw))
    assert out.shape == ref.shape
    np.testing.assert_allclose(out, ref, atol=1e-5, rtol=0)
    return float(np.max(np.abs(out - ref)))


_mode = st.sampled_from(["nearest", "nearest-exact", "bilinear", "bicubic"])
_factor = st.sampled_from([0.5, 0.75, 1.0886, 1.5, 1.7, 2, 2.6, 3])


@settings(max_examples=30, deadline=None)
@given(mode=_mode, shape=st.sampled_from(SHAPES), data=st.data())
def test_torch_parity_sweep(mode, shape, data):
    kw = {"mode": mode}
    if mode in ("bilinear", "bicubic"):
        kw["align_corners"] = data.draw(st.sampled_from([None, False, True]))
        kw["antialias"] = data.draw(st.booleans())
    if data.draw(st.booleans()):
        kw["size"] = (data.draw(st.integers(1, 11)), data.draw(st.integers(1, 11)))
    else:
        sf = (data.draw(_factor), data.draw(_factor))
        if min(math.floor(n * f) for n, f in zip(shape[1:3], sf)) < 1:
            sf = (2, 2)
        kw["scale_factor"] = sf
        kw["recompute_scale_factor"] = data.draw(st.sampled_from([None, True]))
    x = _rand(shape, 1)
    if kw.get("antialias") and _torch_aa_width1_bug(x, kw):
        kw["antialias"] = False
    _check(x, **kw)


def _torch_aa_width1_bug(x, kw):
    """torch 2.x's antialiased kernel repeats its first row when the output width is 1 and the
    height changes (see test_torch_antialias_width_one_bug); parity is not asked there."""
    out_shape = interpolate(x, **kw).shape
    return out_shape[2] == 1 and out_shape[1] != x.shape[1]


@pytest.mark.parametrize("mode", ["bilinear", "bicubic"])
def test_torch_antialias_width_one_bug(mode):
    # A (3, 1) column resized to (2, 1): torch returns two equal rows; the same data as a row
    # resized (1, 3) -> (1, 2) gives the right answer, which is what interpolate returns.
    col = np.array([1.0, 2.0, 4.0], np.float32)
    ours = np.ravel(interpolate(col.reshape(1, 3, 1, 1), size=(2, 1), mode=mode, antialias=True))
    as_row = np.ravel(_torch_interpolate(col.reshape(1, 1, 3, 1), size=(1, 2), mode=mode, antialias=True))
    np.testing.assert_allclose(ours, as_row, atol=1e-6)
    np.testing.assert_allclose(
        ours,
        np.ravel(
            jax.image.resize(
                col.reshape(1, 3, 1, 1), (1, 2, 1, 1), "linear" if mode == "bilinear" else "cubic", antialias=True
            )
        ),
        atol=1e-6,
    )
    # once torch fixes it, the exclusion in the sweep can go (it then checks nothing extra)


@pytest.mark.parametrize(
    "mode,antialias",
    [
        ("nearest", False),
        ("nearest-exact", False),
        ("bilinear", False),
        ("bilinear", True),
        ("bicubic", False),
        ("bicubic", True),
    ],
)
def test_torch_same_size_rules(mode, antialias):
    # 5 * 1.0886 floors to 5: torch copies for nearest/bilinear/antialias, not for bicubic/nearest-exact
    x = _rand((1, 5, 7, 2), 3)
    _check(x, scale_factor=(1.0886, 1.09), mode=mode, antialias=antialias)
