"""``interpolate``: PyTorch's ``F.interpolate`` index rules on NHWC arrays.

Each spatial axis is resized on its own. Indices and weights depend only on static sizes, so they
are computed on the host in float32 as ATen's CPU kernels compute them (``UpSample.h``,
``UpSampleKernel.cpp``) and applied as a gather (nearest modes) or a dense (out, in) matrix:

* output size ``floor(in * scale_factor)``; a given ``scale_factor`` indexes with ``1 / scale_factor``,
  not ``in / out`` (unless ``recompute_scale_factor``);
* ``nearest``: ``src = min(floor(dst * scale), in - 1)``, with ATen's shortcuts for ``out == in``
  and ``out == 2 * in``; ``nearest-exact``: ``src = min(floor((dst + 0.5) * scale), in - 1)``;
* ``bilinear``: ``src = scale * (dst + 0.5) - 0.5`` clamped at 0 (``dst * (in-1)/(out-1)`` with
  ``align_corners``); ``bicubic``: Keys' kernel with ``A = -0.75``, border indices clamped;
* ``antialias`` (off by default, unlike ``jax.image.resize``): the filter is stretched by the
  downsampling factor and renormalised (bicubic then uses ``A = -0.5``).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from jaxcnn.validation import check_bool, check_choice, check_nhwc, check_number, check_output_size, check_positive_int

__all__ = ["MODES", "interpolate"]

MODES = ("nearest", "nearest-exact", "bilinear", "bicubic")
_F32 = np.float32


def interpolate(
    x: jax.Array,
    size: int | Sequence[int] | None = None,
    scale_factor: float | Sequence[float] | None = None,
    mode: str = "nearest",
    align_corners: bool | None = None,
    recompute_scale_factor: bool | None = None,
    antialias: bool = False,
) -> jax.Array:
    """Resize an NHWC batch like ``torch.nn.functional.interpolate`` resizes NCHW.

    Exactly one of ``size`` ((H, W) or one int) and ``scale_factor`` (a number or a pair; output
    ``floor(in * s)``). ``align_corners`` and ``antialias`` are for bilinear/bicubic only
    (``align_corners=None`` means ``False``). Returns an (N, H_out, W_out, C) array of ``x.dtype``.
    """
    check_nhwc(x, "x", nonempty=True)
    out_hw, scales, align = _resolve_args(
        x.shape[1:3], size, scale_factor, mode, align_corners, recompute_scale_factor, antialias
    )
    name = "size" if size is not None else "scale_factor"
    check_output_size((x.shape[0], *out_hw, x.shape[3]), name)
    if mode in ("bilinear", "bicubic"):  # each axis is a dense (out, in) matrix
        for n_out, n_in in zip(out_hw, x.shape[1:3]):
            check_output_size((n_out, n_in), name, "an interpolation matrix")
        if not jnp.issubdtype(x.dtype, jnp.floating):
            raise TypeError(f"x must be floating point for mode={mode!r}, got dtype {x.dtype}")
    return _interpolate(x, tuple(out_hw), tuple(scales), mode, align, bool(antialias))


@functools.partial(jax.jit, static_argnums=(1, 2, 3, 4, 5))
def _interpolate(x, out_hw, scales, mode, align, antialias):
    for axis, (n_in, n_out, scale) in zip((1, 2), zip(x.shape[1:3], out_hw, scales)):
        x = _apply(x, _axis_plan(n_in, n_out, scale, mode, align, antialias), axis)
    return x


def _resolve_args(in_hw, size, scale_factor, mode, align_corners, recompute, antialias):
    """Validate like torch and return (output size, scales for the kernel, align_corners)."""
    check_choice(mode, "mode", MODES)
    check_bool(antialias, "antialias")
    check_bool(recompute, "recompute_scale_factor", allow_none=True)
    if mode in ("nearest", "nearest-exact"):
        if align_corners is not None:
            raise ValueError(
                "align_corners can only be set with the interpolating modes bilinear | bicubic, "
                f"got align_corners={align_corners!r} with mode={mode!r}"
            )
    elif align_corners is None:
        align_corners = False
    align_corners = check_bool(align_corners, "align_corners", allow_none=True)
    if antialias and mode not in ("bilinear", "bicubic"):
        raise ValueError(f"antialias is only supported for bilinear and bicubic, got mode={mode!r}")
    if size is not None and scale_factor is not None:
        raise ValueError("only one of size or scale_factor should be defined, got both")
    if size is None and scale_factor is None:
        raise ValueError("either size or scale_factor should be defined, got neither")
    if size is not None:
        if recompute:
            raise ValueError("recompute_scale_factor is not meaningful with an explicit size")
        return tuple(check_positive_int(s, "size") for s in _two(size, "size")), (None, None), align_corners
    factors = tuple(
        check_number(f, "scale_factor", 0.0, min_inclusive=False) for f in _two(scale_factor, "scale_factor")
    )
    out = tuple(int(math.floor(n * f)) for n, f in zip(in_hw, factors))  # math.floor gives a Python int: no overflow
    if any(o < 1 for o in out):
        raise ValueError(f"scale_factor={scale_factor!r} gives an empty output {out} for input {tuple(in_hw)}")
    return out, (None, None) if recompute else factors, align_corners


def _two(value: Any, name: str) -> tuple:
    """``(value, value)``, or ``value`` itself if it is a pair (torch's ``_pair``; another length is refused)."""
    items = tuple(value) if isinstance(value, (list, tuple)) else (value, value)
    if len(items) != 2:
        raise ValueError(f"{name} must be a number or a pair (H, W), got {value!r}")
    return items


def _apply(x: jax.Array, plan: tuple, axis: int) -> jax.Array:
    kind, table = plan
    if kind == "copy":
        return x
    if kind == "gather":
        return jnp.take(x, jnp.asarray(table), axis=axis)
    mat = jnp.asarray(table, dtype=jnp.promote_types(x.dtype, jnp.float32))
    spec = "oh,nhwc->nowc" if axis == 1 else "ow,nhwc->nhoc"
    y = jnp.einsum(spec, mat, x, precision=jax.lax.Precision.HIGHEST)
    return y.astype(x.dtype)


def _scale(n_in: int, n_out: int, scale: float | None, align_corners: bool) -> np.float32:
    """ATen ``area_pixel_compute_scale`` in float32: the source step per output pixel."""
    if align_corners:
        return _F32(n_in - 1) / _F32(n_out - 1) if n_out > 1 else _F32(0)
    if scale is not None and scale > 0:
        return _F32(1.0 / scale)
    return _F32(n_in) / _F32(n_out)


@functools.lru_cache(maxsize=512)
def _axis_plan(n_in: int, n_out: int, scale: float | None, mode: str, align: bool, antialias: bool):
    """Static plan for one axis: ('copy', None), ('gather', indices) or ('matrix', (out, in))."""
    # ATen copies an axis whose size does not change, whatever the scale, except in nearest-exact and bicubic
    if n_out == n_in and (mode in ("nearest", "bilinear") or antialias):
        return ("copy", None)
    dst = np.arange(n_out)
    if mode in ("nearest", "nearest-exact"):
        if mode == "nearest" and n_out == 2 * n_in:
            return ("gather", dst >> 1)
        s = _scale(n_in, n_out, scale, False)
        pos = dst.astype(_F32) + (_F32(0.5) if mode == "nearest-exact" else _F32(0))
        src = np.floor((pos * s).astype(_F32)).astype(np.int64)
        return ("gather", np.minimum(src, n_in - 1))
    s = _scale(n_in, n_out, scale, align)
    if antialias:
        return ("matrix", _aa_matrix(n_in, n_out, s, mode))
    src = _source_index(s, n_out, align)
    if mode == "bilinear":
        i0, lam = _floor_and_frac(np.maximum(src, _F32(0)), n_in)
        return ("matrix", _tap_matrix(n_in, i0, 0, [_F32(1) - lam, lam]))
    i0, t = _floor_and_frac(src, n_in)  # not clamped at 0 for cubic
    return ("matrix", _tap_matrix(n_in, i0, -1, _keys_cubic(t, -0.75)))


def _source_index(s: np.float32, n_out: int, align: bool) -> np.ndarray:
    dst = np.arange(n_out).astype(_F32)
    if align:
        return (s * dst).astype(_F32)
    return (s * (dst + _F32(0.5)) - _F32(0.5)).astype(_F32)


def _floor_and_frac(src: np.ndarray, n_in: int):
    """ATen ``guard_index_and_lambda``: index = min(floor(src), in-1), frac clamped to [0, 1]."""
    idx = np.minimum(np.floor(src).astype(np.int64), n_in - 1)
    frac = np.clip(src - idx.astype(_F32), 0, 1).astype(_F32)
    return idx, frac


def _tap_matrix(n_in: int, i0: np.ndarray, first: int, weights: list) -> np.ndarray:
    """(out, in) matrix: row r has ``weights[k][r]`` at column ``i0[r] + first + k``, clamped to the border."""
    mat = np.zeros((len(i0), n_in), _F32)
    for k, w in enumerate(weights):
        np.add.at(mat, (np.arange(len(i0)), np.clip(i0 + first + k, 0, n_in - 1)), w.astype(_F32))
    return mat


def _keys_cubic(t: np.ndarray, a: float) -> list[np.ndarray]:
    """Weights of the four taps at offsets -1, 0, 1, 2 for fractional position ``t``."""
    a = _F32(a)

    def near(v):  # |v| <= 1
        return ((a + 2) * v - (a + 3)) * v * v + 1

    def far(v):  # 1 < |v| < 2
        return ((a * v - 5 * a) * v + 8 * a) * v - 4 * a

    return [far(t + 1), near(t), near(1 - t), far(2 - t)]


def _aa_matrix(n_in: int, n_out: int, s: np.float32, mode: str) -> np.ndarray:
    """ATen ``_compute_index_ranges_weights``: filter support stretched by the scale, renormalised."""
    taps = 2 if mode == "bilinear" else 4
    inv = _F32(1) / s if s >= 1 else _F32(1)
    support = _F32(taps * 0.5) * s if s >= 1 else _F32(taps * 0.5)

    def filt(v):
        v = np.abs(v)
        if mode == "bilinear":
            return np.where(v < 1, 1 - v, 0).astype(_F32)
        a = _F32(-0.5)
        near = ((a + 2) * v - (a + 3)) * v * v + 1
        far = (((v - 5) * v + 8) * v - 4) * a
        return np.where(v < 1, near, np.where(v < 2, far, 0)).astype(_F32)

    mat = np.zeros((n_out, n_in), _F32)
    for i in range(n_out):
        center = s * _F32(i + 0.5)
        lo = max(int(center - support + _F32(0.5)), 0)
        hi = min(int(center + support + _F32(0.5)), n_in)
        j = np.arange(lo, hi)
        w = filt(((j - center + _F32(0.5)) * inv).astype(_F32))
        total = w.sum(dtype=_F32)
        mat[i, lo:hi] = w / total if total != 0 else w
    return mat
