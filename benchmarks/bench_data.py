"""Input-pipeline benchmarks; every figure is a ratio measured in this one run.

  cifar     images/s of read + decode + augment (pad-crop-flip) + normalize + batch from
            cifar10-full/train: jaxcnn.data.loader vs torch DataLoader + torchvision transforms,
            same files, same worker count, same batch
  imagenet  the same at 224 px (random resized crop + flip) on JPEG copies of CIFAR images upscaled
            to 256x320 in a temporary folder (the decode path of a real ImageNet run)
  train     CIFAR ResNet-20 batch-128 train step time through fit: fed by the loader vs one
            in-memory batch

``python benchmarks/bench_data.py [cifar|imagenet|train|all] [--data DIR] [--workers N] [--batches N]``
(``--data``: the cifar10-full folder; default ``$JAXCNN_DATA/cifar10-full`` or ``../shared/data/cifar10-full``).
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import numpy as np

DEFAULT = Path(os.environ.get("JAXCNN_DATA", Path(__file__).resolve().parents[2] / "shared" / "data")) / "cifar10-full"
CIFAR_STATS = ((0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616))
IMAGENET_STATS = ((0.485, 0.456, 0.406), (0.229, 0.224, 0.225))


def _rate(it, batches: int, batch: int) -> tuple[float, float]:
    """(seconds to the first batch, images/s over the next ``batches``)."""
    t0 = time.perf_counter()
    next(it)
    first = time.perf_counter() - t0
    t = time.perf_counter()
    for _ in range(batches):
        next(it)
    return first, batches * batch / (time.perf_counter() - t)


def _jax_rate(root, transform, batch, workers, batches):
    from jaxcnn.data import ImageFolder, loader

    it = iter(loader(ImageFolder(root), batch, transform=transform, seed=0, worker_count=workers))
    try:
        return _rate(it, batches, batch)
    finally:
        it.close()


def _torch_rate(root, transform, batch, workers, batches):
    import torch
    from torchvision.datasets import ImageFolder as TorchFolder

    torch.manual_seed(0)
    dl = torch.utils.data.DataLoader(
        TorchFolder(str(root), transform=transform),
        batch_size=batch,
        shuffle=True,
        num_workers=workers,
        drop_last=True,
        persistent_workers=workers > 0,
    )

    def forever():  # epochs back to back, as the jaxcnn loader repeats
        while True:
            yield from dl

    return _rate(forever(), batches, batch)


def side_by_side(name, root, jax_tf, torch_tf, batch, workers, batches) -> dict:
    jf, jr = _jax_rate(root, jax_tf, batch, workers, batches)
    tf, tr = _torch_rate(root, torch_tf, batch, workers, batches)
    row = {
        "bench": name,
        "batch": batch,
        "workers": workers,
        "batches": batches,
        "jaxcnn_img_s": round(jr, 1),
        "torch_img_s": round(tr, 1),
        "ratio": round(jr / tr, 3),
        "jaxcnn_first_s": round(jf, 2),
        "torch_first_s": round(tf, 2),
    }
    print(row, flush=True)
    return row


def cifar(args) -> dict:
    import torchvision.transforms as TT

    from jaxcnn.data import transforms as T

    jax_tf = T.compose(T.cifar_train(), T.normalize("cifar10"))
    torch_tf = TT.Compose(
        [TT.RandomCrop(32, padding=4), TT.RandomHorizontalFlip(), TT.ToTensor(), TT.Normalize(*CIFAR_STATS)]
    )
    return side_by_side("cifar 32px", args.data / "train", jax_tf, torch_tf, 128, args.workers, args.batches)


def imagenet(args) -> dict:
    import torchvision.transforms as TT
    from PIL import Image

    from jaxcnn.data import transforms as T

    with tempfile.TemporaryDirectory() as tmp:
        src = args.data / "train"
        for c in sorted(p.name for p in src.iterdir() if p.is_dir())[:4]:
            (Path(tmp) / c).mkdir()
            for f in sorted((src / c).iterdir())[:128]:  # 512 files, 256x320 JPEG (quality 90)
                Image.open(f).convert("RGB").resize((320, 256), Image.BICUBIC).save(Path(tmp) / c / f.name, quality=90)
        jax_tf = T.compose(T.imagenet_train(224), T.normalize("imagenet"))
        torch_tf = TT.Compose(
            [TT.RandomResizedCrop(224), TT.RandomHorizontalFlip(), TT.ToTensor(), TT.Normalize(*IMAGENET_STATS)]
        )
        return side_by_side("imagenet-style 224px", tmp, jax_tf, torch_tf, 64, args.workers, max(4, args.batches // 10))


def train(args) -> dict:
    import jax
    import optax

    from jaxcnn.data import ImageFolder, loader
    from jaxcnn.data import transforms as T
    from jaxcnn.models import create_model
    from jaxcnn.train import fit

    steps = args.train_steps
    ld = loader(
        ImageFolder(args.data / "train"),
        128,
        transform=T.compose(T.cifar_train(), T.normalize("cifar10")),
        seed=0,
        worker_count=args.workers,
    )
    fixed = ld.batch(0)
    model = create_model("cifar_resnet20", num_classes=10)
    kw = dict(tx=optax.sgd(0.1, 0.9), progress=False)
    mem = fit(model, lambda step: fixed, steps, **kw)
    fed = fit(model, ld, steps, **kw)
    t_mem, t_fed = np.mean(mem.step_s[2:]), np.mean(fed.step_s[2:])  # past compile and worker start
    row = {
        "bench": "resnet20 b128 step",
        "steps": steps,
        "devices": jax.device_count(),
        "in_memory_s": round(float(t_mem), 4),
        "loader_s": round(float(t_fed), 4),
        "ratio": round(float(t_fed / t_mem), 3),
    }
    print(row, flush=True)
    return row


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("what", nargs="?", default="all", choices=("cifar", "imagenet", "train", "all"), help="section")
    p.add_argument("--data", type=Path, default=DEFAULT, help="the cifar10-full folder (train/ and test/)")
    p.add_argument("--workers", type=int, default=2, help="worker processes on both sides")
    p.add_argument("--batches", type=int, default=200, help="timed batches of the 32 px section (224 px: a tenth)")
    p.add_argument("--train-steps", type=int, default=30, help="train steps on each side of the train section")
    args = p.parse_args(argv)
    rows = []
    for name, fn in (("cifar", cifar), ("imagenet", imagenet), ("train", train)):
        if args.what in (name, "all"):
            rows.append(fn(args))
    return rows


if __name__ == "__main__":  # the guard keeps the worker processes (spawned) from re-running main
    main()
