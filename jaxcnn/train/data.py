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

__all__ = ["DATA_ENV", "DATASETS", "Split", "Dataset", "stratified_split", "load_dataset", "normalize",
           "batch_indices", "augment", "train_batch", "eval_batches"]

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
    with gzip.open(path, "rb") as f:
        raw = f.read()
    got = int.from_bytes(raw[:4], "big")
    if got != magic:
        raise ValueError(f"{path}: IDX magic {got}, expected {magic}")
    ndim = magic & 0xFF
    dims = [int.from_bytes(raw[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim)]
    return np.frombuffer(raw, np.uint8, offset=4 + 4 * ndim).reshape(dims)


def _read_mnist(folder: Path) -> tuple[np.ndarray, np.ndarray]:
    images = _read_idx(folder / "t10k-images-idx3-ubyte.gz", 2051)[..., None]
    labels = _read_idx(folder / "t10k-labels-idx1-ubyte.gz", 2049).astype(np.int32)
    return images, labels


def _allocate(total: int, counts: np.ndarray) -> np.ndarray:
    """Split ``total`` over classes in proportion to ``counts`` (largest remainder, exact sum)."""
    quota = total * counts / counts.sum()
    alloc = np.floor(quota).astype(int)
    alloc[np.argsort(-(quota - alloc), kind="stable")[:total - alloc.sum()]] += 1
    return alloc


def stratified_split(labels: np.ndarray, n_train: int, n_test: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Fixed train/test indices with each class in proportion to its share of ``labels``.

    The split depends only on ``seed`` (default 0), never on the run's seed, so every run
    of a study trains and tests on the same images.
    """
    if n_train < 1 or n_test < 0 or n_train + n_test > len(labels):
        raise ValueError(f"n_train={n_train}, n_test={n_test} do not fit the {len(labels)} images available")
    rng = np.random.default_rng(seed)
    classes, counts = np.unique(labels, return_counts=True)
    k_train = _allocate(n_train, counts)
    k_test = _allocate(n_test, counts - k_train)
    train, test = [], []
    for c, a, b in zip(classes, k_train, k_test):
        idx = rng.permutation(np.flatnonzero(labels == c))
        train.append(idx[:a])
        test.append(idx[a:a + b])
    return np.sort(np.concatenate(train)), np.sort(np.concatenate(test))


def load_dataset(name: str, root: str | os.PathLike | None = None, n_train: int | None = None,
                 n_test: int | None = None) -> Dataset:
    """Load ``name`` ('cifar10' or 'mnist') from ``root`` (default: ``$JAXCNN_DATA``).

    Splits are stratified and fixed: 4,000 / 1,000 for CIFAR-10, 8,000 / 2,000 for MNIST
    (only the public test sets are on disk, so both splits come from them).
    """
    if name not in DATASETS:
        raise ValueError(f"unknown dataset {name!r}; expected one of {DATASETS}")
    if root is None:
        root = os.environ.get(DATA_ENV)
        if not root:
            raise ValueError(f"root is None and {DATA_ENV} is not set: pass root= (the folder holding {name}/) "
                             f"or set {DATA_ENV}")
    folder = Path(root) / name
    if not folder.is_dir():
        raise ValueError(f"dataset root {folder} does not exist (pass root= or set JAXCNN_DATA)")
    images, labels = (_read_cifar10 if name == "cifar10" else _read_mnist)(folder)
    d_tr, d_te = _SPLITS[name]
    tr, te = stratified_split(labels, n_train or d_tr, n_test or d_te)
    mean, std = _STATS[name]
    return Dataset(name, Split(images[tr], labels[tr]), Split(images[te], labels[te]),
                   int(labels.max()) + 1, mean, std)


def normalize(images: np.ndarray, mean, std) -> np.ndarray:
    """uint8 NHWC -> float32, per-channel standardised."""
    x = images.astype(np.float32) / 255.0
    return (x - np.asarray(mean, np.float32)) / np.asarray(std, np.float32)


def batch_indices(n: int, batch_size: int, step: int, seed: int) -> np.ndarray:
    """Indices of batch ``step``: epoch ``e`` is a permutation seeded by ``(seed, e)``.

    The remainder of each epoch is dropped so every batch has ``batch_size`` examples.
    """
    if not 0 < batch_size <= n:
        raise ValueError(f"batch_size must be in [1, {n}], got {batch_size}")
    per_epoch = n // batch_size
    epoch, i = divmod(step, per_epoch)
    perm = np.random.default_rng([seed, epoch]).permutation(n)
    return perm[i * batch_size:(i + 1) * batch_size]


def augment(images: np.ndarray, seed: int, step: int, pad: int = 4) -> np.ndarray:
    """Standard CIFAR augmentation (random ``pad``-pixel crop, horizontal flip), keyed by step."""
    rng = np.random.default_rng([seed, step, 1])
    n, h, w, _ = images.shape
    padded = np.pad(images, ((0, 0), (pad, pad), (pad, pad), (0, 0)), mode="reflect")
    dy, dx = rng.integers(0, 2 * pad + 1, size=(2, n))
    flip = rng.random(n) < 0.5
    out = np.stack([padded[k, dy[k]:dy[k] + h, dx[k]:dx[k] + w] for k in range(n)])
    out[flip] = out[flip, :, ::-1]
    return out


def train_batch(ds: Dataset, batch_size: int, step: int, seed: int, augmentation: bool = False) -> dict:
    """The deterministic training batch for ``step``: ``{'image': float32 NHWC, 'label': int32}``."""
    idx = batch_indices(len(ds.train), batch_size, step, seed)
    images = ds.train.images[idx]
    if augmentation:
        images = augment(images, seed, step)
    return {"image": normalize(images, ds.mean, ds.std), "label": ds.train.labels[idx]}


def eval_batches(ds: Dataset, batch_size: int):
    """The test split in order; the last batch is padded and carries a 0/1 ``mask``."""
    n = len(ds.test)
    for start in range(0, n, batch_size):
        idx = np.arange(start, start + batch_size)
        mask = (idx < n).astype(np.float32)
        idx = np.minimum(idx, n - 1)
        yield {"image": normalize(ds.test.images[idx], ds.mean, ds.std), "label": ds.test.labels[idx], "mask": mask}
