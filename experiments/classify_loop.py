"""The training loop behind ``experiments.classify`` (imports jax; the CLI sets device flags first)."""

from __future__ import annotations

import json
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import optax
from tqdm import tqdm

from experiments.classify import build_model, truncate_metrics
from jaxcnn.train import data, parallel
from jaxcnn.train.checkpoint import Checkpointer
from jaxcnn.train.state import create_train_state, make_optimizer
from jaxcnn.train.steps import make_eval_step, make_train_step


class Engine:
    """One of the three data-parallel paths behind a common put/step/get interface."""

    def __init__(self, kind: str, n: int | None, train_step_fn):
        self.kind = kind
        self.devices = parallel.select_devices(1 if kind == "none" else n)
        self.n = len(self.devices)
        if kind == "none":
            self.step = jax.jit(train_step_fn, donate_argnums=0)
        elif kind == "pmap":
            self.step = parallel.pmap_step(train_step_fn, self.devices)
        else:
            self.mesh = parallel.make_mesh(self.devices)
            self.step = parallel.mesh_step(train_step_fn, self.mesh)

    def put_state(self, state):
        if self.kind == "pmap":
            return parallel.replicate(state, self.devices)
        if self.kind == "mesh":
            return parallel.put_replicated(state, self.mesh)
        return jax.device_put(state, self.devices[0])

    def put_batch(self, batch):
        if self.kind == "pmap":
            return parallel.shard_batch(batch, self.n)
        if self.kind == "mesh":
            return parallel.put_batch(batch, self.mesh)
        return batch

    def host_state(self, state):
        """A single-copy state (for checkpoints and evaluation)."""
        return parallel.unreplicate(state) if self.kind == "pmap" else state

    def host_metrics(self, metrics) -> dict:
        metrics = jax.device_get(metrics)
        return {k: (v[0] if self.kind == "pmap" else v).item() for k, v in metrics.items()}


def evaluate(state, ds, batch_size: int, eval_step) -> dict:
    """Test-split loss and accuracy (padded last batch masked out)."""
    totals = None
    for batch in data.eval_batches(ds, batch_size):
        sums = jax.device_get(eval_step(state, batch))
        totals = sums if totals is None else {k: totals[k] + sums[k] for k in sums}
    count = totals.pop("count")
    return {f"test_{k}": float(v / count) for k, v in totals.items()}


def run(args) -> dict:
    ds = data.load_dataset(args.dataset, args.data_root)
    train_fn = make_train_step("classify", args.label_smoothing, None if args.dtype == "float32" else jnp.bfloat16,
                               axis_name=parallel.AXIS if args.parallel == "pmap" else None)
    engine = Engine(args.parallel, args.devices, train_fn)
    parallel.check_batch_size(args.batch_size, engine.n)
    model = build_model(args.model, ds.num_classes, ds.image_shape[-1],
                        parallel.AXIS if args.parallel == "pmap" else None, args.model_kw)
    lr = optax.cosine_decay_schedule(args.lr, args.steps) if args.schedule == "cosine" else args.lr
    tx = make_optimizer(lr, args.momentum, args.weight_decay)
    state = create_train_state(model, jax.random.key(args.seed), jnp.zeros((1,) + ds.image_shape), tx)

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    ckpt = Checkpointer(out / "ckpt", every=args.ckpt_every, keep=args.keep)
    metrics_path = out / "metrics.jsonl"
    if args.resume and ckpt.latest_step() is not None:
        state = ckpt.restore(state)
        truncate_metrics(metrics_path, int(state.step))
    elif ckpt.latest_step() is not None:
        raise ValueError(f"--out {out} already holds checkpoints {ckpt.all_steps()}; pass --resume or a new --out")
    else:
        metrics_path.write_text("")
    start = int(state.step)
    state = engine.put_state(state)

    nonfinite_run, nonfinite_total, t_first, m = 0, 0, None, {}
    t0 = time.perf_counter()
    with open(metrics_path, "a") as log, tqdm(total=args.steps, initial=start, disable=args.no_progress,
                                              desc=f"{args.model} {args.parallel}x{engine.n}") as bar:
        for step in range(start, args.steps):
            batch = data.train_batch(ds, args.batch_size, step, args.seed, args.augment)
            state, metrics = engine.step(state, engine.put_batch(batch))
            m = engine.host_metrics(metrics)  # blocks: the step is done
            if t_first is None:
                t_first = time.perf_counter()  # first step includes compilation
            log.write(json.dumps({"step": step + 1, **m}) + "\n")
            log.flush()
            nonfinite_run = nonfinite_run + 1 if m["nonfinite"] else 0
            nonfinite_total += m["nonfinite"]
            if nonfinite_run >= args.max_nonfinite:
                raise FloatingPointError(f"loss or gradients non-finite for {nonfinite_run} steps in a row "
                                         f"(last step {step + 1}); lower --lr or use --dtype float32")
            bar.set_postfix(loss=f"{m['loss']:.4f}", acc=f"{m['accuracy']:.3f}")
            bar.update()
            ckpt.save(engine.host_state(state), force=step + 1 == args.steps)
    wall = time.perf_counter() - t0
    timed_steps = args.steps - start - 1
    final = engine.host_state(state)
    eval_step = jax.jit(make_eval_step("classify", None if args.dtype == "float32" else jnp.bfloat16))
    summary = {
        "model": args.model, "dataset": args.dataset, "parallel": args.parallel, "devices": engine.n,
        "steps": args.steps, "resumed_from": start, "batch_size": args.batch_size,
        "train_loss": m.get("loss"), "nonfinite_steps": int(nonfinite_total),
        # End-to-end (data, step, logging, checkpoints), excluding the first (compiling) step.
        "images_per_sec": timed_steps * args.batch_size / (t0 + wall - t_first) if timed_steps > 0 else None,
        "wall_s": wall, "first_step_s": (t_first - t0) if t_first else None,
        **evaluate(jax.device_get(final), ds, args.batch_size, eval_step),
    }
    (out / "summary.json").write_text(json.dumps(summary, indent=2))
    ckpt.close()
    return summary
