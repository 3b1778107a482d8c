"""``loader``: batches of a source through grain, sharded over JAX processes, resumable from a small state.

Epoch ``e`` visits the source in the order ``numpy.random.default_rng([seed, 0, e]).permutation(n)``
(``0..n-1`` without ``shuffle``); global batch ``j`` of an epoch holds positions ``j * batch_size ...
(j + 1) * batch_size - 1`` of that order. ``batch_size`` is the GLOBAL batch: each of the ``P`` JAX
processes (``grain.sharding.ShardByJaxProcess``) reads and transforms only its ``batch_size / P`` rows,
in process order (what ``jax.make_array_from_process_local_data`` assembles).

Each batch is a pure function of ``(seed, batch number)``: the iterator's state is the number of
batches handed out (plus the settings, checked on restore), so a resumed run sees the same bytes.

Batches are dicts of numpy arrays: ``"image"``, ``"label"`` int32 and, with ``drop_remainder=False``,
``"mask"`` float32 (0 on the rows that pad an epoch's last batch with copies of its last example).
``worker_count`` grain worker processes each build whole batches (``mp_prefetch``); 0 reads in the
calling process. An example that cannot be read stops iteration with the source's ``ValueError``.
"""

from __future__ import annotations

import os
from collections.abc import Callable

import numpy as np

from jaxcnn.validation import ArgumentTypeError, check_bool, check_int, check_positive_int

__all__ = ["Loader", "LoaderIterator", "loader"]

STATE_KEYS = ("batch", "seed", "batch_size", "num_examples", "shuffle", "drop_remainder", "num_epochs")


class _ReadBatch:
    """``(batch number, _) -> batch``: this process's rows of global batch ``batch number``."""

    def __init__(self, loader: Loader):
        self.ld = loader
        # A trailing Normalize runs once on the stacked uint8 batch (the same float32 operations per
        # element, so the same bytes): a quarter of the bytes to stack, one vectorised pass.
        self.transform, self.normalize = _split_normalize(loader.transform)
        self._perm = (None, None)

    def order(self, epoch: int) -> np.ndarray:
        if not self.ld.shuffle:
            return np.arange(self.ld.num_examples)
        if self._perm[0] != epoch:
            self._perm = (epoch, np.random.default_rng([self.ld.seed, 0, epoch]).permutation(self.ld.num_examples))
        return self._perm[1]

    def __call__(self, number: int, _=None) -> dict:
        ld, n = self.ld, self.ld.num_examples
        epoch, j = divmod(int(number), ld.batches_per_epoch)
        order = self.order(epoch)
        first = j * ld.batch_size + ld.rank * ld.local_batch_size
        images, labels, mask = [], [], []
        for pos in range(first, first + ld.local_batch_size):
            i = min(pos, n - 1)  # rows past the end pad with the epoch's last example
            ex = ld.source[int(order[i])]
            if self.transform is not None:
                ex = self.transform(ex, ld.seed, epoch * n + i)
            images.append(ex["image"])
            labels.append(ex["label"])
            mask.append(pos < n)
        images = np.stack(images)
        if self.normalize is not None:
            images = self.normalize({"image": images}, 0, 0, batched=True)["image"]
        batch = {"image": images, "label": np.asarray(labels, np.int32)}
        if not ld.drop_remainder:
            batch["mask"] = np.asarray(mask, np.float32)
        return batch


def _split_normalize(transform):
    """``(transform without a trailing Normalize, that Normalize or None)``."""
    from jaxcnn.data.transforms import Compose, Normalize

    if isinstance(transform, Normalize):
        return None, transform
    if isinstance(transform, Compose) and transform.transforms and isinstance(transform.transforms[-1], Normalize):
        rest = transform.transforms[:-1]
        return (Compose(rest) if rest else None), transform.transforms[-1]
    return transform, None


class LoaderIterator:
    """An iterator over a :class:`Loader`'s batches with ``get_state()`` / ``set_state(state)``.

    The state is a small JSON-able dict; ``set_state`` refuses one made with other settings."""

    def __init__(self, loader: Loader):
        self._loader, self._next, self._it = loader, 0, None

    def __iter__(self):
        return self

    def __next__(self) -> dict:
        if self._loader.num_batches is not None and self._next >= self._loader.num_batches:
            self.close()
            raise StopIteration
        if self._it is None:
            self._it = self._loader._grain_iter(self._next)
        batch = next(self._it)
        self._next += 1
        return batch

    def get_state(self) -> dict:
        """``{"batch": batches handed out, ...the loader's settings}``."""
        return {"batch": self._next, **self._loader._settings()}

    def set_state(self, state: dict) -> None:
        """Continue after the ``state["batch"]`` batches counted in ``state`` (from :meth:`get_state`)."""
        if not isinstance(state, dict) or set(state) != set(STATE_KEYS):
            raise ValueError(f"state must be a dict from get_state() with keys {STATE_KEYS}, got {state!r}")
        mine = self._loader._settings()
        diff = {k: (state[k], mine[k]) for k in mine if state[k] != mine[k]}
        if diff:
            raise ValueError(
                "state was saved by a loader with other settings (saved, now): "
                + ", ".join(f"{k}={a!r}/{b!r}" for k, (a, b) in diff.items())
            )
        self._next = check_int(state["batch"], "state['batch']", minimum=0)
        self.close()

    def close(self) -> None:
        """Stop the worker processes (a later ``next`` restarts them where the iterator is)."""
        it, self._it = self._it, None
        if it is not None and hasattr(it, "close"):
            it.close()

    def __del__(self):
        try:
            self.close()
        except Exception:  # interpreter shutdown
            pass


class Loader:
    """What :func:`loader` returns: iterable (each ``iter`` starts at batch 0), ``len`` = number of batches
    when ``num_epochs`` is set. ``process_local`` marks that a batch holds this process's rows only."""

    process_local = True

    def __init__(self, source, batch_size, transform, seed, shuffle, num_epochs, worker_count, drop_remainder):
        self.source, self.batch_size, self.transform, self.seed = source, batch_size, transform, seed
        self.shuffle, self.num_epochs, self.worker_count = shuffle, num_epochs, worker_count
        self.drop_remainder = drop_remainder
        import grain

        shard = grain.sharding.ShardByJaxProcess()  # the process index and count grain shards by
        self.rank, self.process_count = int(shard.shard_index), int(shard.shard_count)
        if batch_size % self.process_count:
            raise ValueError(
                f"batch_size={batch_size} (the global batch) is not divisible by the {self.process_count} JAX processes"
            )
        self.local_batch_size = batch_size // self.process_count
        n = self.num_examples = len(source)
        self.batches_per_epoch = n // batch_size if drop_remainder else -(-n // batch_size)
        self.num_batches = None if num_epochs is None else num_epochs * self.batches_per_epoch

    def _settings(self) -> dict:
        return {k: getattr(self, k) for k in STATE_KEYS[1:]}

    def __len__(self) -> int:
        if self.num_batches is None:
            raise TypeError("the loader repeats without end (num_epochs=None): it has no len")
        return self.num_batches

    def __iter__(self) -> LoaderIterator:
        return LoaderIterator(self)

    def batch(self, number: int) -> dict:
        """Batch ``number`` of the stream, read in this process (no workers)."""
        check_int(number, "number", minimum=0, maximum=None if self.num_batches is None else self.num_batches - 1)
        return _ReadBatch(self)(number)

    def _grain_iter(self, start: int):
        import grain
        from absl import flags

        if not flags.FLAGS.is_parsed():  # grain's workers read absl flags; their defaults are what is needed
            flags.FLAGS.mark_as_parsed()
        ds = grain.MapDataset.range(self.batches_per_epoch)
        ds = ds.repeat(self.num_epochs).map_with_index(_ReadBatch(self))[start:]
        ds = ds.to_iter_dataset(grain.ReadOptions(num_threads=1, prefetch_buffer_size=2))
        if self.worker_count:
            ds = ds.mp_prefetch(grain.MultiprocessingOptions(num_workers=self.worker_count))
        return iter(ds)

    def __repr__(self) -> str:
        return (
            f"Loader({self.source!r}, batch_size={self.batch_size}, seed={self.seed}, shuffle={self.shuffle}, "
            f"num_epochs={self.num_epochs}, worker_count={self.worker_count})"
        )


def loader(
    source,
    batch_size: int,
    *,
    transform: Callable | None = None,
    seed: int = 0,
    shuffle: bool = True,
    num_epochs: int | None = None,
    worker_count: int | None = None,
    drop_remainder: bool = True,
) -> Loader:
    """Batches of ``source`` (``len`` + ``source[i] -> {"image", "label"}``), read by grain workers.

    batch_size: the GLOBAL batch; each of the JAX processes reads ``batch_size / process_count`` rows.
    transform: ``(example, seed, index) -> example`` run in the workers (see ``jaxcnn.data.transforms``).
    seed: the shuffle and augmentation seed (>= 0). shuffle: a new permutation every epoch.
    num_epochs: ``None`` repeats without end. worker_count: worker processes (default ``min(8, cpus)``;
      0 reads in this process). drop_remainder: drop each epoch's last partial batch, else pad it and
      add ``"mask"``.
    """
    if not hasattr(source, "__len__") or not hasattr(source, "__getitem__"):
        raise ArgumentTypeError(
            f"source must support len() and [index] (e.g. ImageFolder), got {type(source).__name__}"
        )
    batch_size = check_positive_int(batch_size, "batch_size")
    if transform is not None and not callable(transform):
        raise ArgumentTypeError(
            f"transform must be a callable (example, seed, index) -> example or None, got {transform!r}"
        )
    seed = check_int(seed, "seed", minimum=0)
    shuffle, drop_remainder = check_bool(shuffle, "shuffle"), check_bool(drop_remainder, "drop_remainder")
    num_epochs = None if num_epochs is None else check_positive_int(num_epochs, "num_epochs")
    if worker_count is None:
        worker_count = min(8, os.cpu_count() or 1)
    worker_count = check_int(worker_count, "worker_count", minimum=0)
    n = len(source)
    if n == 0:
        raise ValueError("source is empty")
    if drop_remainder and batch_size > n:
        raise ValueError(
            f"batch_size={batch_size} is larger than the {n} examples of source and drop_remainder=True "
            "would leave no batch; lower batch_size or pass drop_remainder=False"
        )
    return Loader(source, batch_size, transform, seed, shuffle, num_epochs, worker_count, drop_remainder)
