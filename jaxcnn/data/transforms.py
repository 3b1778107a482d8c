"""Per-example transforms, run in the loader's worker processes.

A transform is a picklable callable ``t(example, seed, index) -> example``: ``example`` is a dict with
``"image"`` (HWC) and ``"label"``, ``index`` the example's position in the loader's stream (``epoch *
len(source) + position in the epoch``, the same on every process). Random transforms draw from
``numpy.random.default_rng([seed, 1, index])`` (the shuffle uses ``[seed, 0, epoch]``): the same seed
gives the same bytes whatever the worker or process count, and each epoch augments differently.

Geometry follows torchvision's definitions on PIL images, so results are comparable pixel for pixel:
``cifar_train`` = ``RandomCrop(32, padding=4)`` (zero padding) + ``RandomHorizontalFlip``;
``imagenet_train`` = ``RandomResizedCrop(size, scale, ratio)`` (bilinear) + ``RandomHorizontalFlip``;
``imagenet_eval`` = ``Resize(int(size / crop_fraction))`` + ``CenterCrop(size)``.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from jaxcnn.validation import ArgumentTypeError, check_callable, check_int, check_number

__all__ = [
    "Compose",
    "CifarTrain",
    "ImagenetTrain",
    "ImagenetEval",
    "Normalize",
    "compose",
    "cifar_train",
    "imagenet_train",
    "imagenet_eval",
    "normalize",
    "example_rng",
    "resized_crop_params",
]

# ImageNet's per-channel statistics (torchvision's); CIFAR-10 and MNIST come from jaxcnn.train.data.
_IMAGENET_STATS = ((0.485, 0.456, 0.406), (0.229, 0.224, 0.225))


def example_rng(seed: int, index: int) -> np.random.Generator:
    """The generator of example ``index`` under loader seed ``seed``."""
    return np.random.default_rng([seed, 1, index])


@dataclass(frozen=True)
class Compose:
    """Apply ``transforms`` in order."""

    transforms: tuple

    def __call__(self, example: dict, seed: int, index: int) -> dict:
        for t in self.transforms:
            example = t(example, seed, index)
        return example


def compose(*transforms: Callable) -> Compose:
    """One transform applying ``transforms`` left to right."""
    for i, t in enumerate(transforms):
        check_callable(t, f"transforms[{i}]")
    return Compose(tuple(transforms))


@dataclass(frozen=True)
class CifarTrain:
    """Zero-pad ``pad`` pixels, crop back to the input size at a random offset, flip half the images.

    Draws ``top, left = rng.integers(0, 2 * pad + 1, size=2)`` then ``flip = rng.random() < 0.5``."""

    pad: int = 4

    def __call__(self, example: dict, seed: int, index: int) -> dict:
        img = example["image"]
        h, w = img.shape[:2]
        rng = example_rng(seed, index)
        top, left = rng.integers(0, 2 * self.pad + 1, size=2)
        flip = rng.random() < 0.5
        p = self.pad
        padded = np.pad(img, ((p, p), (p, p), (0, 0)))
        out = padded[top : top + h, left : left + w]
        return {**example, "image": np.ascontiguousarray(out[:, ::-1] if flip else out)}


def cifar_train(pad: int = 4) -> CifarTrain:
    """CIFAR training augmentation (``RandomCrop(H, padding=pad)`` + horizontal flip)."""
    return CifarTrain(check_int(pad, "pad", minimum=0))


def resized_crop_params(
    height: int, width: int, rng: np.random.Generator, scale=(0.08, 1.0), ratio=(3 / 4, 4 / 3)
) -> tuple[int, int, int, int]:
    """``(top, left, h, w)`` of a random crop with area fraction in ``scale`` and aspect ratio (w/h) in
    ``ratio`` (log-uniform), torchvision's algorithm: 10 tries, then the central crop clipped to ``ratio``."""
    area = height * width
    log_ratio = (math.log(ratio[0]), math.log(ratio[1]))
    for _ in range(10):
        target = area * rng.uniform(scale[0], scale[1])
        aspect = math.exp(rng.uniform(*log_ratio))
        w = int(round(math.sqrt(target * aspect)))
        h = int(round(math.sqrt(target / aspect)))
        if 0 < w <= width and 0 < h <= height:
            return int(rng.integers(0, height - h + 1)), int(rng.integers(0, width - w + 1)), h, w
    w, h = width, height
    if width / height < min(ratio):
        h = int(round(width / min(ratio)))
    elif width / height > max(ratio):
        w = int(round(height * max(ratio)))
    return (height - h) // 2, (width - w) // 2, h, w


def _resize(img: np.ndarray, size: tuple[int, int], box=None) -> np.ndarray:
    """Bilinear resize (Pillow, antialiased as torchvision's PIL path) of ``img`` (or its ``box``) to
    ``size`` = (height, width)."""
    from PIL import Image

    im = Image.fromarray(img)
    if box is not None:
        top, left, h, w = box
        im = im.crop((left, top, left + w, top + h))
    return np.asarray(im.resize((size[1], size[0]), Image.BILINEAR))


@dataclass(frozen=True)
class ImagenetTrain:
    """Random resized crop to ``size`` x ``size`` then a horizontal flip of half the images.

    Draws the crop with :func:`resized_crop_params`, then ``flip = rng.random() < 0.5``."""

    size: int = 224
    scale: tuple = (0.08, 1.0)
    ratio: tuple = (3 / 4, 4 / 3)

    def __call__(self, example: dict, seed: int, index: int) -> dict:
        img = example["image"]
        rng = example_rng(seed, index)
        box = resized_crop_params(img.shape[0], img.shape[1], rng, self.scale, self.ratio)
        out = _resize(img, (self.size, self.size), box)
        if rng.random() < 0.5:
            out = out[:, ::-1]
        return {**example, "image": np.ascontiguousarray(out)}


def _pair(v, name: str, low: float, high: float | None = None) -> tuple[float, float]:
    if not isinstance(v, (tuple, list)) or len(v) != 2:
        raise ArgumentTypeError(f"{name} must be a pair (low, high), got {v!r}")
    a, b = (check_number(x, name, minimum=low, maximum=high, min_inclusive=False) for x in v)
    if a > b:
        raise ValueError(f"{name} must have low <= high, got {tuple(v)!r}")
    return float(a), float(b)


def imagenet_train(size: int = 224, scale=(0.08, 1.0), ratio=(3 / 4, 4 / 3)) -> ImagenetTrain:
    """ImageNet training augmentation (``RandomResizedCrop(size, scale, ratio)`` + horizontal flip)."""
    return ImagenetTrain(
        check_int(size, "size", minimum=1), _pair(scale, "scale", 0.0, 1.0), _pair(ratio, "ratio", 0.0)
    )


@dataclass(frozen=True)
class ImagenetEval:
    """Resize the shorter side to ``int(size / crop_fraction)`` (the longer in proportion, truncated),
    then take the central ``size`` x ``size`` crop (deterministic: seed and index are unused)."""

    size: int = 224
    crop_fraction: float = 0.875

    def __call__(self, example: dict, seed: int, index: int) -> dict:
        img = example["image"]
        h, w = img.shape[:2]
        short = int(self.size / self.crop_fraction)
        nh, nw = (int(short * h / w), short) if w <= h else (short, int(short * w / h))
        if (nh, nw) != (h, w):
            img = _resize(img, (nh, nw))
        top, left = int(round((nh - self.size) / 2.0)), int(round((nw - self.size) / 2.0))
        if top < 0 or left < 0:
            raise ValueError(f"image of {h}x{w} resized to {nh}x{nw} is smaller than size={self.size}")
        return {**example, "image": np.ascontiguousarray(img[top : top + self.size, left : left + self.size])}


def imagenet_eval(size: int = 224, crop_fraction: float = 0.875) -> ImagenetEval:
    """ImageNet evaluation: shorter side to ``size / crop_fraction`` (256 for 224), central crop."""
    return ImagenetEval(
        check_int(size, "size", minimum=1),
        float(check_number(crop_fraction, "crop_fraction", minimum=0.0, maximum=1.0, min_inclusive=False)),
    )


@dataclass(frozen=True)
class Normalize:
    """uint8 image -> float32 ``(x / 255 - mean) / std`` per channel (``jaxcnn.train.data.normalize``)."""

    mean: tuple
    std: tuple

    def __call__(self, example: dict, seed: int, index: int, batched: bool = False) -> dict:
        """``batched``: ``example["image"]`` is a uint8 NHWC stack (the loader's one pass per batch)."""
        from jaxcnn.train.data import normalize as _normalize

        img = np.asarray(example["image"])
        out = _normalize(img if batched else img[None], self.mean, self.std)
        return {**example, "image": out if batched else out[0]}


def normalize(dataset_or_mean="cifar10", std=None) -> Normalize:
    """Per-channel standardisation: ``normalize('cifar10' | 'mnist' | 'imagenet')`` for the published
    statistics (CIFAR-10 and MNIST from ``jaxcnn.train.data``), or ``normalize(mean, std)``."""
    from jaxcnn.train.data import _STATS, _check_stats

    stats = {**_STATS, "imagenet": _IMAGENET_STATS}
    if isinstance(dataset_or_mean, str):
        if dataset_or_mean not in stats:
            raise ValueError(
                f"dataset_or_mean: unknown dataset {dataset_or_mean!r}; choose from {sorted(stats)} or pass (mean, std)"
            )
        if std is not None:
            raise ValueError("std is given with a dataset name; pass normalize(name) or normalize(mean, std)")
        mean, std = stats[dataset_or_mean]
    else:
        mean = dataset_or_mean
        if std is None:
            raise ValueError("normalize(mean, std) needs std (one number per channel)")
    _check_stats(mean, std, len(mean) if isinstance(mean, (tuple, list)) else -1)
    return Normalize(tuple(float(m) for m in mean), tuple(float(s) for s in std))
