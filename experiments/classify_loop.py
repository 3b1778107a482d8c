"""What ``experiments.classify`` runs once the device flags are set: the dataset, the model and the
optimiser handed to ``jaxcnn.train.fit`` (the one training loop), and the summary it writes."""

from __future__ import annotations

import json
from pathlib import Path

import jax.numpy as jnp
import optax

from experiments.classify import build_model
from jaxcnn.train import data, fit, make_optimizer


def run(args) -> dict:
    ds = data.load_dataset(args.dataset, args.data_root)
    model = build_model(args.model, ds.num_classes, ds.image_shape[-1], None, args.model_kw)
    lr = optax.cosine_decay_schedule(args.lr, args.steps) if args.schedule == "cosine" else args.lr
    devices = 1 if args.parallel == "none" else args.devices
    result = fit(model, lambda step: data.train_batch(ds, args.batch_size, step, args.seed, args.augment),
                 args.steps, tx=make_optimizer(lr, args.momentum, args.weight_decay), seed=args.seed,
                 label_smoothing=args.label_smoothing, compute_dtype=None if args.dtype == "float32" else jnp.bfloat16,
                 eval_data=lambda: data.eval_batches(ds, args.batch_size), out=args.out,
                 ckpt_every=args.ckpt_every, keep=args.keep, resume=args.resume, devices=devices,
                 max_skipped=args.max_nonfinite, progress=not args.no_progress,
                 desc=f"{args.model} {args.parallel}x{devices or 'all'}")
    last = result.history[-1] if result.history else {}
    timed = result.step_s[1:]  # the first step compiles
    summary = {
        "model": args.model, "dataset": args.dataset, "parallel": args.parallel, "devices": result.devices,
        "steps": args.steps, "resumed_from": result.start_step, "batch_size": args.batch_size,
        "train_loss": last.get("loss"), "nonfinite_steps": result.skipped_steps,
        # Step time including the host-side batch and the metric fetch, excluding the compiling first step.
        "images_per_sec": len(timed) * args.batch_size / sum(timed) if timed else None,
        "wall_s": result.wall_s, "first_step_s": result.step_s[0] if result.step_s else None,
        **{k: v for k, v in last.items() if k.startswith("test_")},
    }
    (Path(args.out) / "summary.json").write_text(json.dumps(summary, indent=2))
    return summary
