"""Everything jaxcnn does only because of XLA's CPU backend, in one place.

* In a ``lax.cond`` branch or loop body XLA:CPU runs JAX's conv gradients 20-30x slower:
  :class:`CanonicalGradConv` writes them as canonical convs (:class:`GemmGradConv`: weight
  gradients as GEMMs).
* XLA:CPU expands ``jax.checkpoint``'s barriers before CSE, so ``nn.remat`` saves no memory:
  :func:`remat` ties the recomputation to the cotangent.
* :class:`OneDNNConv` (the default conv) runs convs and their gradients on oneDNN as XLA FFI custom
  calls, several times faster than XLA:CPU's conv; XLA's conv when the native part is not built.

Every platform choice is made for the platform a computation is *lowered* for
(``jax.lax.platform_dependent``), never by ``jax.default_backend()`` at trace time, so one model
compiles to the CPU choice on CPU and to the plain conv / ``jax.checkpoint`` elsewhere.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from jax import lax

from jaxcnn.layers import Conv, ModuleDef
from jaxcnn.validation import check_bool
from jaxcnn.xla_cpu.conv import CanonicalGradConv, GemmGradConv, canonical_grad_conv, gemm_grad_conv, weight_grad_gemm
from jaxcnn.xla_cpu.onednn import (
    OneDNNConv,
    _conv_general_dilated,
    onednn_available,
    onednn_conv,
    onednn_conv_general_dilated,
)
from jaxcnn.xla_cpu.remat import platform_remat, remat, tied_checkpoint
from jaxcnn.xla_cpu.transposed import onednn_conv_transpose

__all__ = [
    "CanonicalGradConv",
    "GemmGradConv",
    "canonical_grad_conv",
    "gemm_grad_conv",
    "weight_grad_gemm",
    "OneDNNConv",
    "onednn_conv",
    "onednn_conv_general_dilated",
    "onednn_available",
    "onednn_conv_transpose",
    "ControlFlowConv",
    "remat",
    "platform_remat",
    "tied_checkpoint",
    "default_conv",
    "block_remat",
    "CONV_LOWERINGS",
]


def _control_flow_conv(lhs, rhs, *args, **kwargs):
    """oneDNN where built (its CPU lowering over several devices uses canonical gradients), else
    ``canonical_grad_conv`` where lowered for CPU and ``lax.conv_general_dilated`` elsewhere."""
    if onednn_available():
        return _conv_general_dilated(lhs, rhs, *args, **kwargs)
    return lax.platform_dependent(
        lhs,
        rhs,
        cpu=lambda a, b: canonical_grad_conv(a, b, *args, **kwargs),
        default=lambda a, b: lax.conv_general_dilated(a, b, *args, **kwargs),
    )


class ControlFlowConv(Conv):
    """:class:`jaxcnn.layers.Conv` for convs inside ``lax.cond`` branches and scan bodies (slow JAX conv
    gradients on XLA:CPU): oneDNN where built, else canonical gradients when lowered for CPU; XLA's
    conv on other platforms."""

    conv_general_dilated: Any = _control_flow_conv


# Conv classes by name, for command lines and benchmarks (``ResNet(conv=CONV_LOWERINGS['onednn'])``):
# JAX's own rules, canonical convs, GEMM weight gradients, oneDNN custom calls.
CONV_LOWERINGS = {"xla": Conv, "canonical": CanonicalGradConv, "gemm": GemmGradConv, "onednn": OneDNNConv}


def default_conv(control_flow: bool = False) -> ModuleDef:
    """The conv a block uses when none is injected: :class:`ControlFlowConv` for a block whose convs
    run inside ``lax.cond`` (batch-mode stochastic depth) or a scan body (``ResNet(scan_stages=True)``),
    :class:`OneDNNConv` everywhere else. On GPU/TPU both are XLA's plain conv; on CPU the second is
    oneDNN where its native part is built (else XLA's conv, with one warning).
    ``conv=jaxcnn.layers.Conv`` keeps XLA's conv everywhere."""
    check_bool(control_flow, "control_flow")
    return ControlFlowConv if control_flow else OneDNNConv


def block_remat(target, static_argnums: int | Sequence[int] = ()):
    """Rematerialise a module class, chosen for the platform it is lowered for
    (:func:`platform_remat`): the cotangent-tied :func:`remat` on CPU, where ``nn.remat`` is undone
    by CSE, ``nn.remat``'s ``jax.checkpoint`` elsewhere. ``static_argnums`` count ``self`` as 0,
    as ``nn.remat``'s do."""
    return platform_remat(target, static_argnums)
