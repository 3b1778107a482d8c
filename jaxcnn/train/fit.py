"""``fit``: the one training loop of the library (and of every experiment in the repository).

One device is a mesh of one; several devices, or several processes after
``jax.distributed.initialize``, are a 1-D data-parallel mesh (``jax.jit``, batch sharded, state
replicated: see ``parallel.py``). Resume is bit-identical for a ``train_data`` that is a function of
the step or whose iterator has ``get_state``/``set_state`` (see ``feed.py``); step keys derive from
``(state.rng, step)``. The next batch is read and put on the devices while the current step runs.
"""

from __future__ import annotations

import contextlib
import json
import os
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax
from tqdm import tqdm

from jaxcnn.train import parallel
from jaxcnn.train.checkpoint import Checkpointer
from jaxcnn.train.feed import Feed, put_for
from jaxcnn.train.state import TrainState, check_optimizer, create_train_state
from jaxcnn.train.steps import LossFn, batch_keys, check_batch, check_label_range, make_eval_step, make_train_step
from jaxcnn.validation import ArgumentTypeError, check_bool, check_callable, check_int, check_positive_int

__all__ = ["FitResult", "fit", "truncate_metrics"]


@dataclass
class FitResult:
    """What ``fit`` returns: the final ``state`` (replicated over the mesh), the ``history`` rows
    written to ``metrics.jsonl`` by this call, ``step_s`` the wall time of every step (the first
    includes compilation) and ``start_step`` the step it resumed from (0 for a fresh run)."""

    state: TrainState
    history: list[dict] = field(default_factory=list)
    step_s: list[float] = field(default_factory=list)
    start_step: int = 0
    wall_s: float = 0.0
    skipped_steps: int = 0
    devices: int = 1

    @property
    def evals(self) -> list[dict]:
        """The rows that carry an evaluation."""
        return [r for r in self.history if any(k.startswith("test_") for k in r)]


def truncate_metrics(path: Path, last_step: int):
    """Keep the rows of steps <= ``last_step``: a resumed run rewrites what came after."""
    if path.exists():
        lines = [ln for ln in path.read_text().splitlines() if ln.strip() and json.loads(ln)["step"] <= last_step]
        path.write_text("".join(ln + "\n" for ln in lines))


def fit(
    model_or_state: nn.Module | TrainState,
    train_data: Callable[[int], dict] | Iterable[dict],
    steps: int,
    *,
    tx: optax.GradientTransformation | None = None,
    seed: int = 0,
    task: str = "classify",
    loss_fn: LossFn | None = None,
    rng_streams: Sequence[str] = ("dropout",),
    label_smoothing: float = 0.0,
    compute_dtype: Any = None,
    input_key: str = "image",
    eval_data: Callable[[], Iterable[dict]] | Sequence[dict] | None = None,
    eval_fn: Callable[[TrainState], dict] | None = None,
    eval_every: int | Sequence[int] | None = None,
    out: str | os.PathLike | None = None,
    ckpt_every: int | None = 100,
    keep: int = 3,
    resume: bool = False,
    devices: int | Sequence | None = None,
    mesh: jax.sharding.Mesh | None = None,
    max_skipped: int = 5,
    log_every: int = 1,
    progress: bool = True,
    desc: str = "fit",
    on_step: Callable[[int, dict], None] | None = None,
) -> FitResult:
    """Train until ``state.step == steps`` (counted from 0: a resumed run, or a state that has already
    trained, runs only the steps it lacks).

      model_or_state: a Flax module (then ``tx`` is required; it is initialised from ``seed`` on
        the first batch) or a ``TrainState``.
      train_data: ``step -> batch`` or an iterable of batches: dicts of arrays holding the *global*
        batch (divisible by the devices), or this process's rows of it for a ``process_local``
        source (``jaxcnn.data`` loader). See ``feed.py`` for what resumes bit for bit.
      task, loss_fn, rng_streams, label_smoothing, compute_dtype, input_key: as in
        :func:`jaxcnn.train.make_train_step`.
      eval_data: eval batches (a list, or a function returning them; padded rows marked by
        ``batch['mask']``), logged as ``test_*`` means; or ``eval_fn``: ``state -> dict`` instead.
      eval_every: every N steps, or the list of steps; the last step always evaluates.
      out: ``out/metrics.jsonl`` (a row every ``log_every`` steps, the mean over them) and
        checkpoints in ``out/ckpt`` every ``ckpt_every`` steps and at the end (``None``: none), the
        newest ``keep`` kept. ``resume`` restores the latest; without it an ``out`` that holds
        checkpoints is refused.
      devices, mesh: ``mesh``, or a 1-D mesh over ``devices`` (a count or a list; default all).
      on_step: called as ``on_step(step, metrics)`` after every step (host floats).

    Labels outside ``[0, num_classes)`` (built-in classification loss) raise ``ValueError`` before
    the step; ``max_skipped`` skipped steps in a row raise ``FloatingPointError``. Every argument is
    checked before anything is built, read or traced.
    """
    is_state = isinstance(model_or_state, TrainState)
    if not is_state and not isinstance(model_or_state, nn.Module):
        raise ArgumentTypeError(f"model_or_state must be a flax Module or a TrainState, got {model_or_state!r}")
    if not callable(train_data) and not isinstance(train_data, Iterable):
        raise ArgumentTypeError(f"train_data must be a function (step -> batch) or an iterable, got {train_data!r}")
    check_int(steps, "steps", minimum=0)
    if is_state and tx is not None:  # it would be silently ignored
        raise ValueError("tx is used only with a model: a TrainState carries its own optimiser (state.tx)")
    if not is_state and tx is None:
        raise ValueError("fit(model, ...) needs tx (an optax optimiser); or pass a TrainState")
    if not is_state:
        check_optimizer(tx, "tx")
    check_int(seed, "seed")
    train_step = make_train_step(
        task, label_smoothing, compute_dtype, loss_fn=loss_fn, rng_streams=rng_streams, input_key=input_key
    )
    if eval_data is not None and eval_fn is not None:
        raise ValueError("pass eval_data or eval_fn, not both")
    if eval_data is not None and not callable(eval_data):
        if not isinstance(eval_data, Iterable) or iter(eval_data) is eval_data:
            raise ArgumentTypeError(
                f"eval_data must be a list of batches (re-iterable, not an iterator) or a function "
                f"returning them, got {eval_data!r}"
            )
    check_callable(eval_fn, "eval_fn", allow_none=True)
    if eval_every is not None and eval_data is None and eval_fn is None:
        raise ValueError(f"eval_every={eval_every!r} given without eval_data or eval_fn: nothing to evaluate")
    if isinstance(eval_every, (list, tuple, range)):
        for s in eval_every:  # a step outside [1, steps] would silently never evaluate
            check_int(s, "eval_every", minimum=1, maximum=steps)
    elif eval_every is not None:
        check_positive_int(eval_every, "eval_every")
    if out is not None and not isinstance(out, (str, os.PathLike)):
        raise ArgumentTypeError(f"out must be a path (str or os.PathLike) or None, got {type(out).__name__}")
    if ckpt_every is not None:
        check_positive_int(ckpt_every, "ckpt_every")
    for name, v in (("log_every", log_every), ("keep", keep), ("max_skipped", max_skipped)):
        check_positive_int(v, name)
    check_bool(resume, "resume")
    if resume and out is None:
        raise ValueError("resume=True needs out (the folder holding the checkpoints)")
    if mesh is not None and devices is not None:
        raise ValueError("pass devices or mesh, not both (devices would be ignored)")
    if mesh is not None:
        parallel.check_mesh(mesh)
    elif isinstance(devices, (int, np.integer)):
        devices = parallel.select_devices(devices, "devices")
    mesh = mesh if mesh is not None else parallel.make_mesh(devices)
    check_bool(progress, "progress")
    if not isinstance(desc, str):
        raise ArgumentTypeError(f"desc must be a str, got {desc!r}")
    check_callable(on_step, "on_step", allow_none=True)
    main_process = jax.process_index() == 0
    with contextlib.ExitStack() as stack:  # closes the checkpointer, input, log and bar however fit ends
        # ---- checkpoints: where to start -------------------------------------------------------
        ckpt, metrics_path = None, None
        if out is not None:
            out = Path(out)
            out.mkdir(parents=True, exist_ok=True)
            metrics_path = out / "metrics.jsonl"
            if ckpt_every is not None:
                ckpt = stack.enter_context(Checkpointer(out / "ckpt", every=ckpt_every, keep=keep))
        if ckpt is not None and ckpt.latest_step() is not None and not resume:
            raise ValueError(f"{out} already holds checkpoints {ckpt.all_steps()}; resume or use a new out")
        resume_step = ckpt.latest_step() if resume and ckpt is not None else None
        start = resume_step if resume_step is not None else int(model_or_state.step) if is_state else 0

        # ---- input and state -------------------------------------------------------------------
        feed = Feed(train_data, start, None if resume_step is None else ckpt.data_state(resume_step))
        stack.callback(feed.close)
        first = feed.next(start) if start < steps or not is_state else None  # the batch of step ``start``
        if is_state:
            # A copy: the jitted step donates its input state, and the caller's must stay valid.
            state = jax.tree.map(jnp.array, model_or_state)
        else:
            check_batch(first, (input_key,), f"train_data's batch of step {start}")
            sample = jnp.asarray(np.asarray(first[input_key])[:1])
            state = create_train_state(model_or_state, jax.random.key(seed), sample, tx)
        state = parallel.put_replicated(state, mesh)
        if resume_step is not None:
            state = ckpt.restore(state)
        check_labels, num_classes = task == "classify" and loss_fn is None, None
        keys = batch_keys(task, loss_fn, input_key)
        start = int(jax.device_get(state.step))  # a trained TrainState continues from its own step
        log = None
        if metrics_path is not None and main_process:
            if not resume:
                metrics_path.write_text("")
            truncate_metrics(metrics_path, start)
            log = stack.enter_context(open(metrics_path, "a"))
        put = put_for(train_data)
        step_fn = parallel.mesh_step(train_step, mesh)
        evaluate = (
            eval_fn if eval_data is None else _evaluator(eval_data, mesh, task, compute_dtype, loss_fn, input_key)
        )
        eval_at = set() if evaluate is None else _eval_steps(eval_every, steps)

        # ---- loop ------------------------------------------------------------------------------
        result = FitResult(state=state, start_step=start, devices=mesh.devices.size)
        window, run_skipped, t0 = [], 0, time.perf_counter()
        disable = not progress or not main_process
        bar = stack.enter_context(tqdm(total=steps, initial=start, disable=disable, desc=desc, mininterval=1.0))

        def prepare(step, batch):  # host checks, then straight into the batch sharding
            nonlocal num_classes
            check_batch(batch, keys, f"train_data's batch of step {step}")
            if check_labels:
                num_classes = num_classes or _num_classes(state, batch[input_key])
                check_label_range(batch["label"], num_classes, f"train batch of step {step}")
            return put(batch, mesh), feed.state()

        pending = prepare(start, first) if start < steps else None
        for step in range(start, steps):
            (device_batch, data_state), pending, failed = pending, None, None
            t_step = time.perf_counter()
            state, metrics = step_fn(state, device_batch)  # dispatched; runs while the next batch loads
            if step + 1 < steps:
                try:
                    pending = prepare(step + 1, feed.next(step + 1))
                except Exception as e:  # raised once this step is logged and checkpointed
                    failed = e
            m = jax.device_get(metrics)  # blocks: the step is done
            m = {k: int(v) if np.issubdtype(np.asarray(v).dtype, np.integer) else float(v) for k, v in m.items()}
            result.step_s.append(time.perf_counter() - t_step)
            run_skipped = run_skipped + 1 if m["skipped"] else 0
            result.skipped_steps += m["skipped"]
            if run_skipped >= max_skipped:
                why = "the update made params non-finite" if m["nonfinite_update"] else "loss or gradients non-finite"
                why = "labels out of range" if m.get("bad_labels") else why
                raise FloatingPointError(
                    f"{run_skipped} steps in a row skipped (last step {step + 1}: {why}); "
                    "lower the learning rate or use float32"
                )
            window.append(m)
            done = step + 1
            if done % log_every == 0 or done == steps or done in eval_at:
                row = {"step": done}
                for k, v in m.items():  # the mean of each float metric over the window, the sum of counts
                    column = [w[k] for w in window]
                    row[k] = float(np.mean(column)) if isinstance(v, float) else int(sum(column))
                window = []
                if done in eval_at:
                    row.update({f"test_{k}": v for k, v in evaluate(state).items()})
                result.history.append(row)
                if log is not None:
                    log.write(json.dumps(row) + "\n")
                    log.flush()
            if ckpt is not None:
                ckpt.save(state, force=done == steps or failed is not None, data_state=data_state)
            bar.set_postfix(loss=f"{m['loss']:.4g}", skipped=result.skipped_steps, refresh=False)
            bar.update()
            if on_step is not None:
                on_step(done, m)
            if failed is not None:
                raise failed
    result.state, result.wall_s = state, time.perf_counter() - t0
    return result


def _num_classes(state: TrainState, sample) -> int:
    """The model's output width on one row (``eval_shape``: nothing is computed)."""
    x = jax.ShapeDtypeStruct((1,) + tuple(np.shape(sample)[1:]), np.asarray(sample).dtype)
    return int(jax.eval_shape(lambda v, x: state.apply_fn(v, x, train=False), state.variables, x).shape[-1])


def _eval_steps(eval_every, steps: int) -> set[int]:
    if isinstance(eval_every, (int, np.integer)):
        return set(range(int(eval_every), steps + 1, int(eval_every))) | {steps}
    return {int(s) for s in eval_every or ()} | {steps}


def _evaluator(eval_data, mesh, task, compute_dtype, loss_fn, input_key):
    """``state -> {name: mean}`` from eval batches (sums over the mesh, divided by the count)."""
    step = parallel.mesh_step(make_eval_step(task, compute_dtype, loss_fn=loss_fn, input_key=input_key), mesh, False)
    put = put_for(eval_data)

    def evaluate(state) -> dict:
        totals = None
        for batch in eval_data() if callable(eval_data) else eval_data:
            sums = jax.device_get(step(state, put(batch, mesh)))
            totals = sums if totals is None else {k: totals[k] + sums[k] for k in sums}
        if totals is None:
            raise ValueError("eval_data gave no batches")
        count = totals.pop("count")
        return {k: float(v / count) for k, v in totals.items()}

    return evaluate
