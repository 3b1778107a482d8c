"""Train an image classifier: ``python -m experiments.classify --model cifar_resnet20 --dataset cifar10``.

Data (``--data DIR``, default ``$JAXCNN_DATA`` or ``../shared/data`` beside the repository): a folder
holding ``cifar10/`` and ``mnist/`` (the in-memory subsets of ``jaxcnn.train.load_dataset``), or an
ImageFolder root with ``train/<class>/`` and ``test/<class>/`` (e.g. ``../shared/data/cifar10-full``,
or an ImageNet tree with ``--dataset imagenet``), read and augmented by ``jaxcnn.data``'s grain
workers (``--workers``) at ``--image-size``.

Trains through ``jaxcnn.train.fit`` (jit on a device mesh: ``--parallel mesh --devices N``; the legacy
``pmap`` path stays in the library, ``jaxcnn.train.pmap_step``, but not in this CLI). Writes
``OUT/metrics.jsonl`` (one JSON object per step: ``step``, ``loss``, ...; the test metrics on the last
row), checkpoints in ``OUT/ckpt`` and ``OUT/summary.json`` (final metrics, throughput). ``--resume``
continues from the latest checkpoint to bit-identical results: batches and keys depend only on
``(seed, step)`` (for an ImageFolder, the loader's position is saved with each checkpoint).
``--model`` is a registry name (``jaxcnn.models.list_models()``) or ``package.module:factory``.
"""

from __future__ import annotations

import argparse
import os
import sys

from experiments._cli import (
    HelpFormatter,
    existing_dir,
    flag_error,
    key_value,
    nonnegative_float,
    nonnegative_int,
    parse_value,
    positive_float,
    positive_int,
    probability,
)
from experiments._paths import DEFAULT_DATA, is_image_folder

IMAGE_FOLDER_DATASETS = ("imagenet",)  # only as an ImageFolder (--data with train/ and test/)


def parse_args(argv=None) -> argparse.Namespace:
    """Parse and check every flag; ``--model``/``--model-kw``/``--dataset`` against the registries.

    The registries import jax, so the XLA device flags (``--devices``) are set before that.
    """
    p = argparse.ArgumentParser(
        prog="python -m experiments.classify", description=__doc__, formatter_class=HelpFormatter
    )
    p.add_argument("--model", default="cifar_resnet20", help="registry name or package.module:factory")
    p.add_argument(
        "--model-kw",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        type=key_value,
        help="extra model override, e.g. --model-kw scan_stages=True (repeatable)",
    )
    p.add_argument(
        "--dataset",
        default="cifar10",
        help="cifar10 or mnist (in-memory subsets under --data, or an ImageFolder with their statistics "
        "and augmentation), or imagenet (an ImageFolder only)",
    )
    p.add_argument(
        "--data",
        default=str(DEFAULT_DATA),
        type=existing_dir,
        metavar="DIR",
        help="folder holding cifar10/ and mnist/, or an ImageFolder root with train/ and test/ "
        "($JAXCNN_DATA overrides the default)",
    )
    p.add_argument(
        "--workers",
        type=nonnegative_int,
        default=2,
        help="grain worker processes reading an ImageFolder (0: read in the main process)",
    )
    p.add_argument(
        "--image-size",
        type=positive_int,
        default=None,
        help="training/eval crop of an ImageFolder (default: 224 for imagenet, else the files' size)",
    )
    p.add_argument("--steps", type=positive_int, default=500, help="optimiser steps")
    p.add_argument("--batch-size", type=positive_int, default=128, help="global batch (all devices, all processes)")
    p.add_argument("--lr", type=positive_float, default=0.1, help="peak learning rate (SGD)")
    p.add_argument("--momentum", type=probability, default=0.9, help="SGD momentum, in [0, 1]")
    p.add_argument("--nesterov", action=argparse.BooleanOptionalAction, default=True, help="Nesterov momentum")
    p.add_argument(
        "--weight-decay", type=nonnegative_float, default=5e-4, help="L2 on the kernels, added to the gradient"
    )
    p.add_argument("--label-smoothing", type=probability, default=0.0, help="in [0, 1]")
    p.add_argument("--schedule", choices=("cosine", "constant"), default="cosine", help="learning-rate schedule")
    p.add_argument(
        "--augment",
        action="store_true",
        help="random crop + flip (an ImageFolder with --dataset imagenet: random resized crop + flip)",
    )
    p.add_argument(
        "--conv",
        choices=("default", "xla", "onednn"),
        default="default",
        help="convolution: the library's default (oneDNN on CPU, canonical-gradient convs in control flow), "
        "XLA's everywhere, or oneDNN's everywhere on CPU (jaxcnn.xla_cpu.OneDNNConv; XLA's on other platforms)",
    )
    p.add_argument("--dtype", choices=("float32", "bfloat16"), default="float32", help="compute dtype")
    p.add_argument(
        "--parallel",
        choices=("none", "mesh"),
        default="none",
        help="none: one device; mesh: jit over --devices (default all) with the batch sharded",
    )
    p.add_argument("--devices", type=positive_int, default=None, help="device count (on CPU, forces N host devices)")
    p.add_argument("--seed", type=nonnegative_int, default=0, help="initialisation, shuffle and augmentation seed")
    p.add_argument("--out", default="runs/classify", help="output folder (metrics.jsonl, ckpt/, summary.json)")
    p.add_argument("--resume", action="store_true", help="continue from the latest checkpoint in --out")
    p.add_argument(
        "--eval-every", type=positive_int, default=None, help="evaluate every N steps (default: at the last step only)"
    )
    p.add_argument(
        "--eval-only",
        action="store_true",
        help="no training: evaluate --weights (a shipped name, jaxcnn.list_pretrained(), or a file) on the test split",
    )
    p.add_argument(
        "--weights", default=None, metavar="NAME_OR_FILE", help="checkpoint evaluated by --eval-only (required there)"
    )
    p.add_argument("--ckpt-every", type=positive_int, default=100, help="checkpoint interval in steps")
    p.add_argument("--keep", type=positive_int, default=3, help="newest checkpoints kept")
    p.add_argument(
        "--max-nonfinite",
        type=positive_int,
        default=5,
        help="stop after this many skipped steps (non-finite, bad labels) in a row",
    )
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    args = p.parse_args(argv)
    if args.parallel == "none" and args.devices not in (None, 1):
        p.error(f"--parallel none runs on one device; got --devices {args.devices}")
    if args.eval_only != (args.weights is not None):
        p.error("--eval-only and --weights go together: --eval-only --weights NAME_OR_FILE")
    force_host_devices(args.devices)  # before the registries below import jax
    _check_names(p, args)
    return args


def _check_names(p: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """``--dataset`` and ``--model`` against the registries, ``--model-kw`` against the model's fields
    (a factory named ``module:factory`` is imported only by ``main`` and checks its own options)."""
    from jaxcnn.models import list_models
    from jaxcnn.train.data import DATASETS

    if args.dataset not in DATASETS + IMAGE_FOLDER_DATASETS:
        choices = list(DATASETS + IMAGE_FOLDER_DATASETS)
        flag_error(p, "--dataset", f"unknown dataset {args.dataset!r}; choose from {choices}")
    if args.dataset in IMAGE_FOLDER_DATASETS and not is_image_folder(args.data):
        flag_error(
            p, "--data", f"--dataset {args.dataset} needs an ImageFolder root with train/ and test/, got {args.data!r}"
        )
    if ":" in args.model:
        module, _, attr = args.model.partition(":")
        if not module or not attr.isidentifier():
            flag_error(p, "--model", f"expected a registry name or package.module:factory, got {args.model!r}")
        return
    if args.model not in list_models():
        flag_error(p, "--model", f"unknown model {args.model!r}; choose from {list_models()} or pass module:factory")
    problem = _model_kw_problem(args.model, args.model_kw)
    if problem:
        flag_error(p, "--model-kw", problem)


def _model_kw_problem(name: str, items: list[str]) -> str | None:
    """Why ``items`` (KEY=VALUE strings) do not fit registry model ``name``'s fields, or None.

    A value must have the type of the field's default (an int where an int is expected, a bool for a
    flag), so ``num_classes=abc`` or ``scan_stages=yes`` is refused here instead of deep in a trace."""
    import dataclasses

    from jaxcnn.models import create_model

    model = create_model(name)  # a flax module is a dataclass: building one traces nothing
    if not dataclasses.is_dataclass(model):
        return None
    fields = {f.name: f for f in dataclasses.fields(model) if f.name not in ("parent", "name")}
    for item in items:
        key, _, text = item.partition("=")
        value = parse_value(text)
        if key not in fields:  # a block option (groups=, shortcut_type=, ...) or unknown: create_model decides
            try:
                create_model(name, **{key: value})
            except (TypeError, ValueError) as e:
                return f"{name} does not take {item!r}: {e}"
            continue
        default = getattr(model, key)  # the registry's preset, else the field's default
        expected = _expected_type(default)
        if expected is not None and not _fits(value, expected):
            return (
                f"{item!r}: {key} of {name} expects {expected.__name__} (default {default!r}), "
                f"got {value!r} ({type(value).__name__})"
            )
    return None


def _expected_type(default):
    if default is None:  # an optional field: any type may be meant
        return None
    for t in (bool, int, float, str, tuple):
        if isinstance(default, t):
            return t
    return None


def _fits(value, expected) -> bool:
    if expected is bool:
        return isinstance(value, bool)
    if expected is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if expected is float:  # an int is a fine float (drop_path_rate=0)
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if expected is tuple:
        return isinstance(value, (tuple, list))
    return isinstance(value, expected)


def force_host_devices(n: int | None):
    """Ask XLA for ``n`` CPU devices; only possible before jax is imported, and an explicit
    ``XLA_FLAGS`` setting wins (too few devices then fail in ``select_devices``)."""
    flags = os.environ.get("XLA_FLAGS", "")
    if n and "jax" not in sys.modules and "xla_force_host_platform_device_count" not in flags:
        os.environ["XLA_FLAGS"] = f"{flags} --xla_force_host_platform_device_count={n}".strip()


def main(argv=None) -> dict:
    args = parse_args(argv)
    force_host_devices(args.devices)
    from experiments.classify_loop import evaluate_weights, run  # imports jax, after the device flags are set

    summary = (evaluate_weights if args.eval_only else run)(args)
    acc = summary.get("test_accuracy")
    print(f"test accuracy: {acc:.4f}" if acc is not None else "test accuracy: n/a", flush=True)
    return summary


if __name__ == "__main__":  # the guard also keeps grain's worker processes from re-running main
    try:
        main()
    except ValueError as e:
        sys.exit(f"error: {e}")
