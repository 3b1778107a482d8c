"""Train an image classifier: ``python -m experiments.classify --model cifar_resnet20 --dataset cifar10``.

Trains through ``jaxcnn.train.fit`` (jit on a device mesh: ``--parallel mesh --devices N``; the legacy
``pmap`` path stays in the library, ``jaxcnn.train.pmap_step``, but not in this CLI). Writes
``OUT/metrics.jsonl`` (one JSON object per step: ``step``, ``loss``, ...; the test metrics on the last
row), checkpoints in ``OUT/ckpt`` and ``OUT/summary.json`` (final metrics, throughput). ``--resume``
continues from the latest checkpoint to bit-identical results: batches and keys depend only on
``(seed, step)``.
``--model`` is a registry name (``jaxcnn.models.list_models()``) or ``package.module:factory``.
"""

from __future__ import annotations

import argparse

from experiments._cli import HelpFormatter
import ast
import importlib
import os
import sys


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m experiments.classify", description=__doc__, formatter_class=HelpFormatter)
    p.add_argument("--model", default="cifar_resnet20")
    p.add_argument("--model-kw", action="append", default=[], metavar="KEY=VALUE",
                   help="extra model override, e.g. --model-kw scan_stages=True (repeatable)")
    p.add_argument("--dataset", default="cifar10")
    p.add_argument("--data-root", default=None, help="folder holding cifar10/ and mnist/ (default ../shared/data)")
    p.add_argument("--steps", type=int, default=500)
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--lr", type=float, default=0.1)
    p.add_argument("--momentum", type=float, default=0.9)
    p.add_argument("--weight-decay", type=float, default=5e-4)
    p.add_argument("--label-smoothing", type=float, default=0.0)
    p.add_argument("--schedule", choices=("cosine", "constant"), default="cosine")
    p.add_argument("--augment", action="store_true", help="random crop + flip")
    p.add_argument("--dtype", choices=("float32", "bfloat16"), default="float32", help="compute dtype")
    p.add_argument("--parallel", choices=("none", "mesh"), default="none",
                   help="none: one device; mesh: jit over --devices (default all) with the batch sharded")
    p.add_argument("--devices", type=int, default=None, help="device count (on CPU, forces N host devices)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default="runs/classify")
    p.add_argument("--resume", action="store_true")
    p.add_argument("--ckpt-every", type=int, default=100)
    p.add_argument("--keep", type=int, default=3)
    p.add_argument("--max-nonfinite", type=int, default=5,
                   help="stop after this many skipped steps (non-finite, bad labels) in a row")
    p.add_argument("--no-progress", action="store_true")
    args = p.parse_args(argv)
    for name in ("steps", "batch_size", "ckpt_every", "keep"):
        if getattr(args, name) < 1:
            p.error(f"--{name.replace('_', '-')} must be >= 1")
    if args.parallel == "none" and args.devices not in (None, 1):
        p.error(f"--parallel none runs on one device; got --devices {args.devices}")
    return args


def force_host_devices(n: int | None):
    """Ask XLA for ``n`` CPU devices; only possible before jax is imported, and an explicit
    ``XLA_FLAGS`` setting wins (too few devices then fail in ``select_devices``)."""
    flags = os.environ.get("XLA_FLAGS", "")
    if n and "jax" not in sys.modules and "xla_force_host_platform_device_count" not in flags:
        os.environ["XLA_FLAGS"] = f"{flags} --xla_force_host_platform_device_count={n}".strip()


def build_model(name: str, num_classes: int, in_channels: int, bn_axis_name: str | None, extra: list[str]):
    """A registry model, or ``module:factory`` called with the same keyword overrides."""
    kw = dict(num_classes=num_classes, in_channels=in_channels)
    for item in extra:
        key, sep, value = item.partition("=")
        if not sep:
            raise ValueError(f"--model-kw expects KEY=VALUE, got {item!r}")
        try:
            kw[key] = ast.literal_eval(value)
        except (ValueError, SyntaxError):
            kw[key] = value
    if bn_axis_name is not None:
        kw["bn_axis_name"] = bn_axis_name
    if ":" in name:
        module, _, attr = name.partition(":")
        return getattr(importlib.import_module(module), attr)(**kw)
    from jaxcnn.models import create_model, list_models
    if name not in list_models():
        raise ValueError(f"unknown model {name!r}; choose from {sorted(list_models())} or pass module:factory")
    return create_model(name, **kw)


def main(argv=None) -> dict:
    args = parse_args(argv)
    force_host_devices(args.devices)
    from experiments.classify_loop import run  # imports jax, after the device flags are set
    return run(args)


if __name__ == "__main__":
    try:
        main()
    except ValueError as e:
        sys.exit(f"error: {e}")
