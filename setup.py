"""Builds the oneDNN convolution handlers (``csrc/onednn_conv.cc``) into ``jaxcnn/xla_cpu/``.

The metadata lives in ``pyproject.toml``; this file only adds the native part. Headers and the
library to link come from the build requirements: oneDNN 3.2 (TBB runtime) from ``onednn-devel-cpu-tbb`` and XLA's
FFI headers from ``jaxlib`` (``jax.ffi.include_dir()``'s folder). The build is optional: without a
compiler, without those wheels (any platform but x86-64 Linux) or on a compile error the package
installs without the handlers, and ``jaxcnn.xla_cpu`` falls back to XLA's conv with one warning.
An editable install (``pip install -e .``) builds the library in place, next to the Python files.
"""

from __future__ import annotations

import importlib.metadata
import os
import sys

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext


def _wheel_file(dist_name: str, suffix: str) -> str:
    """The path of the installed file of ``dist_name`` whose name ends with ``suffix``."""
    dist = importlib.metadata.distribution(dist_name)
    for f in dist.files or ():
        if str(f).endswith(suffix):
            return os.fspath(dist.locate_file(f))
    raise FileNotFoundError(f"{dist_name} has no file ending in {suffix}")


def _jaxlib_include() -> str:
    return os.path.join(os.path.dirname(_wheel_file("jaxlib", "jaxlib/__init__.py")), "include")


class OptionalBuildExt(build_ext):
    """Fills in oneDNN's and XLA's paths at build time, and never fails the install."""

    def run(self):
        try:
            dnnl_include = os.path.dirname(_wheel_file("onednn-devel-cpu-tbb", "include/dnnl.hpp"))
            dnnl_lib = os.path.dirname(_wheel_file("onednn-cpu-tbb", "libdnnl.so.3"))
            for ext in self.extensions:
                ext.include_dirs += [dnnl_include, _jaxlib_include()]
                ext.library_dirs += [dnnl_lib]
            super().run()
        except Exception as err:  # a missing compiler or wheel: install the pure-XLA package
            print(f"jaxcnn: building the oneDNN handlers failed, installing without them ({err})", file=sys.stderr)

    def build_extension(self, ext):
        # A plain shared library, not a Python module: C++ flags only where the compiler accepts them.
        self.compiler.compiler_so = [a for a in self.compiler.compiler_so if a != "-Wstrict-prototypes"]
        super().build_extension(ext)


NATIVE = sys.platform == "linux" and os.uname().machine == "x86_64"

setup(
    ext_modules=[
        Extension(
            "jaxcnn.xla_cpu._onednn_conv",
            sources=["csrc/onednn_conv.cc"],
            language="c++",
            extra_compile_args=[
                "-std=c++17",
                "-O2",
                "-g0",
                "-fvisibility=hidden",
                "-Wno-attributes",
                "-Wno-return-type",
            ],
            extra_link_args=["-l:libdnnl.so.3"],
            optional=True,
        )
    ]
    if NATIVE
    else [],
    cmdclass={"build_ext": OptionalBuildExt},
)
