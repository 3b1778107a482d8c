"""PyTorch twin of the ``cifar10_resnet20`` recipe (``python -m experiments.recipes cifar10_resnet20``).

    python benchmarks/torch_cifar_reference.py --data ../shared/data/cifar10-full --out runs/torch_cifar10_resnet20

Written in plain torch for this comparison (no jaxcnn code): the same network (CIFAR ResNet-20,
option A shortcuts: subsample, zero-pad channels evenly), the same init scheme (convs normal with
variance 2 / fan_out, BatchNorm 1/0, the classifier's weight a truncated normal with variance
1 / fan_in as Flax's ``lecun_normal``, its bias 0), the same files (``train/`` and ``test/`` of an
ImageFolder, classes in ``classes.txt`` order, files sorted), the same recipe (batch 128, 390 steps
an epoch with the last partial batch dropped, SGD momentum 0.9 without Nesterov, learning rate 0.1
on a per-step cosine to 0, L2 5e-4 on conv and linear weights only, BatchNorm momentum 0.1 and
epsilon 1e-5, cross-entropy) and the same seed policy (epoch ``e`` in the order
``default_rng([seed, 0, e]).permutation(n)``; the example at position ``p`` of epoch ``e`` padded by 4
and cropped at ``default_rng([seed, 1, e * n + p]).integers(0, 9, 2)``, flipped when the next
``random() < 0.5``; CIFAR-10 mean/std normalisation). The initial weights are torch's own draw.

Writes ``OUT/metrics.jsonl`` (one row per epoch: loss, epoch seconds, test accuracy every
``--eval-every`` epochs), ``OUT/summary.json`` and ``OUT/ckpt.pt`` after every epoch (written to a
temporary file and renamed, read back with ``torch.load(weights_only=True)``); ``--resume`` continues
from it. Needs torch (the ``torch`` extra) and Pillow.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from torch import nn
from tqdm import tqdm

MEAN = np.array([0.4914, 0.4822, 0.4465], np.float32)  # CIFAR-10 training-set statistics
STD = np.array([0.2470, 0.2435, 0.2616], np.float32)


def image_folder(root: Path, classes: list[str]) -> tuple[list[Path], np.ndarray]:
    paths, labels = [], []
    for label, name in enumerate(classes):
        files = sorted(p for p in (root / name).iterdir() if p.suffix.lower() in (".jpg", ".jpeg", ".png"))
        paths += files
        labels += [label] * len(files)
    return paths, np.array(labels, np.int64)


def read(path: Path) -> np.ndarray:
    with Image.open(path) as im:
        return np.asarray(im.convert("RGB"), np.uint8)


def augment(img: np.ndarray, seed: int, index: int) -> np.ndarray:
    rng = np.random.default_rng([seed, 1, index])
    top, left = rng.integers(0, 9, size=2)
    flip = rng.random() < 0.5
    out = np.pad(img, ((4, 4), (4, 4), (0, 0)))[top : top + 32, left : left + 32]
    return out[:, ::-1] if flip else out


def to_tensor(images: list[np.ndarray]) -> torch.Tensor:
    x = (np.stack(images).astype(np.float32) / 255.0 - MEAN) / STD
    return torch.from_numpy(x).permute(0, 3, 1, 2).contiguous(memory_format=torch.channels_last)


class BasicBlock(nn.Module):
    def __init__(self, cin: int, cout: int, stride: int):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.stride, self.extra = stride, cout - cin

    def forward(self, x):
        h = self.bn2(self.conv2(F.relu(self.bn1(self.conv1(x)))))
        s = x[:, :, :: self.stride, :: self.stride]
        if self.extra:
            s = F.pad(s, (0, 0, 0, 0, self.extra // 2, self.extra - self.extra // 2))
        return F.relu(h + s)


class ResNet20(nn.Module):
    def __init__(self, num_classes: int = 10, n: int = 3):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 16, 3, 1, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(16)
        blocks, cin = [], 16
        for width, stride in ((16, 1), (32, 2), (64, 2)):
            for i in range(n):
                blocks.append(BasicBlock(cin, width, stride if i == 0 else 1))
                cin = width
        self.blocks = nn.Sequential(*blocks)
        self.fc = nn.Linear(64, num_classes)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
        std = math.sqrt(1.0 / 64) / 0.87962566103423978  # variance 1/fan_in after truncation at 2 std
        nn.init.trunc_normal_(self.fc.weight, 0.0, std, -2 * std, 2 * std)
        nn.init.zeros_(self.fc.bias)

    def forward(self, x):
        x = self.blocks(F.relu(self.bn1(self.conv1(x))))
        return self.fc(x.mean((2, 3)))


@torch.no_grad()
def evaluate(model, paths, labels, batch: int = 500) -> float:
    model.eval()
    correct = 0
    for i in range(0, len(paths), batch):
        x = to_tensor([read(p) for p in paths[i : i + batch]])
        correct += int((model(x).argmax(1).numpy() == labels[i : i + batch]).sum())
    model.train()
    return correct / len(paths)


def save(path: Path, state: dict) -> None:
    tmp = path.with_suffix(".tmp")
    torch.save(state, tmp)
    os.replace(tmp, path)  # the last good checkpoint survives a failed write


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", required=True, type=Path, help="ImageFolder root with train/ and test/")
    p.add_argument("--out", default="runs/torch_cifar10_resnet20", type=Path, help="output folder")
    p.add_argument("--epochs", type=int, default=30, help="epochs of 390 steps (default: 30, the recipe's)")
    p.add_argument("--eval-every", type=int, default=5, help="evaluate every N epochs (and after the last)")
    p.add_argument("--seed", type=int, default=0, help="init, shuffle and augmentation seed")
    p.add_argument("--threads", type=int, default=len(os.sched_getaffinity(0)), help="torch intra-op threads")
    p.add_argument("--resume", action="store_true", help="continue from OUT/ckpt.pt")
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    listed = args.data / "classes.txt"
    classes = listed.read_text().split() if listed.exists() else sorted(d.name for d in (args.data / "train").iterdir())
    train_paths, train_labels = image_folder(args.data / "train", classes)
    test_paths, test_labels = image_folder(args.data / "test", classes)
    n, batch = len(train_paths), 128
    per_epoch, total = n // batch, args.epochs * (n // batch)

    model = ResNet20(len(classes)).to(memory_format=torch.channels_last)
    decay = [p for p in model.parameters() if p.ndim > 1]
    no_decay = [p for p in model.parameters() if p.ndim <= 1]
    opt = torch.optim.SGD(
        [{"params": decay, "weight_decay": 5e-4}, {"params": no_decay, "weight_decay": 0.0}], lr=0.1, momentum=0.9
    )
    args.out.mkdir(parents=True, exist_ok=True)
    ckpt, metrics = args.out / "ckpt.pt", args.out / "metrics.jsonl"
    start, wall = 0, 0.0
    if args.resume and ckpt.exists():
        state = torch.load(ckpt, weights_only=True)
        model.load_state_dict(state["model"])
        opt.load_state_dict(state["opt"])
        start, wall = int(state["epoch"]), float(state["wall_s"])
        rows = [json.loads(r) for r in metrics.read_text().splitlines() if r.strip()]
        metrics.write_text("".join(json.dumps(r) + "\n" for r in rows if r["epoch"] <= start))
    elif not args.resume:
        metrics.write_text("")
    bar = tqdm(total=total, initial=start * per_epoch, desc="torch resnet20", unit="step")
    row = {}
    for epoch in range(start, args.epochs):
        t0 = time.perf_counter()
        order = np.random.default_rng([args.seed, 0, epoch]).permutation(n)
        losses = []
        for j in range(per_epoch):
            step = epoch * per_epoch + j
            for g in opt.param_groups:
                g["lr"] = 0.1 * 0.5 * (1 + math.cos(math.pi * step / total))
            pos = range(j * batch, (j + 1) * batch)
            x = to_tensor([augment(read(train_paths[order[q]]), args.seed, epoch * n + q) for q in pos])
            y = torch.from_numpy(train_labels[order[j * batch : (j + 1) * batch]])
            opt.zero_grad(set_to_none=True)
            loss = F.cross_entropy(model(x), y)
            loss.backward()
            opt.step()
            losses.append(loss.item())
            bar.update(1)
        epoch_s = time.perf_counter() - t0
        wall += epoch_s
        row = {"epoch": epoch + 1, "step": (epoch + 1) * per_epoch, "loss": float(np.mean(losses)), "epoch_s": epoch_s}
        if (epoch + 1) % args.eval_every == 0 or epoch + 1 == args.epochs:
            row["test_accuracy"] = evaluate(model, test_paths, test_labels)
            bar.write(f"epoch {epoch + 1}: loss {row['loss']:.4f}, test accuracy {row['test_accuracy']:.4f}")
        with metrics.open("a") as f:
            f.write(json.dumps(row) + "\n")
        save(ckpt, {"model": model.state_dict(), "opt": opt.state_dict(), "epoch": epoch + 1, "wall_s": wall})
    bar.close()
    rows = [json.loads(r) for r in metrics.read_text().splitlines() if r.strip()]
    epoch_times = [r["epoch_s"] for r in rows]
    summary = {
        "framework": f"torch {torch.__version__}",
        "threads": args.threads,
        "epochs": args.epochs,
        "steps": total,
        "test_accuracy": rows[-1].get("test_accuracy") if rows else None,
        "train_wall_s": wall,
        "median_epoch_s": float(np.median(epoch_times)) if epoch_times else None,
    }
    (args.out / "summary.json").write_text(json.dumps(summary, indent=2))
    print(f"test accuracy: {summary['test_accuracy']}", flush=True)
    return summary


if __name__ == "__main__":
    main()
