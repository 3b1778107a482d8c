"""``fit``: the one training loop of the library (and of every experiment in the repository).

Sections, in the order a step goes through them: mesh, state, steps, input (host checks, then
sharding), update, log, evaluate, checkpoint. One device is a mesh of one; several devices, or
several processes after ``jax.distributed.initialize``, are a 1-D data-parallel mesh: ``jax.jit``
with the batch sharded and the state replicated, so BatchNorm statistics and a batch-mode
stochastic-depth coin are already global (see ``parallel.py``; ``pmap`` is the legacy path, not
used here).

Resume is bit-identical when ``train_data`` is a function of the step (``train_data(step) ->
batch``) or an iterable whose iterator has ``get_state``/``set_state`` (``jaxcnn.data.loader``, grain):
a resumed run restores the latest checkpoint, with the iterator's state saved beside it, and reads
exactly the batches an uninterrupted run would have seen; the step keys derive from
``(state.rng, step)`` (see ``feed.py``). The next batch is read and put on the devices, in the batch
sharding, while the current step runs (one batch ahead), so a step does not wait for a host copy.
"""

from __future__ import annotations

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
from jaxcnn.train.steps import LossFn, batch_keys, check_batch, check_step_args, make_eval_step, make_train_step
from jaxcnn.validation import ArgumentTypeError, check_bool, check_callable, check_int, check_positive_int

__all__ = ["FitResult", "fit", "truncate_metrics"]


@dataclass
class FitResult:
    """What ``fit`` returns.

    ``state`` is the final state (replicated over the mesh); ``history`` holds the rows written to
    ``metrics.jsonl`` by this call (``step``, the step's metrics, ``test_*`` at evaluations);
    ``step_s`` the wall time of every step (the first includes compilation); ``start_step`` the
    step it resumed from (0 for a fresh run).
    """

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


def _check_labels(batch: dict, num_classes: int, step: int):
    labels = np.asarray(batch["label"])
    bad = (labels < 0) | (labels >= num_classes)
    if bad.any():
        raise ValueError(
            f"train batch of step {step}: label(s) {sorted(set(labels[bad].tolist()))[:8]} at rows "
            f"{np.flatnonzero(bad.reshape(-1))[:8].tolist()} outside [0, {num_classes}) "
            "(num_classes from the model's output)"
        )


def _as_floats(metrics: dict) -> dict:
    return {k: (int(v) if np.issubdtype(np.asarray(v).dtype, np.integer) else float(v)) for k, v in metrics.items()}


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
    trained, runs only the steps it lacks and stops where an uninterrupted run would).

    Model and data:
      model_or_state: a Flax module (then ``tx`` is required; it is initialised from ``seed`` on
        the first batch's ``input_key`` rows) or a ``TrainState``.
      train_data: ``step -> batch`` or an iterable of batches (e.g. ``jaxcnn.data.loader(...)``); each
        batch is a dict of arrays with the *global* batch on the leading axis (divisible by the
        devices), or this process's rows of it for a source marked ``process_local`` (the
        ``jaxcnn.data`` loader). Resumable bit for bit when a function of the step or when the
        iterator has ``get_state``/``set_state`` (its state is saved with every checkpoint); any
        other iterator is replayed from its start on resume.
      task, loss_fn, rng_streams, label_smoothing, compute_dtype, input_key: as in
        :func:`jaxcnn.train.make_train_step` (the model contract is written there).
    Evaluation:
      eval_data: a zero-argument function returning eval batches, or a list of them (padded rows
        marked by ``batch['mask']``); mean loss and metrics are logged as ``test_*``.
      eval_fn: ``state -> dict`` instead (e.g. PSNR on whole images); its keys get ``test_``.
      eval_every: every N steps, or the list of steps; the last step always evaluates.
    Output and resume (``out`` set): ``out/metrics.jsonl`` (a row every ``log_every`` steps, the
      mean over them; evaluations added), checkpoints in ``out/ckpt`` every ``ckpt_every`` steps
      and at the end (``None``: none), the newest ``keep`` kept. With ``resume`` the latest
      checkpoint is restored and ``metrics.jsonl`` cut back to it; without, an ``out`` that
      already holds checkpoints is refused.
    Devices: ``mesh``, or a 1-D mesh over ``devices`` (a count or a list; default all devices
      of all processes).
    on_step: called as ``on_step(step, metrics)`` after every step (host floats), e.g. to drive an
      outer progress bar.
    Safety: a label outside ``[0, num_classes)`` raises ``ValueError`` before the step runs (the
      built-in classification loss); steps the jitted step skips (see ``steps.py``) are counted,
      and ``max_skipped`` of them in a row raise ``FloatingPointError``.

    Every argument is checked before anything is built, read or traced (``ValueError`` /
    ``TypeError`` naming it); each batch must be a dict holding ``input_key`` (and ``'label'`` for
    the built-in classification loss).
    """
    _check_fit_args(
        model_or_state,
        train_data,
        steps,
        tx=tx,
        seed=seed,
        eval_data=eval_data,
        eval_fn=eval_fn,
        eval_every=eval_every,
        out=out,
        ckpt_every=ckpt_every,
        keep=keep,
        resume=resume,
        devices=devices,
        mesh=mesh,
        max_skipped=max_skipped,
        log_every=log_every,
        progress=progress,
        desc=desc,
        on_step=on_step,
    )
    check_step_args(task, label_smoothing, compute_dtype, None, loss_fn, rng_streams, input_key)

    # ---- mesh ----------------------------------------------------------------------------------
    if mesh is None:
        chosen = (
            parallel.select_devices(devices, "devices")
            if devices is None or isinstance(devices, (int, np.integer))
            else list(devices)
        )
        mesh = parallel.make_mesh(chosen)
    n_dev = mesh.devices.size
    main_process = jax.process_index() == 0

    # ---- checkpoints: where to start -----------------------------------------------------------
    ckpt, metrics_path = None, None
    if out is not None:
        out = Path(out)
        out.mkdir(parents=True, exist_ok=True)
        metrics_path = out / "metrics.jsonl"
        if ckpt_every is not None:
            ckpt = Checkpointer(out / "ckpt", every=ckpt_every, keep=keep)
    if ckpt is not None and ckpt.latest_step() is not None:
        if not resume:
            ckpt.close()
            raise ValueError(f"{out} already holds checkpoints {ckpt.all_steps()}; resume or use a new out")
    resume_step = ckpt.latest_step() if resume and ckpt is not None else None
    is_state = isinstance(model_or_state, TrainState)
    start = resume_step if resume_step is not None else int(model_or_state.step) if is_state else 0

    # ---- input and state -----------------------------------------------------------------------
    try:
        feed = Feed(train_data, start, None if resume_step is None else ckpt.data_state(resume_step))
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
    except BaseException:
        if ckpt is not None:
            ckpt.close()
        raise
    check_labels, num_classes = task == "classify" and loss_fn is None, None
    keys = batch_keys(task, loss_fn, input_key)
    start = int(jax.device_get(state.step))  # a trained TrainState continues from its own step
    if metrics_path is not None and main_process:
        if resume:
            truncate_metrics(metrics_path, start)
        else:
            metrics_path.write_text("")
    put = put_for(train_data)

    # ---- steps ---------------------------------------------------------------------------------
    step_fn = parallel.mesh_step(
        make_train_step(
            task, label_smoothing, compute_dtype, loss_fn=loss_fn, rng_streams=rng_streams, input_key=input_key
        ),
        mesh,
    )
    evaluate = _evaluator(eval_data, eval_fn, mesh, task, compute_dtype, loss_fn, input_key, put_for(eval_data))
    eval_at = _eval_steps(eval_every, steps) if evaluate is not None else set()

    # ---- loop ----------------------------------------------------------------------------------
    result = FitResult(state=state, start_step=start, devices=n_dev)
    log = open(metrics_path, "a") if metrics_path is not None and main_process else None
    window, run_skipped, t0 = [], 0, time.perf_counter()
    try:
        with tqdm(
            total=steps, initial=start, disable=not progress or not main_process, desc=desc, mininterval=1.0
        ) as bar:

            def prepare(step, batch):  # host checks, then straight into the batch sharding
                nonlocal num_classes
                check_batch(batch, keys, f"train_data's batch of step {step}")
                if check_labels:
                    num_classes = num_classes or _num_classes(state, batch[input_key])
                    _check_labels(batch, num_classes, step)
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
                m = _as_floats(jax.device_get(metrics))  # blocks: the step is done
                result.step_s.append(time.perf_counter() - t_step)
                run_skipped = run_skipped + 1 if m["skipped"] else 0
                result.skipped_steps += m["skipped"]
                if run_skipped >= max_skipped:
                    why = (
                        "labels out of range"
                        if m.get("bad_labels")
                        else "the update made params non-finite (learning rate?)"
                        if m["nonfinite_update"]
                        else "loss or gradients non-finite"
                    )
                    raise FloatingPointError(
                        f"{run_skipped} steps in a row skipped (last step {step + 1}: {why}); "
                        "lower the learning rate or use float32"
                    )
                window.append(m)
                done = step + 1
                row = None
                if done % log_every == 0 or done == steps or done in eval_at:
                    row = {
                        "step": done,
                        **{
                            k: float(np.mean([w[k] for w in window]))
                            if isinstance(m[k], float)
                            else int(sum(w[k] for w in window))
                            for k in m
                        },
                    }
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
    finally:
        feed.close()
        if log is not None:
            log.close()
        if ckpt is not None:
            ckpt.close()
    result.state, result.wall_s = state, time.perf_counter() - t0
    return result


def _num_classes(state: TrainState, sample) -> int:
    """The model's output width on one row (``eval_shape``: nothing is computed)."""
    x = jax.ShapeDtypeStruct((1,) + tuple(np.shape(sample)[1:]), np.asarray(sample).dtype)
    out = jax.eval_shape(lambda v, x: state.apply_fn(v, x, train=False), state.variables, x)
    return int(out.shape[-1])


def _check_fit_args(
    model_or_state,
    train_data,
    steps,
    *,
    tx,
    seed,
    eval_data,
    eval_fn,
    eval_every,
    out,
    ckpt_every,
    keep,
    resume,
    devices,
    mesh,
    max_skipped,
    log_every,
    progress,
    desc,
    on_step,
) -> None:
    """Every argument of :func:`fit` that is not a step argument, before anything is built or traced."""
    is_state = isinstance(model_or_state, TrainState)
    if not is_state and not isinstance(model_or_state, nn.Module):
        raise ArgumentTypeError(
            f"model_or_state must be a flax Module or a TrainState, got {type(model_or_state).__name__}"
        )
    if not callable(train_data) and not isinstance(train_data, Iterable):
        raise ArgumentTypeError(
            f"train_data must be a function step -> batch or an iterable of batches, got {train_data!r}"
        )
    check_int(steps, "steps", minimum=0)
    if is_state:
        if tx is not None:  # it would be silently ignored
            raise ValueError("tx is used only with a model: a TrainState carries its own optimiser (state.tx)")
    else:
        if tx is None:
            raise ValueError("fit(model, ...) needs tx (an optax optimiser); or pass a TrainState")
        check_optimizer(tx, "tx")
    check_int(seed, "seed")
    if eval_data is not None and eval_fn is not None:
        raise ValueError("pass eval_data or eval_fn, not both")
    if eval_data is not None and not callable(eval_data):
        if not isinstance(eval_data, Iterable):
            raise ArgumentTypeError(
                f"eval_data must be a list of batches or a function returning them, got {eval_data!r}"
            )
        if iter(eval_data) is eval_data:
            raise ArgumentTypeError(
                "eval_data must be re-iterable (a list) or a function returning batches, not an iterator"
            )
    check_callable(eval_fn, "eval_fn", allow_none=True)
    if eval_every is not None:
        if eval_data is None and eval_fn is None:
            raise ValueError(f"eval_every={eval_every!r} given without eval_data or eval_fn: nothing to evaluate")
        if isinstance(eval_every, (list, tuple, range)):
            for s in eval_every:  # a step outside [1, steps] would silently never evaluate
                check_int(s, "eval_every", minimum=1, maximum=steps)
        else:
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
    if mesh is not None:
        if devices is not None:
            raise ValueError("pass devices or mesh, not both (devices would be ignored)")
        parallel.check_mesh(mesh)
    elif isinstance(devices, (int, np.integer)):
        check_positive_int(devices, "devices")
    elif devices is not None:
        parallel.check_devices(devices)
    check_bool(progress, "progress")
    if not isinstance(desc, str):
        raise ArgumentTypeError(f"desc must be a str, got {desc!r}")
    check_callable(on_step, "on_step", allow_none=True)


def _eval_steps(eval_every, steps: int) -> set[int]:
    if eval_every is None:
        return {steps}
    if isinstance(eval_every, (int, np.integer)):
        return set(range(int(eval_every), steps + 1, int(eval_every))) | {steps}
    return {int(s) for s in eval_every} | {steps}


def _evaluator(eval_data, eval_fn, mesh, task, compute_dtype, loss_fn, input_key, put=parallel.put_batch):
    """``state -> {name: mean}`` from eval batches (sums over the mesh, divided by the count)."""
    if eval_fn is not None:
        return eval_fn
    if eval_data is None:
        return None
    step = jax.jit(
        make_eval_step(task, compute_dtype, loss_fn=loss_fn, input_key=input_key),
        in_shardings=(parallel.replicated(mesh), parallel.batch_sharding(mesh)),
        out_shardings=parallel.replicated(mesh),
    )

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
