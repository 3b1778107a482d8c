"""Image-quality metrics as the super-resolution literature computes them (SRCNN/ESPCN tables).

* ``rgb_to_y``: the luma of MATLAB's ``rgb2ycbcr`` (ITU-R BT.601, studio range):
  ``Y = 16 + 65.481 R + 128.553 G + 24.966 B`` with R, G, B in [0, 1], so Y lies in [16, 235].
  MATLAB returns uint8 for uint8 input, i.e. the value rounded; ``round=True`` does the same.
* ``psnr``: ``10 log10(peak^2 / MSE)`` after shaving ``shave`` pixels from every border.
* ``modcrop``: crop H and W down to multiples of the scale (bottom/right, as SRCNN's ``modcrop``).

Everything here is NumPy: metrics are computed once per image, outside any jit.
"""

from __future__ import annotations

import numpy as np

from jaxcnn.validation import ArgumentTypeError, check_bool, check_int, check_number, check_positive_int

__all__ = ["Y_OFFSET", "Y_WEIGHTS", "modcrop", "psnr", "psnr_y", "rgb_to_y", "shave"]

# MATLAB rgb2ycbcr, first row of the BT.601 matrix scaled for [0, 1] input and [0, 255] output.
Y_WEIGHTS = np.array([65.481, 128.553, 24.966])
Y_OFFSET = 16.0


def _check_image(x, name: str, min_ndim: int = 2) -> np.ndarray:
    x = np.asarray(x)
    if x.ndim < min_ndim or x.ndim > 3:
        raise ValueError(f"{name} must be an (H, W) or (H, W, C) image, got shape {x.shape}")
    if not (np.issubdtype(x.dtype, np.integer) or np.issubdtype(x.dtype, np.floating) or x.dtype == np.bool_):
        raise ArgumentTypeError(f"{name} must hold real numbers, got dtype {x.dtype}")
    return x


def _shave(image: np.ndarray, border: int, name: str) -> np.ndarray:
    border = check_int(border, name, minimum=0)
    if 2 * border >= min(image.shape[:2]):
        raise ValueError(f"{name}={border} leaves nothing of an image of shape {image.shape}")
    return image[border : image.shape[0] - border, border : image.shape[1] - border] if border else image


def modcrop(image, scale: int) -> np.ndarray:
    """Crop ``image`` (H, W[, C]) to the largest H and W that are multiples of ``scale``."""
    scale = check_positive_int(scale, "scale")
    image = _check_image(image, "image")
    h, w = image.shape[0] - image.shape[0] % scale, image.shape[1] - image.shape[1] % scale
    if h == 0 or w == 0:
        raise ValueError(f"image of shape {image.shape} is smaller than scale={scale}")
    return image[:h, :w]


def shave(image, border: int) -> np.ndarray:
    """Drop ``border`` pixels from each side of H and W."""
    return _shave(_check_image(image, "image"), border, "border")


def rgb_to_y(rgb, round: bool = True) -> np.ndarray:
    """Y (luma, [16, 235] scale) of an (H, W, 3) RGB image, as MATLAB's ``rgb2ycbcr(rgb)(:,:,1)``.

    uint8 input is read as ``value / 255``; float input must be in [0, 1] (checked). ``round=True``
    (MATLAB's behaviour for uint8 images) rounds the result to integers, as float64.
    """
    check_bool(round, "round")
    rgb = np.asarray(rgb)
    if rgb.ndim != 3 or rgb.shape[-1] != 3:
        raise ValueError(f"rgb must have shape (H, W, 3), got {rgb.shape}")
    if rgb.dtype == np.uint8:
        x = rgb.astype(np.float64) / 255.0
    elif np.issubdtype(rgb.dtype, np.floating):
        x = rgb.astype(np.float64)
        if not (np.all(x >= 0.0) and np.all(x <= 1.0)):  # NaN fails too (and shows in the range)
            span = f"[{np.min(x)}, {np.max(x)}]"
            raise ValueError(f"rgb must be uint8, or float in [0, 1], got values in {span}; divide [0, 255] by 255")
    else:
        raise ArgumentTypeError(f"rgb must be uint8 or float in [0, 1], got dtype {rgb.dtype}")
    y = Y_OFFSET + x @ Y_WEIGHTS
    return np.round(y) if round else y


def psnr(reference, estimate, peak: float = 255.0, shave_border: int = 0) -> float:
    """PSNR in dB of ``estimate`` against ``reference`` (same shape), borders shaved first.

    Identical images give ``inf``.
    """
    ref = _check_image(reference, "reference").astype(np.float64)
    est = _check_image(estimate, "estimate").astype(np.float64)
    if ref.shape != est.shape:
        raise ValueError(f"reference {ref.shape} and estimate {est.shape} must have the same shape")
    check_number(peak, "peak", 0.0, min_inclusive=False)
    ref, est = _shave(ref, shave_border, "shave_border"), _shave(est, shave_border, "shave_border")
    mse = np.mean((ref - est) ** 2)
    return float("inf") if mse == 0 else float(10.0 * np.log10(peak**2 / mse))


def psnr_y(reference_y, estimate_y, scale: int) -> float:
    """The SR tables' PSNR: Y images on the [0, 255] scale, both rounded to integers (the
    SRCNN code converts to uint8 first), ``scale`` pixels shaved from every border."""
    scale = check_positive_int(scale, "scale")
    for name, y in (("reference_y", reference_y), ("estimate_y", estimate_y)):
        y = _check_image(y, name)
        if y.ndim == 3 and y.shape[-1] != 1:
            raise ValueError(f"{name} must be a Y image, (H, W) or (H, W, 1), got shape {y.shape}; use rgb_to_y first")
        if 2 * scale >= min(y.shape[:2]):
            raise ValueError(f"scale={scale} shaves every pixel of {name} of shape {y.shape}")
    as_uint8 = lambda y: np.clip(np.round(np.asarray(y, np.float64)), 0, 255)
    return psnr(as_uint8(reference_y), as_uint8(estimate_y), 255.0, scale)
