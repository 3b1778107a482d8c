"""``interpolate``: PyTorch's ``F.interpolate`` index rules on NHWC arrays.

Each spatial axis is resized on its own (all four modes are separable). The source indices and
weights depend only on static sizes, so they are computed once on the host in float32, the way
ATen's CPU kernels compute them, and applied as a gather (nearest modes, exact) or as a small
dense (out, in) matrix (linear and cubic modes).

Rules reproduced (ATen ``UpSample.h`` / ``UpSampleKernel.cpp``):

* output size ``floor(in * scale_factor)``; when ``scale_factor`` is given (and
  ``recompute_scale_factor`` is not true) the source index uses ``1 / scale_factor``, not
  ``in / out`` -- the two differ whenever ``in * scale_factor`` is not an integer;
* ``nearest``: ``src = min(floor(dst * scale), in - 1)`` (OpenCV), with the kernel's shortcuts
  ``out == in`` (copy) and ``out == 2 * in`` (``dst >> 1``);
* ``nearest-exact``: ``src = min(floor((dst + 0.5) * scale), in - 1)`` (Pillow, scipy);
* ``bilinear``: half-pixel ``src = scale * (dst + 0.5) - 0.5`` clamped at 0, or
  ``src = dst * (in - 1) / (out - 1)`` with ``align_corners``; a plain copy when ``out == in``;
* ``bicubic``: Keys' kernel with ``A = -0.75``, border indices clamped, source index not clamped;
* ``antialias`` (bilinear/bicubic only, off by default, unlike ``jax.image.resize``): the filter
  is stretched by the downsampling factor and renormalised (bicubic then uses ``A = -0.5``); an
  axis whose size does not change is copied even when ``scale_factor != 1``.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from jaxcnn.validation import check_bool, check_choice, check_nhwc, check_output_size

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

    Args:
      x: (N, H, W, C) array.
      size: output (H, W), or one int for both. Exactly one of ``size`` / ``scale_factor``.
      scale_factor: float or (sh, sw); output size is ``floor(in * s)``.
      mode: one of ``'nearest'``, ``'nearest-exact'``, ``'bilinear'``, ``'bicubic'``.
      align_corners: only for bilinear/bicubic; ``None`` means ``False``, as in torch.
      recompute_scale_factor: if true, index with ``in / out`` instead of ``1 / scale_factor``.
      antialias: low-pass when downsampling (bilinear/bicubic only), as torch's ``antialias``.

    Returns:
      (N, H_out, W_out, C) array of ``x.dtype``.
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
    if mode in ("bilinear", "bicubic") and not jnp.issubdtype(x.dtype, jnp.floating):
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
        out = tuple(int(s) for s in _pair(size, "size", (int, np.integer)))
        if any(s < 1 for s in out):
            raise ValueError(f"size must be positive, got {size!r}")
        return out, (None, None), align_corners
    factors = tuple(float(f) for f in _pair(scale_factor, "scale_factor", (int, float, np.integer, np.floating)))
    if any(not math.isfinite(f) or f <= 0 for f in factors):
        raise ValueError(f"scale_factor must be positive and finite, got {scale_factor!r}")
    out = tuple(int(math.floor(n * f)) for n, f in zip(in_hw, factors))  # math.floor gives a Python int: no overflow
    if any(o < 1 for o in out):
        raise ValueError(f"scale_factor={scale_factor!r} gives an empty output {out} for input {tuple(in_hw)}")
    scales = (None, None) if recompute else tuple(float(f) for f in factors)
    return out, scales, align_corners


def _pair(value: Any, name: str, kind) -> tuple:
    if isinstance(value, (list, tuple)):
        if len(value) != 2:
            raise ValueError(f"{name} must be a number or a pair (H, W), got {value!r}")
        items = tuple(value)
    else:
        items = (value, value)
    for v in items:
        if isinstance(v, (bool, np.bool_)) or not isinstance(v, kind):
            raise TypeError(
                f"{name} must hold {'ints' if int in kind and float not in kind else 'numbers'}, got {value!r}"
            )
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
    dst = np.arange(n_out)
    if mode in ("nearest", "nearest-exact"):
        if mode == "nearest" and n_out == n_in:
            return ("copy", None)
        if mode == "nearest" and n_out == 2 * n_in:
            return ("gather", dst >> 1)
        s = _scale(n_in, n_out, scale, False)
        pos = dst.astype(_F32) + (_F32(0.5) if mode == "nearest-exact" else _F32(0))
        src = np.floor((pos * s).astype(_F32)).astype(np.int64)
        return ("gather", np.minimum(src, n_in - 1))
    s = _scale(n_in, n_out, scale, align)
    if antialias:
        # the separable AA kernel skips an axis whose size does not change, whatever the scale
        return ("copy", None) if n_out == n_in else ("matrix", _aa_matrix(n_in, n_out, s, mode))
    if mode == "bilinear":
        if n_out == n_in:
            return ("copy", None)
        return ("matrix", _linear_matrix(n_in, n_out, s, align))
    return ("matrix", _cubic_matrix(n_in, n_out, s, align))


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


def _linear_matrix(n_in: int, n_out: int, s: np.float32, align: bool) -> np.ndarray:
    src = np.maximum(_source_index(s, n_out, align), _F32(0))
    i0, lam = _floor_and_frac(src, n_in)
    i1 = np.minimum(i0 + 1, n_in - 1)
    mat = np.zeros((n_out, n_in), _F32)
    rows = np.arange(n_out)
    np.add.at(mat, (rows, i0), _F32(1) - lam)
    np.add.at(mat, (rows, i1), lam)
    return mat


def _keys_cubic(t: np.ndarray, a: float) -> list[np.ndarray]:
    """Weights of the four taps at offsets -1, 0, 1, 2 for fractional position ``t``."""
    a = _F32(a)

    def near(v):  # |v| <= 1
        return ((a + 2) * v - (a + 3)) * v * v + 1

    def far(v):  # 1 < |v| < 2
        return ((a * v - 5 * a) * v + 8 * a) * v - 4 * a

    return [far(t + 1), near(t), near(1 - t), far(2 - t)]


def _cubic_matrix(n_in: int, n_out: int, s: np.float32, align: bool) -> np.ndarray:
    src = _source_index(s, n_out, align)  # not clamped at 0 for cubic
    i0, t = _floor_and_frac(src, n_in)
    mat = np.zeros((n_out, n_in), _F32)
    rows = np.arange(n_out)
    for k, w in enumerate(_keys_cubic(t, -0.75)):
        np.add.at(mat, (rows, np.clip(i0 - 1 + k, 0, n_in - 1)), w.astype(_F32))
    return mat


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
