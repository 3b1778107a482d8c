"""Random-access example sources: ``len(source)`` and ``source[i] -> {"image": uint8 HWC, "label": int}``.

* :class:`ImageFolder`: ``root/<class>/<file>`` (JPEG, PNG, BMP), decoded with Pillow to RGB.
* :class:`ArraySource`: in-memory uint8 NHWC images and integer labels.
* :func:`dataset_source`: a split of the CIFAR-10 / MNIST subsets of ``jaxcnn.train.data.load_dataset``.

Bad files stop the run: an unreadable, truncated or corrupt image raises ``ValueError`` naming the
file when it is read (a silently skipped example would change which examples an epoch holds and
break resume); a file whose extension is not an image's is refused when the folder is scanned.
``ImageFolder.verify()`` decodes every file up front and lists all the bad ones.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from jaxcnn.validation import ArgumentTypeError, check_choice, check_int, check_rank

__all__ = [
    "IMAGE_EXTENSIONS",
    "ArraySource",
    "ImageFolder",
    "check_same_classes",
    "dataset_source",
    "image_folder_splits",
    "read_image",
]

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp")
CLASSES_FILE = "classes.txt"


def _check_dir(path, name: str) -> Path:
    if not isinstance(path, (str, os.PathLike)) or not os.fspath(path):
        raise ArgumentTypeError(f"{name} must be a path (str or os.PathLike), got {path!r}")
    path = Path(path)
    if not path.is_dir():
        raise ValueError(f"{name}={os.fspath(path)!r} is not an existing directory")
    return path


def read_image(path: str | os.PathLike) -> np.ndarray:
    """Decode ``path`` to uint8 RGB HWC (grayscale, palette, RGBA and CMYK converted, alpha dropped).

    Raises ``ValueError`` naming the file if Pillow cannot decode it whole (truncated data included).
    """
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as im:
            return np.asarray(im.convert("RGB"))  # convert() loads all the data: truncation raises here
    except (OSError, SyntaxError, ValueError, UnidentifiedImageError, Image.DecompressionBombError) as e:
        raise ValueError(
            f"image file {os.fspath(path)!r} cannot be decoded ({type(e).__name__}: {e}); remove or replace it"
        ) from e


def _scan(root: Path, listed: Path) -> tuple[tuple[str, ...], tuple[str, ...], np.ndarray]:
    """``(classes, files relative to root, labels)`` of ``root``, classes in the order of ``listed``
    (a ``classes.txt``, checked to name each sub-folder once) when it exists, else sorted."""
    folders = sorted(d.name for d in root.iterdir() if d.is_dir() and not d.name.startswith("."))
    if listed.is_file():
        classes = [ln.strip() for ln in listed.read_text().splitlines() if ln.strip()]
        if len(set(classes)) != len(classes):
            raise ValueError(f"{listed} lists a class more than once")
        missing, extra = sorted(set(classes) - set(folders)), sorted(set(folders) - set(classes))
        if missing or extra:
            raise ValueError(
                f"{listed} does not match the sub-folders of {root}: listed without a folder "
                f"{missing[:5]}, folders not listed {extra[:5]}"
            )
    else:
        classes = folders
    if not classes:
        raise ValueError(f"root={os.fspath(root)!r} holds no class sub-folders (expected root/<class>/<image>)")
    files, labels = [], []
    for label, name in enumerate(classes):
        found = sorted(e.name for e in os.scandir(root / name) if e.is_file() and not e.name.startswith("."))
        other = [f for f in found if os.path.splitext(f)[1].lower() not in IMAGE_EXTENSIONS]
        if other:
            raise ValueError(
                f"{os.fspath(root / name / other[0])!r} is not an image file (extensions {IMAGE_EXTENSIONS}); "
                "move it out of the class folder"
            )
        if not found:
            raise ValueError(f"class folder {os.fspath(root / name)!r} holds no images")
        files += [os.path.join(name, f) for f in found]
        labels += [label] * len(found)
    return tuple(classes), tuple(files), np.asarray(labels, np.int32)


class ImageFolder:
    """Images in ``root/<class>/``; a class is a sub-folder.

    Labels follow the order of ``root/classes.txt`` (one folder name a line) when it exists, else the
    sorted folder names. Files are taken in sorted order from each class folder (not recursively);
    hidden files (``.name``) are ignored, any other file must have an image extension
    (``IMAGE_EXTENSIONS``, any case). Raises ``ValueError`` for an empty folder, a folder without class
    sub-folders, a class folder without images, a ``classes.txt`` that does not list exactly the
    sub-folders, or a non-image file (naming it).
    """

    def __init__(self, root: str | os.PathLike):
        self.root = _check_dir(root, "root")
        self.classes, self.files, self.labels = _scan(self.root, self.root / CLASSES_FILE)

    def __len__(self) -> int:
        return len(self.files)

    def __getitem__(self, index: int) -> dict:
        return {"image": read_image(self.path(index)), "label": int(self.labels[index])}

    def path(self, index: int) -> Path:
        """The file of example ``index``."""
        return self.root / self.files[check_int(index, "index", minimum=0, maximum=len(self) - 1)]

    def verify(self) -> list[str]:
        """Decode every file; return the error message of each bad one (empty: all good)."""
        bad = []
        for i in range(len(self)):
            try:
                read_image(self.path(i))
            except ValueError as e:
                bad.append(str(e))
        return bad

    def __repr__(self) -> str:
        return f"ImageFolder({os.fspath(self.root)!r}, {len(self)} images, {len(self.classes)} classes)"


class ArraySource:
    """In-memory examples: ``images`` uint8 NHWC, ``labels`` integers, one per image."""

    def __init__(self, images: np.ndarray, labels: np.ndarray, classes: tuple[str, ...] | None = None):
        check_rank(images, "images", 4, "NHWC (batch, height, width, channels)")
        check_rank(labels, "labels", 1, "(one class index per image)")
        if images.dtype != np.uint8:
            raise ArgumentTypeError(f"images must be uint8, got dtype {images.dtype}")
        if not np.issubdtype(labels.dtype, np.integer):
            raise ArgumentTypeError(f"labels must be integers, got dtype {labels.dtype}")
        if len(images) != len(labels):
            raise ValueError(
                f"images and labels must have the same length, got {len(images)} images and {len(labels)} labels"
            )
        if len(images) == 0:
            raise ValueError("images is empty: a source needs at least one example")
        self.images, self.labels = np.asarray(images), np.asarray(labels, np.int32)
        self.classes = tuple(classes) if classes is not None else tuple(map(str, range(self.labels.max() + 1)))

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, index: int) -> dict:
        index = check_int(index, "index", minimum=0, maximum=len(self) - 1)
        return {"image": self.images[index], "label": int(self.labels[index])}


def dataset_source(name: str, split: str = "train", data_dir: str | os.PathLike | None = None) -> ArraySource:
    """A split (``'train'`` or ``'test'``) of ``jaxcnn.train.data.load_dataset(name, data_dir)``."""
    from jaxcnn.train.data import load_dataset

    check_choice(split, "split", ("train", "test"))
    part = getattr(load_dataset(name, data_dir), split)
    return ArraySource(part.images, part.labels)


def check_same_classes(train, test) -> None:
    """``ValueError`` unless the two sources have the same classes in the same order."""
    a, b = tuple(getattr(train, "classes", ())), tuple(getattr(test, "classes", ()))
    if a != b:
        only_a, only_b = sorted(set(a) - set(b)), sorted(set(b) - set(a))
        why = f"only in train {only_a[:5]}, only in test {only_b[:5]}" if only_a or only_b else "a different order"
        raise ValueError(f"train and test have different classes: {why} (train {len(a)}, test {len(b)} classes)")


def image_folder_splits(data_dir: str | os.PathLike) -> tuple[ImageFolder, ImageFolder]:
    """``(ImageFolder(data_dir/train), ImageFolder(data_dir/test))``, checked to share their classes.

    A ``classes.txt`` in ``data_dir`` itself (and not in the splits) orders both."""
    data_dir = _check_dir(data_dir, "data_dir")
    for split in ("train", "test"):
        if not (data_dir / split).is_dir():
            raise ValueError(
                f"data_dir={os.fspath(data_dir)!r} has no {split}/ folder (expected an ImageFolder "
                "root with train/<class>/ and test/<class>/)"
            )
    splits = []
    for split in ("train", "test"):
        folder = ImageFolder(data_dir / split)
        if not (folder.root / CLASSES_FILE).exists() and (data_dir / CLASSES_FILE).is_file():
            folder.classes, folder.files, folder.labels = _scan(folder.root, data_dir / CLASSES_FILE)
        splits.append(folder)
    check_same_classes(*splits)
    return splits[0], splits[1]
