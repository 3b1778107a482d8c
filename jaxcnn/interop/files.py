"""Reading and writing checkpoint files without pickle.

``.safetensors`` is read and written with ``safetensors.numpy`` (numpy only: no torch needed).
A torch ``.pth``/``.pt``/``.bin`` is read with ``torch.load(weights_only=True)`` when torch is
installed (that loader refuses arbitrary pickled objects). jaxcnn's own files keep Flax variables
under ``collection/module/.../leaf`` keys, with the architecture in the safetensors metadata.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from jaxcnn.validation import ArgumentTypeError, check_str

__all__ = [
    "TORCH_SUFFIXES",
    "FLAX_SUFFIXES",
    "read_safetensors",
    "write_safetensors",
    "read_checkpoint",
    "flatten_variables",
    "unflatten_variables",
    "write_flax",
    "read_msgpack",
]

TORCH_SUFFIXES = (".pth", ".pt", ".bin")
FLAX_SUFFIXES = (".safetensors", ".msgpack")


def _check_path(path) -> Path:
    if not isinstance(path, (str, Path)) and not hasattr(path, "__fspath__"):
        raise ArgumentTypeError(f"path must be a path (str or os.PathLike), got {path!r} ({type(path).__name__})")
    return Path(path)


def _check_file(path) -> Path:
    path = _check_path(path)
    if not path.is_file():
        raise ValueError(f"path {str(path)!r} is not a file (no such file, or a directory)")
    return path


def _check_mapping(value, name: str, str_values: bool = False) -> None:
    """A mapping with str keys (and str values if ``str_values``: safetensors metadata is text)."""
    if not isinstance(value, Mapping):
        raise ArgumentTypeError(f"{name} must be a mapping (dict), got {type(value).__name__}")
    bad = [k for k, v in value.items() if not isinstance(k, str) or (str_values and not isinstance(v, str))]
    if bad:
        what = "str keys and str values" if str_values else "str keys"
        raise ArgumentTypeError(f"{name} must have {what}, got {bad[0]!r}: {value[bad[0]]!r:.80}")


@contextlib.contextmanager
def _reading(path: Path, what: str):
    """Any error of the reader inside becomes a ValueError naming the file (the readers' own errors
    name neither the file nor the argument)."""
    try:
        yield
    except Exception as e:
        raise ValueError(f"path {str(path)!r} is not a readable {what} file (truncated or corrupt?): {e}") from e


def _np(t) -> np.ndarray:
    # a copy: .numpy() shares the tensor's memory, which torch may update in place later
    return t.detach().cpu().numpy().copy() if hasattr(t, "detach") else np.asarray(t)


def read_safetensors(path: str | Path) -> tuple[dict[str, np.ndarray], dict[str, str]]:
    """``(tensors, metadata)`` of a safetensors file, as numpy arrays (torch is never imported)."""
    from safetensors import safe_open

    path = _check_file(path)
    with _reading(path, "safetensors"), safe_open(str(path), framework="np") as f:
        return {k: f.get_tensor(k) for k in f.keys()}, dict(f.metadata() or {})


def write_safetensors(path: str | Path, tensors: Mapping[str, Any], metadata: Mapping[str, str] | None = None) -> None:
    """Write numpy-convertible ``tensors`` (contiguous copies) with string ``metadata``."""
    from safetensors.numpy import save_file

    _check_path(path)
    _check_mapping(tensors, "tensors")
    if metadata is not None:
        _check_mapping(metadata, "metadata", str_values=True)
    arrays = {k: np.ascontiguousarray(_np(v)) for k, v in tensors.items()}
    save_file(arrays, str(path), metadata=dict(metadata) if metadata else None)


def _unwrap(sd: Any) -> dict:
    """A state dict from what ``torch.load`` returns: nested ``state_dict``/``model`` entries and a
    DataParallel ``module.`` prefix are common in published checkpoints."""
    for key in ("state_dict", "model", "model_state"):
        if isinstance(sd, dict) and isinstance(sd.get(key), dict):
            sd = sd[key]
    if not isinstance(sd, dict):
        raise ValueError(f"checkpoint holds a {type(sd).__name__}, expected a state dict (a mapping of tensors)")
    if sd and all(k.startswith("module.") for k in sd):
        sd = {k[len("module.") :]: v for k, v in sd.items()}
    return sd


def read_checkpoint(path: str | Path) -> tuple[dict[str, np.ndarray], dict[str, str]]:
    """``(state dict as numpy, metadata)`` of a ``.safetensors`` file (numpy only), a jaxcnn ``.msgpack``,
    an experiments ``.npz`` (``params`` only) or a torch ``.pth``/``.pt``/``.bin``
    (``torch.load(weights_only=True)``). A truncated file, or a ``.pth`` holding pickled objects other
    than tensors, raises a ValueError naming the file."""
    path = _check_file(path)
    if path.suffix == ".safetensors":
        tensors, meta = read_safetensors(path)
        return _unwrap(tensors), meta
    if path.suffix == ".msgpack":
        return read_msgpack(path)
    if path.suffix == ".npz":  # experiments' save_params: the params collection, 'conv1/kernel' keys
        with _reading(path, "npz"), np.load(path, allow_pickle=False) as f:
            return {f"params/{k}": f[k] for k in f.files}, {}
    if path.suffix not in TORCH_SUFFIXES:
        raise ValueError(f"path {str(path)!r}: expected a suffix in {FLAX_SUFFIXES + ('.npz',) + TORCH_SUFFIXES}")
    try:
        import torch
    except ImportError as e:
        raise ValueError(f"reading {str(path)!r} needs torch (install jaxcnn[torch]) or a .safetensors copy") from e
    import pickle

    try:
        sd = torch.load(str(path), map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as e:
        why = [line.strip() for line in str(e).splitlines() if "Unpickler error" in line][:1]
        raise ValueError(
            f"path {str(path)!r} holds pickled objects other than tensors, which are never unpickled "
            f"(that runs arbitrary code); save model.state_dict() with torch.save or convert the file "
            f"to .safetensors. {' '.join(why)}"
        ) from e
    except (RuntimeError, OSError, EOFError) as e:
        raise ValueError(f"path {str(path)!r} is not a readable torch checkpoint (truncated or corrupt?): {e}") from e
    sd = _unwrap(sd)
    return {k: _np(v) for k, v in sd.items()}, {}


def flatten_variables(variables: Mapping) -> dict[str, np.ndarray]:
    """Flax variables as ``{'params/conv1/kernel': array, ...}``."""
    from flax import traverse_util

    _check_mapping(variables, "variables")
    return {k: np.asarray(v) for k, v in traverse_util.flatten_dict(dict(variables), sep="/").items()}


def unflatten_variables(flat: Mapping[str, np.ndarray]) -> dict:
    """Inverse of ``flatten_variables``."""
    from flax import traverse_util

    _check_mapping(flat, "flat")
    return traverse_util.unflatten_dict(dict(flat), sep="/")


def write_flax(
    path: str | Path,
    variables: Mapping,
    arch: str,
    overrides: Mapping | None = None,
    extra_metadata: Mapping[str, str] | None = None,
) -> None:
    """Save Flax ``variables`` of registry model ``arch`` (built with ``overrides``) to ``.safetensors``
    or ``.msgpack``; both record ``arch`` and ``overrides`` so ``jaxcnn.pretrained(path)`` rebuilds the model."""
    path = _check_path(path)
    if path.suffix not in FLAX_SUFFIXES:
        raise ValueError(f"path {str(path)!r}: expected a suffix in {FLAX_SUFFIXES}")
    flat = flatten_variables(variables)
    check_str(arch, "arch")
    if overrides is not None:
        _check_mapping(overrides, "overrides")
    if extra_metadata is not None:
        _check_mapping(extra_metadata, "extra_metadata", str_values=True)
    try:
        encoded = json.dumps(dict(overrides or {}), sort_keys=True)
    except TypeError as e:  # recorded as JSON so that pretrained(path) can rebuild the model
        raise ArgumentTypeError(f"overrides must be JSON-serialisable (numbers, strings, lists): {e}") from None
    meta = {"format": "jaxcnn", "arch": arch, "overrides": encoded, **dict(extra_metadata or {})}
    if path.suffix == ".safetensors":
        write_safetensors(path, flat, meta)
    else:  # .msgpack
        from flax import serialization

        path.write_bytes(serialization.msgpack_serialize({"metadata": meta, "variables": flat}))


def read_msgpack(path: str | Path) -> tuple[dict[str, np.ndarray], dict[str, str]]:
    """``(flat flax variables, metadata)`` of a file written by ``write_flax(... .msgpack)``."""
    from flax import serialization

    path = _check_file(path)
    with _reading(path, "msgpack"):
        payload = serialization.msgpack_restore(path.read_bytes())
    if not isinstance(payload, dict) or "variables" not in payload:
        raise ValueError(f"{str(path)!r} is not a jaxcnn msgpack file (no 'variables' entry)")
    return {k: np.asarray(v) for k, v in payload["variables"].items()}, dict(payload.get("metadata", {}))
