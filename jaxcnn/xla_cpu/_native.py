"""Finding, loading and registering the oneDNN convolution handlers (``csrc/onednn_conv.cc``).

The handler library is built with the package (``setup.py``) next to this file and linked against
``libdnnl.so.3`` of the ``onednn-cpu-tbb`` wheel (TBB, not OpenMP: no spin barriers stalling a loaded
machine). oneDNN and its runtime live in the environment's ``lib/``, which the dynamic loader does not
search, so they are loaded first by full path (``RTLD_GLOBAL``). The handlers are registered as XLA
FFI targets for ``cpu`` only. When anything is missing, :func:`available` is False, callers use XLA's
conv and :func:`warn_unavailable` says why, once. Nothing is downloaded or compiled at run time.
"""

from __future__ import annotations

import ctypes
import glob
import importlib.metadata
import os
import warnings

import jax

__all__ = [
    "TARGETS",
    "available",
    "unavailable_reason",
    "warn_unavailable",
    "onednn_version",
    "onednn_runtime",
    "bf16_supported",
]

# FFI target name -> exported handler symbol.
TARGETS = {f"jaxcnn_onednn_conv_{n}": f"jaxcnn_onednn_conv_{n}" for n in ("fwd", "bwd_data", "bwd_weights")}
_HERE = os.path.dirname(os.path.abspath(__file__))
_STATE: dict = {}
_RUNTIMES = {1: "seq", 2: "omp", 4: "tbb", 8: "threadpool"}  # oneDNN's DNNL_RUNTIME_* values


def _handler_library() -> str:
    found = sorted(glob.glob(os.path.join(_HERE, "_onednn_conv*.so")))
    if not found:
        raise OSError(
            f"the compiled handlers (_onednn_conv*.so) are not in {_HERE}; build them with "
            "`pip install -e .` or `python setup.py build_ext --inplace` (needs g++ and "
            "onednn-devel-cpu-tbb==2023.2.0)"
        )
    return found[-1]


# (wheel, file) in load order: each library's dependencies before it.
RUNTIME = (
    ("intel-cmplr-lib-rt", "libintlc.so.5"),
    ("intel-cmplr-lib-rt", "libimf.so"),
    ("tbb", "libtbb.so.12"),
    ("onednn-cpu-tbb", "libdnnl.so.3"),
)


def _wheel_path(dist_name: str, name: str) -> str | None:
    """The installed file ``name`` of wheel ``dist_name``, or None."""
    try:
        dist = importlib.metadata.distribution(dist_name)
    except importlib.metadata.PackageNotFoundError:
        return None
    paths = [os.fspath(dist.locate_file(f)) for f in dist.files or () if os.path.basename(str(f)) == name]
    return next((p for p in paths if os.path.exists(p)), None)


def _load_onednn() -> None:
    """oneDNN and its runtime from their wheels (:data:`RUNTIME`), else wherever the loader finds them."""
    for dist_name, name in RUNTIME:
        try:
            ctypes.CDLL(_wheel_path(dist_name, name) or name, mode=ctypes.RTLD_GLOBAL)
        except OSError as err:
            raise OSError(f"{name} not found (install {dist_name}; see pyproject.toml for the version)") from err


def _load() -> None:
    if _STATE:
        return
    try:
        path = _handler_library()
        _load_onednn()
        lib = ctypes.CDLL(path)
        for target, symbol in TARGETS.items():
            jax.ffi.register_ffi_target(target, jax.ffi.pycapsule(getattr(lib, symbol)), platform="cpu")
        runtime = _RUNTIMES.get(lib.jaxcnn_onednn_cpu_runtime(), "other")
        bf16 = bool(lib.jaxcnn_onednn_bf16())
        _STATE.update(ok=True, reason="", version=lib.jaxcnn_onednn_version(), runtime=runtime, bf16=bf16)
    except Exception as err:  # any failure means: use XLA's conv, and say why
        _STATE.update(ok=False, reason=f"{type(err).__name__}: {err}".splitlines()[0])


def _get(key: str, default=None):
    _load()
    return _STATE.get(key, default)


def available() -> bool:
    """Whether the oneDNN handlers are built, loaded and registered for the ``cpu`` platform."""
    return _get("ok")


def unavailable_reason() -> str:
    """Why :func:`available` is False ('' when it is True)."""
    return _get("reason")


def onednn_version() -> tuple[int, int, int] | None:
    """The oneDNN version the handlers run with, or None when they are unavailable."""
    v = _get("version")
    return None if v is None else (v // 10000, v // 100 % 100, v % 100)


def onednn_runtime() -> str | None:
    """The threading runtime of the loaded oneDNN ('tbb', 'omp', 'seq', 'threadpool'), or None when
    the handlers are unavailable."""
    return _get("runtime")


def bf16_supported() -> bool:
    """Whether oneDNN runs bfloat16 convolutions on this CPU with its fast kernels (not its reference
    ones); False when the handlers are unavailable."""
    return _get("bf16", False)


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
