"""Data parallelism, each path meant to compute what one device computes on the global batch.

* mesh (what ``fit`` uses, single or multi-host): ``jax.jit`` with the batch sharded over a 1-D
  ``Mesh`` and the state replicated; XLA inserts the collectives, so the plain
  (``axis_name=None``) step is already global, BatchNorm statistics included. Add no ``pmean``.
* ``pmap`` (legacy, kept for existing code and as a cross-check): one replica per device;
  ``make_train_step(axis_name=AXIS)`` averages gradients, BatchNorm needs the same ``axis_name``
  and random streams are folded with the device index except the ``'<stream>_global'`` ones.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import flax.jax_utils
import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding
from jax.sharding import PartitionSpec as P

from jaxcnn.validation import ArgumentTypeError, check_bool, check_callable, check_positive_int

__all__ = [
    "AXIS",
    "select_devices",
    "check_devices",
    "check_mesh",
    "check_batch_size",
    "replicate",
    "unreplicate",
    "shard_batch",
    "pmap_step",
    "make_mesh",
    "replicated",
    "batch_sharding",
    "put_replicated",
    "put_batch",
    "mesh_step",
]

AXIS = "batch"


def select_devices(n: int | None = None, name: str = "n") -> list:
    """The first ``n`` devices (all if ``None``); an error naming the caller's argument ``name`` if too few."""
    devices = jax.devices()
    if n is None:
        return devices
    n = check_positive_int(n, name)
    if n > len(devices):
        raise ValueError(
            f"{name}: devices={n} requested but only {len(devices)} {devices[0].platform} device(s) exist"
            " (on CPU set XLA_FLAGS=--xla_force_host_platform_device_count=N before importing jax)"
        )
    return devices[:n]


def check_batch_size(batch_size: int, num_devices: int) -> int:
    """Per-device batch size; ValueError if ``batch_size`` does not split evenly."""
    check_positive_int(batch_size, "batch_size")
    check_positive_int(num_devices, "num_devices")
    if batch_size % num_devices:
        raise ValueError(f"batch_size={batch_size} is not divisible by the device count {num_devices}")
    return batch_size // num_devices


def check_devices(devices, name: str = "devices") -> list:
    """A non-empty sequence of distinct ``jax.Device`` objects (an empty one would give an empty mesh)."""
    if isinstance(devices, (str, bytes)) or not isinstance(devices, (Sequence, np.ndarray)):
        raise ArgumentTypeError(f"{name} must be a list of jax devices (e.g. jax.devices()[:2]), got {devices!r}")
    devices = list(np.asarray(devices, dtype=object).ravel()) if isinstance(devices, np.ndarray) else list(devices)
    if not devices:
        raise ValueError(f"{name} must hold at least one device, got an empty list")
    if not all(isinstance(d, jax.Device) for d in devices):
        raise ArgumentTypeError(f"{name} must hold jax devices, got {devices!r}")
    if len(set(devices)) != len(devices):
        raise ValueError(f"{name} lists a device more than once: {devices!r}")
    return devices


def check_mesh(mesh) -> None:
    """A 1-D :class:`~jax.sharding.Mesh` over the data axis, as :func:`make_mesh` builds."""
    if not isinstance(mesh, Mesh):
        raise ArgumentTypeError(f"mesh must be a jax.sharding.Mesh (see make_mesh), got {type(mesh).__name__}")
    if tuple(mesh.axis_names) != (AXIS,):
        raise ValueError(f"mesh must be 1-D with the axis name {AXIS!r} (see make_mesh), got axes {mesh.axis_names}")


def _split_rows(tree, num_devices: int, name: str) -> None:
    """Every leaf of ``tree`` has a leading axis divisible by ``num_devices``."""
    for path, x in jax.tree_util.tree_leaves_with_path(tree):
        shape = np.shape(x)
        where = jax.tree_util.keystr(path) or "the array"
        if len(shape) < 1:
            raise ValueError(f"{name}: {where} is a scalar; every entry needs a leading batch axis")
        if shape[0] % num_devices:
            raise ValueError(
                f"{name}: {where}: batch_size={shape[0]} is not divisible by the device count "
                f"{num_devices} (num_devices); use a batch size that is a multiple of it"
            )


def replicate(tree, devices: Sequence):
    """Copy ``tree`` onto each device along a new leading axis (for ``pmap``)."""
    return flax.jax_utils.replicate(tree, check_devices(devices))


def unreplicate(tree):
    """Replica 0 of a replicated tree: every leaf has a leading device axis (as ``replicate`` gives)."""

    def first(path, x):
        if len(np.shape(x)) < 1:
            raise ValueError(
                f"tree: {jax.tree_util.keystr(path) or 'the leaf'} is a scalar; unreplicate takes "
                f"replica 0 of a leading device axis (the output of replicate or pmap)"
            )
        return x[0]

    return jax.tree_util.tree_map_with_path(first, tree)


def shard_batch(batch: dict, num_devices: int) -> dict:
    """Reshape each array's leading axis ``B`` to ``(num_devices, B // num_devices)``."""
    check_positive_int(num_devices, "num_devices")
    _split_rows(batch, num_devices, "batch")
    return jax.tree.map(lambda x: x.reshape((num_devices, x.shape[0] // num_devices) + x.shape[1:]), batch)


def pmap_step(step_fn: Callable, devices: Sequence, donate: bool = True) -> Callable:
    """``jax.pmap`` a step built with ``axis_name=AXIS`` over ``devices`` (the legacy path)."""
    check_callable(step_fn, "step_fn")
    devices = check_devices(devices)
    check_bool(donate, "donate")
    return jax.pmap(step_fn, axis_name=AXIS, devices=devices, donate_argnums=(0,) if donate else ())


# ---- jit + mesh (single or multi-host) --------------------------------------------------------


def make_mesh(devices: Sequence | None = None) -> Mesh:
    """A 1-D data-parallel mesh named ``AXIS`` over ``devices`` (default: all, every process)."""
    devices = jax.devices() if devices is None else check_devices(devices)
    return Mesh(np.asarray(devices), (AXIS,))


def replicated(mesh: Mesh) -> NamedSharding:
    """Every device holds the whole value (the train state)."""
    check_mesh(mesh)
    return NamedSharding(mesh, P())


def batch_sharding(mesh: Mesh) -> NamedSharding:
    """The leading (batch) axis split over the mesh."""
    check_mesh(mesh)
    return NamedSharding(mesh, P(AXIS))


def put_replicated(tree, mesh: Mesh):
    """Place ``tree`` (identical on every process) replicated over ``mesh``; multi-host builds each
    global array from this process's copy (typed PRNG keys through their raw key data)."""
    sharding = replicated(mesh)
    if jax.process_count() == 1:
        return jax.device_put(tree, sharding)

    def put(x):
        if jax.dtypes.issubdtype(x.dtype, jax.dtypes.prng_key):
            return jax.random.wrap_key_data(put(jax.random.key_data(x)), impl=jax.random.key_impl(x))
        return jax.make_array_from_process_local_data(sharding, np.asarray(x))

    return jax.tree.map(put, tree)


def put_batch(global_batch: dict, mesh: Mesh) -> dict:
    """Shard a global batch (the same on every process) over ``mesh``; each process contributes its own rows."""
    sharding = batch_sharding(mesh)
    nproc, pid = jax.process_count(), jax.process_index()
    _split_rows(global_batch, mesh.devices.size, "global_batch")

    def put(x):
        x = np.asarray(x)
        local = x.shape[0] // nproc
        return jax.make_array_from_process_local_data(sharding, x[pid * local : (pid + 1) * local], x.shape)

    return jax.tree.map(put, global_batch)


def mesh_step(step_fn: Callable, mesh: Mesh, donate: bool = True) -> Callable:
    """``jax.jit`` a plain (``axis_name=None``) step: state replicated, batch sharded, outputs replicated."""
    check_callable(step_fn, "step_fn")
    check_bool(donate, "donate")
    return jax.jit(  # replicated(mesh) checks the mesh
        step_fn,
        in_shardings=(replicated(mesh), batch_sharding(mesh)),
        out_shardings=replicated(mesh),
        donate_argnums=(0,) if donate else (),
    )
