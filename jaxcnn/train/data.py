"""Image classification data: loaders for the shared CIFAR-10 / MNIST subsets and batching.

Every batch is a pure function of ``(seed, step)``, so a resumed run sees exactly the batches an
uninterrupted run would have seen; no iterator state needs checkpointing.
"""

from __future__ import annotations

import csv
import gzip
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from jaxcnn.validation import ArgumentTypeError, check_bool, check_int, check_number, check_positive_int, check_rank

__all__ = [
    "DATA_ENV",
    "DATASETS",
    "Split",
    "Dataset",
    "stratified_split",
    "load_dataset",
    "normalize",
    "batch_indices",
    "augment",
    "train_batch",
    "eval_batches",
]

# Data locations come from the caller or from JAXCNN_DATA, never from the package's own path (an
# installed package has no ../shared beside it).
DATA_ENV = "JAXCNN_DATA"
DATASETS = ("cifar10", "mnist")
# Per-channel statistics of the full CIFAR-10 / MNIST training sets (the usual constants).
_STATS = {
    "cifar10": ((0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616)),
    "mnist": ((0.1307,), (0.3081,)),
}
_SPLITS = {"cifar10": (4000, 1000), "mnist": (8000, 2000)}


@dataclass(frozen=True)
class Split:
    """A labelled image set: ``images`` uint8 NHWC, ``labels`` int32."""

    images: np.ndarray
    labels: np.ndarray

    def __post_init__(self):
        check_rank(self.images, "images", 4, "NHWC (batch, height, width, channels)")
        check_rank(self.labels, "labels", 1, "(one class index per image)")
        if len(self.images) != len(self.labels):
            raise ValueError(
                f"images and labels must have the same length, got {len(self.images)} images "
                f"and {len(self.labels)} labels"
            )

    def __len__(self) -> int:
        return len(self.labels)


@dataclass(frozen=True)
class Dataset:
    """Train and test splits plus what a model needs to know about them."""

    name: str
    train: Split
    test: Split
    num_classes: int
    mean: tuple[float, ...]
    std: tuple[float, ...]

    def __post_init__(self):
        check_positive_int(self.num_classes, "num_classes")
        for name, split in (("train", self.train), ("test", self.test)):
            if not isinstance(split, Split):
                raise ArgumentTypeError(f"{name} must be a Split, got {type(split).__name__}")
        if self.train.images.shape[1:] != self.test.images.shape[1:]:
            raise ValueError(
                f"train and test images must have the same (H, W, C), got "
                f"{self.train.images.shape[1:]} and {self.test.images.shape[1:]}"
            )
        _check_stats(self.mean, self.std, self.train.images.shape[-1])

    @property
    def image_shape(self) -> tuple[int, int, int]:
        return tuple(self.train.images.shape[1:])


def _read_cifar10(folder: Path) -> tuple[np.ndarray, np.ndarray]:
    from PIL import Image  # optional dependency: only the CIFAR loader needs it

    with open(folder / "labels.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    images = np.stack([np.asarray(Image.open(folder / r["filename"]).convert("RGB")) for r in rows])
    return images, np.array([int(r["label"]) for r in rows], np.int32)


def _read_idx(path: Path, magic: int) -> np.ndarray:
    raw = gzip.decompress(path.read_bytes())
    got = int.from_bytes(raw[:4], "big")
    if got != magic:
        raise ValueError(f"{path}: IDX magic {got}, expected {magic}")
    ndim = magic & 0xFF
    dims = [int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim)]
    return np.frombuffer(raw, np.uint8, offset=4 + 4 * ndim).reshape(dims)


def _read_mnist(folder: Path) -> tuple[np.ndarray, np.ndarray]:
    labels = _read_idx(folder / "t10k-labels-idx1-ubyte.gz", 2049).astype(np.int32)
    return _read_idx(folder / "t10k-images-idx3-ubyte.gz", 2051)[..., None], labels


def _allocate(total: int, counts: np.ndarray) -> np.ndarray:
    """Split ``total`` over classes in proportion to ``counts`` (largest remainder, exact sum)."""
    quota = total * counts / counts.sum()
    alloc = np.floor(quota).astype(int)
    alloc[np.argsort(-(quota - alloc), kind="stable")[: total - alloc.sum()]] += 1
    return alloc


def stratified_split(labels: np.ndarray, n_train: int, n_test: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Fixed train/test indices with each class in proportion to its share of ``labels``; they depend
    only on ``seed`` (not the run's), so every run of a study trains and tests on the same images."""
    check_rank(labels, "labels", 1, "(one class index per image)")
    check_positive_int(n_train, "n_train")
    check_int(n_test, "n_test", minimum=0)
    check_int(seed, "seed", minimum=0)
    if n_train + n_test > len(labels):
        raise ValueError(f"n_train={n_train}, n_test={n_test} do not fit the {len(labels)} images available")
    rng = np.random.default_rng(seed)
    classes, counts = np.unique(labels, return_counts=True)
    k_train = _allocate(n_train, counts)
    k_test = _allocate(n_test, counts - k_train)
    train, test = [], []
    for c, a, b in zip(classes, k_train, k_test):
        idx = rng.permutation(np.flatnonzero(labels == c))
        train.append(idx[:a])
        test.append(idx[a : a + b])
    return np.sort(np.concatenate(train)), np.sort(np.concatenate(test))


def load_dataset(
    name: str, data_dir: str | os.PathLike | None = None, n_train: int | None = None, n_test: int | None = None
) -> Dataset:
    """Load ``name`` ('cifar10' or 'mnist') from ``data_dir`` (the folder holding ``cifar10/`` and
    ``mnist/``; default: ``$JAXCNN_DATA``). Both fixed stratified splits (default 4,000 / 1,000 for
    CIFAR-10, 8,000 / 2,000 for MNIST) come from the public test set, the only one on disk.
    """
    if not isinstance(name, str) or name not in DATASETS:
        raise ValueError(f"name must be one of {DATASETS}: unknown dataset {name!r}")
    if data_dir is not None and not isinstance(data_dir, (str, os.PathLike)):
        raise ArgumentTypeError(f"data_dir must be a path (str or os.PathLike) or None, got {type(data_dir).__name__}")
    # 0 would silently mean "the default" below (``n_train or d_tr``): refuse it
    n_train = None if n_train is None else check_positive_int(n_train, "n_train")
    n_test = None if n_test is None else check_positive_int(n_test, "n_test")
    if data_dir is None:
        data_dir = os.environ.get(DATA_ENV)
        if not data_dir:
            raise ValueError(
                f"data_dir is None and {DATA_ENV} is not set: pass data_dir= (the folder holding "
                f"{name}/) or set {DATA_ENV}"
            )
    folder = Path(data_dir) / name
    if not folder.is_dir():
        raise ValueError(f"data_dir: {folder} does not exist (pass data_dir= or set {DATA_ENV})")
    images, labels = (_read_cifar10 if name == "cifar10" else _read_mnist)(folder)
    d_tr, d_te = _SPLITS[name]
    tr, te = stratified_split(labels, n_train or d_tr, n_test or d_te)
    mean, std = _STATS[name]
    return Dataset(name, Split(images[tr], labels[tr]), Split(images[te], labels[te]), int(labels.max()) + 1, mean, std)


def _check_stats(mean, std, channels: int) -> None:
    """``mean`` and ``std``: one finite number per channel, ``std`` > 0 (a 3-entry mean on 1-channel
    images would broadcast into 3 channels; ``std`` 0 divides by zero)."""
    for name, v in (("mean", mean), ("std", std)):
        if not isinstance(v, (list, tuple, np.ndarray)) or np.ndim(v) != 1:
            raise ArgumentTypeError(f"{name} must be a sequence of one number per channel, got {v!r}")
        if len(v) != channels:
            raise ValueError(f"{name} must have one entry per channel ({channels}), got {len(v)}: {tuple(v)!r}")
        for x in v:
            check_number(x, name, minimum=0.0 if name == "std" else None, min_inclusive=False)


def normalize(images: np.ndarray, mean, std) -> np.ndarray:
    """uint8 NHWC -> float32, per-channel standardised (``mean``, ``std``: one number per channel)."""
    check_rank(images, "images", 4, "NHWC (batch, height, width, channels)")
    if images.dtype != np.uint8:
        raise ArgumentTypeError(f"images must be uint8 (normalize divides by 255), got dtype {images.dtype}")
    _check_stats(mean, std, images.shape[-1])
    x = images.astype(np.float32) / 255.0
    return (x - np.asarray(mean, np.float32)) / np.asarray(std, np.float32)


def batch_indices(n: int, batch_size: int, step: int, seed: int) -> np.ndarray:
    """Indices of batch ``step``: epoch ``e`` is a permutation seeded by ``(seed, e)``, its remainder
    dropped so every batch has ``batch_size`` examples."""
    check_positive_int(n, "n")
    check_int(batch_size, "batch_size", minimum=1, maximum=n)
    check_int(step, "step", minimum=0)
    check_int(seed, "seed", minimum=0)
    per_epoch = n // batch_size
    epoch, i = divmod(step, per_epoch)
    perm = np.random.default_rng([seed, epoch]).permutation(n)
    return perm[i * batch_size : (i + 1) * batch_size]


def augment(images: np.ndarray, seed: int, step: int, pad: int = 4) -> np.ndarray:
    """Standard CIFAR augmentation (random ``pad``-pixel crop, horizontal flip), keyed by step.
    ``pad`` < ``min(H, W)``: a wider reflect padding would mirror the image more than once."""
    check_rank(images, "images", 4, "NHWC (batch, height, width, channels)")
    check_int(seed, "seed", minimum=0)
    check_int(step, "step", minimum=0)
    n, h, w, _ = images.shape
    check_int(pad, "pad", minimum=0, maximum=max(min(h, w) - 1, 0))
    rng = np.random.default_rng([seed, step, 1])
    padded = np.pad(images, ((0, 0), (pad, pad), (pad, pad), (0, 0)), mode="reflect")
    dy, dx = rng.integers(0, 2 * pad + 1, size=(2, n))
    flip = rng.random(n) < 0.5
    out = np.stack([padded[k, dy[k] : dy[k] + h, dx[k] : dx[k] + w] for k in range(n)])
    out[flip] = out[flip, :, ::-1]
    return out


def train_batch(ds: Dataset, batch_size: int, step: int, seed: int, augmentation: bool = False) -> dict:
    """The deterministic training batch for ``step``: ``{'image': float32 NHWC, 'label': int32}``."""
    _check_dataset(ds)
    check_bool(augmentation, "augmentation")
    idx = batch_indices(len(ds.train), batch_size, step, seed)
    images = ds.train.images[idx]
    if augmentation:
        images = augment(images, seed, step)
    return {"image": normalize(images, ds.mean, ds.std), "label": ds.train.labels[idx]}


def eval_batches(ds: Dataset, batch_size: int):
    """The test split in order; the last batch is padded and carries a 0/1 ``mask`` (arguments are
    checked when called, not at the first ``next``)."""
    _check_dataset(ds)
    check_positive_int(batch_size, "batch_size")
    return _eval_batches(ds, batch_size)


def _check_dataset(ds) -> None:
    if not isinstance(ds, Dataset):
        raise ArgumentTypeError(f"ds must be a Dataset (see load_dataset), got {type(ds).__name__}")


def _eval_batches(ds: Dataset, batch_size: int):
    n = len(ds.test)
    for start in range(0, n, batch_size):
        idx = np.arange(start, start + batch_size)
        mask = (idx < n).astype(np.float32)
        idx = np.minimum(idx, n - 1)
        yield {"image": normalize(ds.test.images[idx], ds.mean, ds.std), "label": ds.test.labels[idx], "mask": mask}
