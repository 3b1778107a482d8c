"""Super-resolution data of the ESPCN study: HR image folders, LR/HR pairs, patches, augmentation.
(MATLAB-exact bicubic resizing is a library feature: ``jaxcnn.upsample.imresize``.)

The literature's protocol (SRCNN's ``demo_SR.m``, reused by ESPCN, VDSR, ...): read the HR RGB
image, take MATLAB's ``rgb2ycbcr`` luma (rounded, uint8), modcrop to a multiple of the scale,
scale to [0, 1], make LR with ``imresize(hr, 1/r, 'bicubic')`` (antialiased), and compare
predictions on Y with ``scale`` pixels shaved.

``imresize`` reproduces MATLAB's: Keys cubic kernel (a = -0.5) centred at
``u = x / s + (1 - 1/s) / 2`` (1-based), widened by ``1/s`` and scaled by ``s`` when downsampling
(the antialias), each row of weights normalised to sum 1, out-of-range taps *mirrored*
(``symmetric`` padding, edge pixel repeated), rows first then columns.

``jax.image.resize(x, shape, 'cubic', antialias=True)`` uses the same kernel, the same
half-pixel centres and the same widening, but at the borders it drops out-of-range taps and
renormalises instead of mirroring. Measured on Set5 ``baby`` at x3: away from the border the two
agree to float32 precision (2e-7 after downscaling, 5e-6 after upscaling back, 6 HR pixels in);
at the border they differ by up to 0.016 (4 grey levels). The Set5 x3 bicubic mean barely moves:
30.3922 dB with ``imresize``, 30.3929 dB with jax (published: 30.39). ``resize='jax'`` selects it.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from jaxcnn.metrics import modcrop, rgb_to_y
from jaxcnn.upsample.imresize import imresize, resize_matrix  # noqa: F401 - MATLAB bicubic, a library feature
from jaxcnn.validation import (
    ArgumentTypeError,
    check_bool,
    check_choice,
    check_int,
    check_number,
    check_output_size,
    check_positive_int,
    check_str,
)

IMAGE_SUFFIXES = (".png", ".bmp", ".jpg", ".jpeg", ".tif", ".tiff")
RESIZES = ("matlab", "jax")


def _image(image, name: str, ndims=(2, 3)) -> np.ndarray:
    """A numeric array of one of the ranks ``ndims`` with a non-empty height and width."""
    try:
        image = np.asarray(image)
    except (TypeError, ValueError):
        raise ArgumentTypeError(f"{name} must be an array, got {type(image).__name__}") from None
    if not (np.issubdtype(image.dtype, np.number) or image.dtype == bool):
        raise ArgumentTypeError(f"{name} must be a numeric array, got dtype {image.dtype}")
    if image.ndim not in ndims:
        shapes = " or ".join({2: "(H, W)", 3: "(H, W, C)"}[d] for d in ndims)
        raise ValueError(f"{name} must be {shapes}, got shape {image.shape}")
    if image.shape[0] < 1 or image.shape[1] < 1:
        raise ValueError(f"{name} must have a non-empty height and width, got shape {image.shape}")
    return image


def _check_pairs(pairs, name: str = "pairs") -> None:
    if not isinstance(pairs, (list, tuple)) or not all(isinstance(p, SRPair) for p in pairs):
        raise ArgumentTypeError(f"{name} must be a list of SRPair, got {pairs!r:.80}")
    if not pairs:
        raise ValueError(f"{name} is empty: no image to draw patches from")


def jax_resize(image, scale: int, up: bool) -> np.ndarray:
    """The same resize by ``jax.image.resize(..., 'cubic', antialias=True)`` (for comparison).

    ``scale`` is a positive int (the output is ``H * scale`` or ``H // scale``), ``up`` a bool."""
    import jax

    scale = check_positive_int(scale, "scale")
    check_bool(up, "up")
    image = _image(image, "image").astype(np.float32)
    h, w = image.shape[:2]
    shape = (h * scale, w * scale) if up else (h // scale, w // scale)
    if min(shape) < 1:
        raise ValueError(f"scale={scale} shrinks image of shape {image.shape} to nothing")
    check_output_size(shape + image.shape[2:], "scale")
    return np.asarray(jax.image.resize(image, shape + image.shape[2:], "cubic", antialias=True), np.float64)


def list_images(folder: str | os.PathLike) -> list[Path]:
    """Image files of ``folder``, sorted by name."""
    folder = Path(folder)
    if not folder.is_dir():
        raise ValueError(f"image folder {folder} does not exist (pass another path or set JAXCNN_DATA)")
    files = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        raise ValueError(f"image folder {folder} holds no images ({', '.join(IMAGE_SUFFIXES)})")
    return files


def load_y(path: str | os.PathLike) -> np.ndarray:
    """Y channel of an image on the [0, 255] scale, rounded as MATLAB's uint8 ``rgb2ycbcr``.

    Grayscale files are taken as Y directly (the SRCNN code does the same).
    """
    from PIL import Image  # optional dependency: only file loading needs it

    with Image.open(path) as im:
        if im.mode in ("L", "I;16", "I"):
            return np.asarray(im.convert("L"), np.float64)
        return rgb_to_y(np.asarray(im.convert("RGB")))


@dataclass(frozen=True)
class SRPair:
    """One image in the protocol: ``hr`` modcropped Y in [0, 1] (H, W) and its bicubic ``lr``."""

    name: str
    hr: np.ndarray
    lr: np.ndarray


def make_pair(name: str, y: np.ndarray, scale: int, resize: str = "matlab") -> SRPair:
    """HR/LR pair from a [0, 255] Y image: modcrop, /255, bicubic downscale by ``scale``.

    ``y`` is one channel, (H, W) with H, W >= ``scale``; ``scale`` a positive int."""
    check_str(name, "name")
    y = _image(y, "y", (2,))  # a 3-channel image would silently give 3-channel pairs
    scale = check_positive_int(scale, "scale")
    check_choice(resize, "resize", RESIZES)
    if min(y.shape) < scale:
        raise ValueError(f"y of shape {y.shape} is smaller than scale={scale}: modcrop would leave nothing")
    hr = modcrop(y, scale) / 255.0
    lr = imresize(hr, 1 / scale) if resize == "matlab" else jax_resize(hr, scale, up=False)
    return SRPair(name, hr, lr)


def load_pairs(folder: str | os.PathLike, scale: int, resize: str = "matlab", limit: int | None = None) -> list[SRPair]:
    """Every image of ``folder`` as an :class:`SRPair` (the first ``limit`` by name if given)."""
    check_positive_int(scale, "scale")
    check_choice(resize, "resize", RESIZES)
    if limit is not None:
        check_positive_int(limit, "limit")
    files = list_images(folder)[:limit]
    return [make_pair(p.stem, load_y(p), scale, resize) for p in files]


def rescaled_pairs(pairs: list[SRPair], factors, scale: int, resize: str = "matlab") -> list[SRPair]:
    """``pairs`` plus, for each factor in ``factors`` (0 < f < 1), every HR image shrunk by
    ``imresize(hr, f)`` and made into a new pair (the multi-scale augmentation of the SR
    literature: the same scenes with finer detail per pixel)."""
    if not isinstance(pairs, (list, tuple)) or not all(isinstance(p, SRPair) for p in pairs):
        raise ArgumentTypeError(f"pairs must be a list of SRPair, got {pairs!r:.80}")
    if isinstance(factors, (str, bytes)) or not hasattr(factors, "__iter__"):
        raise ArgumentTypeError(f"factors must be a sequence of numbers in (0, 1), got {factors!r}")
    factors = list(factors)
    for f in factors:  # all checked before any work
        if not 0 < check_number(f, "factors") < 1:
            raise ValueError(f"factors: rescale factors must be in (0, 1), got {f}")
    check_positive_int(scale, "scale")
    check_choice(resize, "resize", RESIZES)
    out = list(pairs)
    for f in factors:
        for p in pairs:
            small = np.clip(imresize(p.hr, f), 0.0, 1.0) * 255.0
            if min(small.shape) >= 2 * scale:
                out.append(make_pair(f"{p.name}@{f:g}", small, scale, resize))
    return out


def mirror_padded(pairs: list[SRPair], context: int, scale: int) -> list[SRPair]:
    """``pairs`` with ``context`` LR pixels (``context * scale`` HR) of ``symmetric`` padding around
    each image: the test-time geometry of a model fed mirrored context. A patch of ``lr_size =
    patch + 2 context`` cut from these by :func:`patch_batch` then has its central ``patch`` region
    anywhere in the original image, border pixels included; the HR padding only fills the ring that
    the loss leaves out, so it never acts as a target."""
    if not isinstance(pairs, (list, tuple)) or not all(isinstance(p, SRPair) for p in pairs):
        raise ArgumentTypeError(f"pairs must be a list of SRPair, got {pairs!r:.80}")
    check_int(context, "context", minimum=0)
    check_positive_int(scale, "scale")
    c, ch = context, context * scale
    return [SRPair(p.name, np.pad(p.hr, ch, mode="symmetric"), np.pad(p.lr, c, mode="symmetric")) for p in pairs]


def dihedral(image: np.ndarray, k: int) -> np.ndarray:
    """The ``k``-th (0..7) symmetry of the square on the first two axes: ``k % 4`` quarter
    turns, then a transpose if ``k >= 4``. Bicubic downscaling commutes with all eight (the
    kernel and MATLAB's sample centres are symmetric), so a transformed LR/HR pair is the pair
    of the transformed image. ``k`` is an int in [0, 7] (8 would silently be the identity)."""
    k = check_int(k, "k", minimum=0, maximum=7)
    image = np.asarray(image)
    if image.ndim < 2:
        raise ValueError(f"image must have at least two axes (H, W), got shape {image.shape}")
    out = np.rot90(image, k % 4, axes=(0, 1))
    return np.swapaxes(out, 0, 1) if k >= 4 else out


def upscale_bicubic(lr: np.ndarray, scale: int, resize: str = "matlab") -> np.ndarray:
    """The bicubic baseline: ``imresize(lr, scale, 'bicubic')`` (or jax's resize); ``scale`` a positive int."""
    check_positive_int(scale, "scale")
    check_choice(resize, "resize", RESIZES)
    return imresize(lr, scale) if resize == "matlab" else jax_resize(lr, scale, up=True)


def patch_batch(
    pairs: list[SRPair], scale: int, lr_size: int, batch_size: int, seed: int, step: int, augment: bool = False
):
    """A random batch of aligned patches, a pure function of ``(seed, step)``.

    LR patches are ``lr_size`` square (ESPCN: 17), HR patches ``lr_size * scale`` (17r). They are
    cut from LR images made from the *whole* HR image, so no patch sees an artificial border.
    Images are drawn in proportion to their number of patch positions (i.e. uniformly over all
    positions of the training set). ``augment`` applies one of the 8 :func:`dihedral` symmetries,
    drawn per patch, to both patches. Returns ``(lr, hr)`` float32 NHWC with one channel.
    """
    _check_pairs(pairs)
    scale = check_positive_int(scale, "scale")
    lr_size, batch_size = check_positive_int(lr_size, "lr_size"), check_positive_int(batch_size, "batch_size")
    check_int(seed, "seed", minimum=0)
    check_int(step, "step", minimum=0)
    check_bool(augment, "augment")
    for i, p in enumerate(pairs):  # a pair made at another scale would cut misaligned patches
        if p.hr.shape[:2] != (p.lr.shape[0] * scale, p.lr.shape[1] * scale):
            raise ValueError(
                f"pairs[{i}] ({p.name!r}): hr shape {p.hr.shape[:2]} is not scale={scale} times "
                f"lr shape {p.lr.shape[:2]} (pairs made at another scale?)"
            )
    room = np.array([max(p.lr.shape[0] - lr_size + 1, 0) * max(p.lr.shape[1] - lr_size + 1, 0) for p in pairs], float)
    if room.sum() == 0:
        raise ValueError(f"lr_size={lr_size}: no training image is large enough at scale {scale}")
    rng = np.random.default_rng([seed, step])
    which = rng.choice(len(pairs), size=batch_size, p=room / room.sum())
    lr = np.empty((batch_size, lr_size, lr_size, 1), np.float32)
    hr = np.empty((batch_size, lr_size * scale, lr_size * scale, 1), np.float32)
    for k, i in enumerate(which):
        p = pairs[i]
        y = rng.integers(0, p.lr.shape[0] - lr_size + 1)
        x = rng.integers(0, p.lr.shape[1] - lr_size + 1)
        t = int(rng.integers(0, 8)) if augment else 0
        lr[k, ..., 0] = dihedral(p.lr[y : y + lr_size, x : x + lr_size], t)
        hr[k, ..., 0] = dihedral(p.hr[y * scale : (y + lr_size) * scale, x * scale : (x + lr_size) * scale], t)
    return lr, hr
