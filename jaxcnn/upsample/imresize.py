"""MATLAB-exact bicubic resizing: ``imresize(image, scale, 'bicubic')`` as MATLAB computes it.

Keys cubic kernel (a = -0.5) centred at ``u = x / s + (1 - 1/s) / 2`` (1-based), widened by ``1/s``
when downsampling (the antialias), rows normalised to sum 1, out-of-range taps *mirrored*. This is
the resize of the super-resolution protocol (SRCNN's ``demo_SR.m``: Set5 x3 bicubic gives 30.39 dB);
``jax.image.resize(..., 'cubic', antialias=True)`` renormalises at the borders instead of mirroring.
"""

from __future__ import annotations

import functools

import numpy as np

from jaxcnn.validation import ArgumentTypeError, check_bool, check_number, check_output_size, check_positive_int

__all__ = ["imresize", "resize_matrix"]


def _keys_cubic(x: np.ndarray, a: float = -0.5) -> np.ndarray:
    """Keys' cubic convolution kernel; MATLAB's ``cubic`` is a = -0.5."""
    ax = np.abs(x)
    near = ((a + 2) * ax - (a + 3)) * ax**2 + 1
    far = ((a * ax - 5 * a) * ax + 8 * a) * ax - 4 * a
    return np.where(ax <= 1, near, np.where(ax < 2, far, 0.0))


def resize_matrix(n_in: int, n_out: int, scale: float, antialias: bool = True) -> np.ndarray:
    """(n_out, n_in) matrix of MATLAB's ``imresize`` bicubic along one axis, ``scale`` as MATLAB takes
    it from the call (``1/3`` when downsampling by 3); a matrix (or antialias kernel) of more than
    ``MAX_OUTPUT_ELEMENTS`` entries is refused before allocating it."""
    n_in, n_out = check_positive_int(n_in, "n_in"), check_positive_int(n_out, "n_out")
    scale = check_number(scale, "scale", minimum=0.0, min_inclusive=False)
    antialias = check_bool(antialias, "antialias")
    check_output_size((n_out, n_in), "n_out", "a resize matrix")
    return _resize_matrix(n_in, n_out, scale, antialias)


@functools.lru_cache(maxsize=256)
def _resize_matrix(n_in: int, n_out: int, scale: float, antialias: bool) -> np.ndarray:
    widen = antialias and scale < 1
    width = 4.0 / scale if widen else 4.0
    # the antialiased kernel spans 4 / scale input pixels: a tiny scale asks for huge tap arrays
    check_output_size((n_out, int(np.ceil(width)) + 2), "scale", "antialias kernel taps")
    x = np.arange(1, n_out + 1, dtype=np.float64)
    u = x / scale + 0.5 * (1 - 1 / scale)  # output pixel centre in input coordinates (1-based)
    left = np.floor(u - width / 2)
    taps = left[:, None] + np.arange(int(np.ceil(width)) + 2)
    d = u[:, None] - taps
    w = scale * _keys_cubic(scale * d) if widen else _keys_cubic(d)
    w /= w.sum(axis=1, keepdims=True)
    # MATLAB mirrors out-of-range indices: ..., 2, 1, [1, 2, ..., n], n, n-1, ...
    mirror = np.concatenate([np.arange(n_in), np.arange(n_in - 1, -1, -1)])
    idx = mirror[np.mod(taps.astype(np.int64) - 1, 2 * n_in)]
    m = np.zeros((n_out, n_in))
    np.add.at(m, (np.repeat(np.arange(n_out), taps.shape[1]), idx.ravel()), w.ravel())
    return m


def imresize(image, scale: float, antialias: bool = True) -> np.ndarray:
    """MATLAB ``imresize(image, scale, 'bicubic')`` of a float (H, W[, C]) image, in float64, of size
    ``ceil(scale * H) x ceil(scale * W)``. No rounding or clipping: this is MATLAB's float path, so
    integer images are refused (MATLAB rounds and clips those)."""
    scale = check_number(scale, "scale", minimum=0.0, min_inclusive=False)
    antialias = check_bool(antialias, "antialias")
    if hasattr(image, "dtype") and not np.issubdtype(np.dtype(image.dtype), np.floating):
        raise ArgumentTypeError(f"image must be floating point (MATLAB's float path), got dtype {image.dtype}")
    try:
        image = np.asarray(image, np.float64)
    except (TypeError, ValueError):
        raise ArgumentTypeError(f"image must be a numeric array, got {type(image).__name__}") from None
    if image.ndim not in (2, 3) or min(image.shape[:2]) < 1:
        raise ValueError(f"image must be (H, W) or (H, W, C) with H, W >= 1, got shape {image.shape}")
    h, w = image.shape[:2]
    oh, ow = int(np.ceil(scale * h - 1e-9)), int(np.ceil(scale * w - 1e-9))
    check_output_size((oh, ow) + image.shape[2:], "scale")
    check_output_size((oh, h), "scale", "a resize matrix")
    check_output_size((ow, w), "scale", "a resize matrix")
    out = np.tensordot(_resize_matrix(h, oh, scale, antialias), image, axes=(1, 0))
    out = np.tensordot(_resize_matrix(w, ow, scale, antialias), out, axes=(1, 1))
    return np.swapaxes(out, 0, 1)
