"""Everything jaxcnn does only because of XLA's CPU backend, in one place.

Two XLA:CPU behaviours shaped this package (measured on jax 0.10.2, see its modules):

* inside a ``lax.cond`` branch or a loop body, JAX's conv gradients are not canonicalised and
  run 20-30x slower: :class:`CanonicalGradConv` writes them as canonical convs, and
  :class:`GemmGradConv` also computes weight gradients as GEMMs (faster for grouped and
  strided 1x1 convs even outside control flow);
* the CPU pipeline expands ``jax.checkpoint``'s optimisation barriers before CSE, so
  ``nn.remat`` saves no memory: :func:`remat` ties the recomputation to the cotangent.

Users opt in by passing a conv (``ResNet(conv=GemmGradConv)``). The only automatic choices are
the two functions below, both keyed on ``jax.default_backend()``: on GPU/TPU they return the
plain conv and ``nn.remat``.
"""

from __future__ import annotations

from typing import Sequence

import flax.linen as nn
import jax

from jaxcnn.layers import Conv, ModuleDef
from jaxcnn.xla_cpu.conv import CanonicalGradConv, GemmGradConv, canonical_grad_conv, gemm_grad_conv, weight_grad_gemm
from jaxcnn.xla_cpu.remat import _check_remat_args, remat, tied_checkpoint
from jaxcnn.validation import check_bool

__all__ = [
    "CanonicalGradConv", "GemmGradConv", "canonical_grad_conv", "gemm_grad_conv", "weight_grad_gemm",
    "remat", "tied_checkpoint", "on_cpu", "default_conv", "block_remat", "CONV_LOWERINGS",
]

# Conv classes by the name of their gradient lowering, for command lines and benchmarks
# (``ResNet(conv=CONV_LOWERINGS['gemm'])``): JAX's own rules, canonical convs, GEMM weight gradients.
CONV_LOWERINGS = {"xla": Conv, "canonical": CanonicalGradConv, "gemm": GemmGradConv}


def on_cpu() -> bool:
    """Whether JAX's default backend is XLA:CPU."""
    return jax.default_backend() == "cpu"


def default_conv(control_flow: bool = False) -> ModuleDef:
    """The conv a block uses when none is injected: :class:`CanonicalGradConv` on XLA:CPU for a
    block whose convs run inside ``lax.cond`` (batch-mode stochastic depth) or a scan body
    (``ResNet(scan_stages=True)``), :class:`jaxcnn.layers.Conv` everywhere else."""
    check_bool(control_flow, "control_flow")
    return CanonicalGradConv if control_flow and on_cpu() else Conv


def block_remat(target, static_argnums: int | Sequence[int] = ()):
    """Rematerialise a module class: :func:`remat` (cotangent-tied) on XLA:CPU, where
    ``nn.remat`` is undone by CSE; ``nn.remat`` elsewhere. ``static_argnums`` count ``self``
    as 0, as ``nn.remat``'s do."""
    static_argnums = _check_remat_args(target, static_argnums)
    if on_cpu():
        return remat(target, static_argnums=static_argnums)
    return nn.remat(target, static_argnums=static_argnums)
