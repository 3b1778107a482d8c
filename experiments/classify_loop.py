"""What ``experiments.classify`` runs once the device flags are set: the data (the in-memory subsets,
or an ImageFolder through ``jaxcnn.data``'s grain loader), the model and the optimiser handed to
``jaxcnn.train.fit`` (the one training loop), and the summary it writes."""

from __future__ import annotations

import importlib
import json
from pathlib import Path

import jax.numpy as jnp
import optax

from experiments._cli import parse_value
from experiments._paths import is_image_folder
from jaxcnn.train import data, fit, make_optimizer


def build_model(
    name: str, num_classes: int, in_channels: int, bn_axis_name: str | None, extra: list[str], conv: str = "default"
):
    """A registry model, or ``module:factory`` called with the same keyword overrides; ``conv`` 'default'
    leaves the library's choice, 'xla'/'onednn' inject ``jaxcnn.xla_cpu.CONV_LOWERINGS[conv]`` into
    every block (same parameters as the default conv)."""
    kw = dict(num_classes=num_classes, in_channels=in_channels)
    if conv != "default":
        from jaxcnn.xla_cpu import CONV_LOWERINGS

        kw["conv"] = CONV_LOWERINGS[conv]
    for item in extra:
        key, sep, value = item.partition("=")
        if not sep:
            raise ValueError(f"--model-kw expects KEY=VALUE, got {item!r}")
        kw[key] = parse_value(value)
    if bn_axis_name is not None:
        kw["bn_axis_name"] = bn_axis_name
    if ":" in name:
        module, _, attr = name.partition(":")
        return getattr(importlib.import_module(module), attr)(**kw)
    from jaxcnn.models import create_model, list_models

    if name not in list_models():
        raise ValueError(f"unknown model {name!r}; choose from {sorted(list_models())} or pass module:factory")
    return create_model(name, **kw)


def in_memory_data(args):
    """``(train_data, eval_data, num_classes, channels)`` from the CIFAR-10 / MNIST subsets."""
    ds = data.load_dataset(args.dataset, args.data)
    return (
        lambda step: data.train_batch(ds, args.batch_size, step, args.seed, args.augment),
        lambda: data.eval_batches(ds, args.batch_size),
        ds.num_classes,
        ds.image_shape[-1],
    )


def image_folder_data(args):
    """``(train_loader, test_loader, num_classes, 3)`` from ``args.data``'s ``train/`` and ``test/``."""
    from jaxcnn.data import image_folder_splits, loader
    from jaxcnn.data import transforms as T

    train, test = image_folder_splits(args.data)
    imagenet = args.dataset == "imagenet"
    size = args.image_size or (224 if imagenet else train[0]["image"].shape[0])
    mean, std = (T.normalize(args.dataset).mean, T.normalize(args.dataset).std)
    norm = T.normalize(mean * (3 // len(mean)), std * (3 // len(std)))  # MNIST's one channel for RGB files
    resize = T.imagenet_eval(size) if imagenet else T.imagenet_eval(size, 1.0) if args.image_size else None
    augment = (
        (T.imagenet_train(size) if imagenet else T.compose(*[t for t in (resize, T.cifar_train()) if t]))
        if args.augment
        else resize
    )
    train_tf = T.compose(*[t for t in (augment, norm) if t])
    eval_tf = T.compose(*[t for t in (resize, norm) if t])
    train_loader = loader(train, args.batch_size, transform=train_tf, seed=args.seed, worker_count=args.workers)
    test_loader = loader(
        test,
        args.batch_size,
        transform=eval_tf,
        shuffle=False,
        num_epochs=1,
        drop_remainder=False,
        worker_count=args.workers,
    )
    return train_loader, test_loader, len(train.classes), 3


def run(args) -> dict:
    folder = is_image_folder(args.data)
    train_data, eval_data, num_classes, channels = (image_folder_data if folder else in_memory_data)(args)
    model = build_model(args.model, num_classes, channels, None, args.model_kw, args.conv)
    lr = optax.cosine_decay_schedule(args.lr, args.steps) if args.schedule == "cosine" else args.lr
    devices = 1 if args.parallel == "none" else args.devices
    result = fit(
        model,
        train_data,
        args.steps,
        tx=make_optimizer(lr, args.momentum, args.weight_decay, nesterov=args.nesterov),
        eval_every=args.eval_every,
        seed=args.seed,
        label_smoothing=args.label_smoothing,
        compute_dtype=None if args.dtype == "float32" else jnp.bfloat16,
        eval_data=eval_data,
        out=args.out,
        ckpt_every=args.ckpt_every,
        keep=args.keep,
        resume=args.resume,
        devices=devices,
        max_skipped=args.max_nonfinite,
        progress=not args.no_progress,
        desc=f"{args.model} {args.parallel}x{devices or 'all'}",
    )
    last = result.history[-1] if result.history else {}
    timed = result.step_s[1:]  # the first step compiles
    summary = {
        "model": args.model,
        "dataset": args.dataset,
        "data": str(args.data),
        "image_folder": folder,
        "parallel": args.parallel,
        "devices": result.devices,
        "steps": args.steps,
        "resumed_from": result.start_step,
        "batch_size": args.batch_size,
        "train_loss": last.get("loss"),
        "nonfinite_steps": result.skipped_steps,
        # Step time including the host-side batch and the metric fetch, excluding the compiling first step.
        "images_per_sec": len(timed) * args.batch_size / sum(timed) if timed else None,
        "wall_s": result.wall_s,
        "first_step_s": result.step_s[0] if result.step_s else None,
        **{k: v for k, v in last.items() if k.startswith("test_")},
    }
    (Path(args.out) / "summary.json").write_text(json.dumps(summary, indent=2))
    return summary


def evaluate_weights(args) -> dict:
    """``--eval-only``: accuracy of ``args.weights`` (``jaxcnn.pretrained``) on the whole test split."""
    import jax
    import numpy as np

    import jaxcnn

    folder = is_image_folder(args.data)
    _, eval_data, num_classes, channels = (image_folder_data if folder else in_memory_data)(args)
    model, variables = jaxcnn.pretrained(args.weights)
    if getattr(model, "num_classes", num_classes) != num_classes:
        raise ValueError(
            f"--weights {args.weights!r} has {model.num_classes} classes, the test split of {args.data} {num_classes}"
        )
    predict = jax.jit(lambda v, x: model.apply(v, x, train=False).argmax(-1))
    correct = count = 0
    for batch in eval_data() if callable(eval_data) else eval_data:
        mask = np.asarray(batch.get("mask", np.ones(len(batch["label"]))), bool)
        hits = np.asarray(predict(variables, batch["image"])) == np.asarray(batch["label"])
        correct, count = correct + int(hits[mask].sum()), count + int(mask.sum())
    summary = {"weights": str(args.weights), "data": str(args.data), "test_examples": count}
    summary["test_accuracy"] = correct / count
    Path(args.out).mkdir(parents=True, exist_ok=True)
    (Path(args.out) / "summary.json").write_text(json.dumps(summary, indent=2))
    return summary
