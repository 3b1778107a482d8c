"""Host batches for ``fit``, step after step, and where the input stands after each (for checkpoints).

``train_data`` is a function of the step (resumable by construction) or an iterable of batches. An
iterator with ``get_state()`` / ``set_state(state)`` (``jaxcnn.data``'s loader, grain) has its state
(JSON-able or ``bytes``) saved with each checkpoint and restored on resume, so a resumed run reads
the batches an uninterrupted run would; any other iterator is replayed from its start. A source with
``process_local = True`` gives each process only its rows of the global batch.
"""

from __future__ import annotations

import base64
import json

import jax
import numpy as np

from jaxcnn.train import parallel
from jaxcnn.validation import ArgumentTypeError

__all__ = ["Feed", "put_local_batch", "put_for"]

_BYTES = "__bytes_base64__"


def _encode(state):
    if isinstance(state, bytes):
        return {_BYTES: base64.b64encode(state).decode()}
    try:
        json.dumps(state)
    except TypeError as e:
        raise ArgumentTypeError(
            f"train_data's iterator get_state() gave a state that is neither JSON-able nor "
            f"bytes ({e}); it cannot be saved with a checkpoint"
        ) from e
    return state


def _decode(state):
    if isinstance(state, dict) and set(state) == {_BYTES}:
        return base64.b64decode(state[_BYTES])
    return state


class Feed:
    """``next(step)``: the host batch of ``step`` (asked in order from ``start``); ``state()``: the
    iterator's state after the last batch handed out (``None`` if it has no ``get_state``).
    ``train_data`` is checked by ``fit``."""

    def __init__(self, train_data, start: int, data_state=None):
        self.start, self._fn, self._it, self._own = start, None, None, False
        if callable(train_data):
            self._fn = train_data
            return
        self._it = iter(train_data)
        self._own = self._it is not train_data  # an iterator we made is ours to close
        if start and data_state is not None and hasattr(self._it, "set_state"):
            self._it.set_state(_decode(data_state))
        else:
            for i in range(start):  # replay: the iterator cannot jump
                self._next(i)

    def _next(self, step: int):
        try:
            return next(self._it)
        except StopIteration:
            raise ValueError(f"train_data ran out of batches at step {step}") from None

    def next(self, step: int) -> dict:
        return self._fn(step) if self._fn is not None else self._next(step)

    def state(self):
        if self._it is None or not hasattr(self._it, "get_state"):
            return None
        return _encode(self._it.get_state())

    def close(self) -> None:
        if self._own and hasattr(self._it, "close"):
            self._it.close()


def put_local_batch(local_batch: dict, mesh) -> dict:
    """Assemble the global batch from each process's own rows (the leading axis of every entry)."""
    sharding = parallel.batch_sharding(mesh)
    nproc, n_dev = jax.process_count(), mesh.devices.size

    def put(path, x):
        x = np.asarray(x)
        rows = x.shape[0] * nproc if x.ndim else 0
        if x.ndim == 0 or rows % n_dev:
            raise ValueError(
                f"local batch {jax.tree_util.keystr(path)}: {x.shape[0] if x.ndim else 'scalar'} rows on "
                f"each of {nproc} process(es) = {rows} do not split over the {n_dev} devices"
            )
        return jax.make_array_from_process_local_data(sharding, x, (rows,) + x.shape[1:])

    return jax.tree_util.tree_map_with_path(put, local_batch)


def put_for(data):
    """The function that places ``data``'s batches on the mesh: per-process rows or the global batch."""
    return put_local_batch if getattr(data, "process_local", False) else parallel.put_batch
