"""Finding, loading and registering the oneDNN convolution handlers (``csrc/onednn_conv.cc``).

The handlers are a shared library built with the package (``setup.py``) next to this file, linked
against ``libdnnl.so.3`` from the ``onednn-cpu-gomp`` wheel. That library lives in the environment's
``lib/`` folder, which the dynamic loader does not search, so it is loaded first by its full path
(``RTLD_GLOBAL``); the handler library then resolves its ``DT_NEEDED`` entry against it. The
handlers are registered as XLA FFI targets for the ``cpu`` platform only.

When anything is missing (no compiled library, no oneDNN wheel, a load error), :func:`available`
is False and callers use XLA's own convolution; :func:`warn_unavailable` says why, once, in one line.
Nothing is downloaded or compiled at run time.
"""

from __future__ import annotations

import ctypes
import glob
import importlib.metadata
import os
import warnings

import jax

__all__ = ["TARGETS", "available", "unavailable_reason", "warn_unavailable", "onednn_version"]

# FFI target name -> exported handler symbol.
TARGETS = {
    "jaxcnn_onednn_conv_fwd": "jaxcnn_onednn_conv_fwd",
    "jaxcnn_onednn_conv_bwd_data": "jaxcnn_onednn_conv_bwd_data",
    "jaxcnn_onednn_conv_bwd_weights": "jaxcnn_onednn_conv_bwd_weights",
}
_HERE = os.path.dirname(os.path.abspath(__file__))
_STATE: dict = {}


def _handler_library() -> str:
    found = sorted(glob.glob(os.path.join(_HERE, "_onednn_conv*.so")))
    if not found:
        raise OSError(
            f"the compiled handlers (_onednn_conv*.so) are not in {_HERE}; build them with "
            "`pip install -e .` or `python setup.py build_ext --inplace` (needs g++ and "
            "onednn-devel-cpu-gomp==2023.2.0)"
        )
    return found[-1]


def _load_onednn() -> None:
    """``libdnnl.so.3`` from the installed ``onednn-cpu-gomp`` wheel, else wherever the loader finds it."""
    try:
        dist = importlib.metadata.distribution("onednn-cpu-gomp")
        paths = [dist.locate_file(f) for f in dist.files or () if str(f).endswith("libdnnl.so.3")]
    except importlib.metadata.PackageNotFoundError:
        paths = []
    for path in paths:
        if os.path.exists(path):
            ctypes.CDLL(os.fspath(path), mode=ctypes.RTLD_GLOBAL)
            return
    try:
        ctypes.CDLL("libdnnl.so.3", mode=ctypes.RTLD_GLOBAL)
    except OSError as err:
        raise OSError("libdnnl.so.3 not found (install onednn-cpu-gomp==2023.2.0)") from err


def _load() -> None:
    if _STATE:
        return
    try:
        path = _handler_library()
        _load_onednn()
        lib = ctypes.CDLL(path)
        for target, symbol in TARGETS.items():
            jax.ffi.register_ffi_target(target, jax.ffi.pycapsule(getattr(lib, symbol)), platform="cpu")
        lib.jaxcnn_onednn_version.restype = ctypes.c_int
        _STATE.update(ok=True, reason="", version=lib.jaxcnn_onednn_version())
    except Exception as err:  # any failure means: use XLA's conv, and say why
        _STATE.update(ok=False, reason=f"{type(err).__name__}: {err}".splitlines()[0], version=None)


def available() -> bool:
    """Whether the oneDNN handlers are built, loaded and registered for the ``cpu`` platform."""
    _load()
    return _STATE["ok"]


def unavailable_reason() -> str:
    """Why :func:`available` is False ('' when it is True)."""
    _load()
    return _STATE["reason"]


def onednn_version() -> tuple[int, int, int] | None:
    """The oneDNN version the handlers run with, or None when they are unavailable."""
    _load()
    v = _STATE["version"]
    return None if v is None else (v // 10000, v // 100 % 100, v % 100)


def warn_unavailable() -> None:
    """One warning per process, in one line, when the handlers are unavailable."""
    if available() or _STATE.get("warned"):
        return
    _STATE["warned"] = True
    warnings.warn(
        f"jaxcnn: oneDNN convolutions unavailable, using XLA's conv on CPU ({unavailable_reason()})",
        RuntimeWarning,
        stacklevel=3,
    )
