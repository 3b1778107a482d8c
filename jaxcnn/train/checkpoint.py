"""Orbax checkpoints of a ``TrainState``: periodic, atomic, keep-last-N, checksummed, restore latest.

Orbax renames a step's directory only when it is complete, and catches truncated or missing files,
but not flipped bytes: every array's CRC-32 (with dtype and shape) is stored in the step's metadata
and checked on restore. Restoring never deletes anything: a corrupt or incompatible checkpoint
raises ``ValueError`` naming the step, and the earlier ones stay on disk.
"""

from __future__ import annotations

import os
import zlib

import jax
import numpy as np
import orbax.checkpoint as ocp

from jaxcnn.train.state import TrainState
from jaxcnn.validation import ArgumentTypeError, check_bool, check_int, check_positive_int

__all__ = ["checksums", "Checkpointer", "restore_arrays"]

_FIELDS = ("step", "params", "batch_stats", "opt_state")


def _to_tree(state: TrainState) -> dict:
    # Typed PRNG keys are not serialisable; store their raw uint32 data.
    return {**{k: getattr(state, k) for k in _FIELDS}, "rng": jax.random.key_data(state.rng)}


def _host(x) -> np.ndarray:
    # A replicated global array (multi-host included) has its whole value on every process.
    if isinstance(x, jax.Array) and not x.is_fully_addressable and x.is_fully_replicated:
        return np.asarray(x.addressable_data(0))
    return np.asarray(jax.device_get(x))


def checksums(tree) -> dict[str, str]:
    """``{path: 'dtype(shape):crc32'}`` of every array leaf of ``tree``."""

    def one(x):
        a = np.ascontiguousarray(_host(x))
        return f"{a.dtype}{tuple(a.shape)}:{zlib.crc32(a.tobytes()):08x}"

    return {jax.tree_util.keystr(path): one(x) for path, x in jax.tree_util.tree_leaves_with_path(tree)}


def _check_path(directory, name: str = "directory") -> None:
    if not isinstance(directory, (str, os.PathLike)) or not os.fspath(directory):
        raise ArgumentTypeError(f"{name} must be a path (str or os.PathLike), got {directory!r}")
    if os.path.exists(directory) and not os.path.isdir(directory):
        raise ValueError(f"{name} {os.fspath(directory)!r} is a file, expected a directory (or a path to create)")


def _check_step(step) -> int | None:
    return None if step is None else check_int(step, "step", minimum=0)


def _check_state(state, name: str) -> None:
    if not isinstance(state, TrainState):
        raise ArgumentTypeError(f"{name} must be a TrainState, got {type(state).__name__}")


class Checkpointer:
    """Save a ``TrainState`` every ``every`` steps into ``directory``, keeping the newest ``keep``.

    Saves are synchronous, atomic and checksummed. Use as a context manager, or call :meth:`close`.
    """

    def __init__(self, directory: str | os.PathLike, every: int = 100, keep: int = 3):
        _check_path(directory)
        every, keep = check_positive_int(every, "every"), check_positive_int(keep, "keep")
        self.directory, self.every = os.path.abspath(directory), every
        options = ocp.CheckpointManagerOptions(
            save_interval_steps=every, max_to_keep=keep, enable_async_checkpointing=False, cleanup_tmp_directories=True
        )
        self._manager = ocp.CheckpointManager(self.directory, options=options)

    def save(self, state: TrainState, force: bool = False, data_state=None) -> bool:
        """Save if ``state.step`` is on the interval (or ``force``); returns whether it saved.
        ``data_state`` (JSON-able: the input iterator's position) is stored with the step."""
        _check_state(state, "state")
        check_bool(force, "force")
        step = int(state.step)
        if step in self._manager.all_steps():
            return False
        if not force and step % self.every:  # (orbax alone would also save the first step it sees)
            return False
        tree = _to_tree(state)
        meta = {"checksums": checksums(tree), **({} if data_state is None else {"data_state": data_state})}
        return self._manager.save(step, args=ocp.args.StandardSave(tree), force=True, custom_metadata=meta)

    def all_steps(self) -> list[int]:
        """The steps on disk, oldest first."""
        return sorted(self._manager.all_steps())

    def data_state(self, step: int):
        """The ``data_state`` saved with ``step`` (``None`` if none was)."""
        step = _check_step(step)
        if step not in self.all_steps():
            raise ValueError(f"no checkpoint for step {step} in {self.directory} (steps on disk: {self.all_steps()})")
        return (self._manager.metadata(step).custom_metadata or {}).get("data_state")

    def latest_step(self) -> int | None:
        """The newest step on disk, or ``None``."""
        return self._manager.latest_step()

    def restore(self, template: TrainState, step: int | None = None) -> TrainState:
        """Restore ``step`` (default latest) into the structure, shapes and shardings of ``template``.

        Raises ``ValueError`` if there is no checkpoint, or if it is corrupt or incompatible
        with ``template`` (other model, other optimiser); nothing on disk is changed.
        """
        _check_state(template, "template")
        step = _check_step(step)
        steps = self.all_steps()
        step = steps[-1] if step is None and steps else step
        if step is None or step not in steps:
            raise ValueError(
                f"no checkpoint{'' if step is None else f' for step {step}'} in {self.directory}"
                f" (steps on disk: {steps})"
            )
        target = jax.tree.map(ocp.utils.to_shape_dtype_struct, _to_tree(template))
        try:
            tree = self._manager.restore(step, args=ocp.args.StandardRestore(target))
        except Exception as e:  # orbax raises many types for bad files; report them as one
            raise self._bad(step, steps, e) from e
        got = jax.tree.map(lambda a: (np.shape(a), np.dtype(a.dtype)), tree)
        want = jax.tree.map(lambda a: (a.shape, np.dtype(a.dtype)), target)
        if got != want:
            raise self._bad(step, steps, "shapes or dtypes differ from the model's")
        stored = (self._manager.metadata(step).custom_metadata or {}).get("checksums")
        if stored is None:
            raise self._bad(step, steps, "no checksums stored with it (saved by an older version?)")
        now = checksums(tree)
        wrong = sorted(k for k in stored if stored[k] != now.get(k)) + sorted(set(now) - set(stored))
        if wrong:
            raise self._bad(step, steps, f"checksum mismatch in {len(wrong)} array(s), e.g. {wrong[:3]}")
        rng = jax.random.wrap_key_data(tree["rng"], impl=jax.random.key_impl(template.rng))
        return template.replace(**{**tree, "rng": rng})

    def _bad(self, step, steps, why) -> ValueError:
        older = [s for s in steps if s < step]
        hint = f"; earlier checkpoints {older} are untouched (remove step {step} to resume from them)" if older else ""
        return ValueError(
            f"checkpoint step {step} in {self.directory} is corrupt or incompatible with the "
            f"model/optimiser: {str(why)[:300]}{hint}"
        )

    def close(self):
        """Finish pending work and release the manager."""
        self._manager.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def restore_arrays(directory: str | os.PathLike, step: int | None = None) -> dict:
    """The raw saved tree (numpy leaves) of ``step`` (default latest), for inspection and tests.

    ``directory`` must exist and ``step`` (if given) be one of the steps saved there."""
    _check_path(directory)
    step = _check_step(step)
    if not os.path.isdir(directory):
        raise ValueError(f"directory {os.fspath(directory)!r} does not exist (or is not a directory)")
    with ocp.CheckpointManager(
        os.path.abspath(directory), options=ocp.CheckpointManagerOptions(read_only=True)
    ) as manager:
        steps = sorted(manager.all_steps())
        if step is not None and step not in steps:
            raise ValueError(f"step {step} is not saved in {os.fspath(directory)} (steps on disk: {steps})")
        step = manager.latest_step() if step is None else step
        if step is None:
            raise ValueError(f"no checkpoint in directory {os.fspath(directory)}")
        return manager.restore(step, args=ocp.args.StandardRestore())
