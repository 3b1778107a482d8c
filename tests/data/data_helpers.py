"""Tiny image folders written with Pillow in tmp_path (PNG: lossless, so pixels are known exactly)."""

import numpy as np
from PIL import Image

CLASSES = ("cat", "dog", "eel")


def write_folder(root, per_class=(3, 2, 4), size=(6, 5), seed=0, ext=".png"):
    """``root/<class>/<k>.png`` random RGB images; returns {relative path: (pixels, label)}."""
    rng = np.random.default_rng(seed)
    truth = {}
    for label, (name, n) in enumerate(zip(CLASSES, per_class)):
        (root / name).mkdir(parents=True, exist_ok=True)
        for k in range(n):
            px = rng.integers(0, 256, size + (3,), dtype=np.uint8)
            rel = f"{name}/{k:03d}{ext}"
            Image.fromarray(px).save(root / rel)
            truth[rel] = (px, label)
    return truth


def make_tiny(num_classes: int = 10, in_channels: int = 3, **_):
    """A BatchNorm + Dense classifier for the CLI tests (``--model data_helpers:make_tiny``)."""
    import flax.linen as nn

    class Tiny(nn.Module):
        @nn.compact
        def __call__(self, x, train: bool = False):
            x = nn.BatchNorm(use_running_average=not train)(x.reshape(x.shape[0], -1))
            return nn.Dense(num_classes)(x)

    return Tiny()


def array_loader(**kw):
    """A loader over 40 fixed random 8x8 RGB images (crop + flip + normalize), batch 8, in-process."""
    from jaxcnn.data import ArraySource, loader, transforms

    rng = np.random.default_rng(0)
    src = ArraySource(rng.integers(0, 256, (40, 8, 8, 3), dtype=np.uint8), rng.integers(0, 10, 40))
    return loader(
        src,
        8,
        transform=transforms.compose(transforms.cifar_train(2), transforms.normalize((0.5,) * 3, (0.25,) * 3)),
        seed=0,
        worker_count=0,
        **kw,
    )
