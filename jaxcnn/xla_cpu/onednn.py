"""2-D convolutions computed by oneDNN on CPU and by XLA's own conv everywhere else.

Why: XLA:CPU's conv kernels are several times slower than oneDNN's (the library PyTorch uses on
CPU), forward and backward (``benchmarks/README.md``). :func:`onednn_conv` binds three primitives
(forward, backward-data, backward-weights), each lowered to an XLA FFI handler
(``csrc/onednn_conv.cc``) for ``cpu`` and to ``lax.conv_general_dilated`` (or its transpose) for
every other platform. A CPU computation over several devices of one process lowers to XLA's conv
with canonical gradients instead: oneDNN's own threads stalled XLA's collectives there.

Scope: NHWC x HWIO, float32 (and bfloat16 where :func:`jaxcnn.xla_cpu._native.bf16_supported`),
strides, non-negative explicit padding, kernel dilation and groups; anything else, or no built
handlers (one warning says why), goes to ``lax.conv_general_dilated`` unchanged.

The primitives are bilinear and each one's transposes are the other two, so ``jit``, ``grad``,
``jvp`` and every higher order close over them; ``vmap`` folds a batched activation into the conv's
batch and batched weights into the groups.
"""

from __future__ import annotations

import functools
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax
from jax.core import ShapedArray
from jax.extend.core import Primitive
from jax.interpreters import ad, batching, mlir

from jaxcnn.layers import Conv
from jaxcnn.validation import check_int_pair, check_nhwc, check_positive_int
from jaxcnn.xla_cpu import _native
from jaxcnn.xla_cpu.conv import _NHWC, _check_conv_args, _check_pads, _is_nhwc, canonical_grad_conv

__all__ = ["onednn_conv", "onednn_conv_general_dilated", "OneDNNConv", "onednn_available"]


def onednn_available() -> bool:
    """Whether the oneDNN handlers are built and loaded (else every conv here is XLA's)."""
    return _native.available()


def _xla_conv(x, w, cfg, conv=lax.conv_general_dilated):
    strides, padding, dilation, groups = cfg
    return conv(x, w, strides, padding, None, dilation, _NHWC, groups)


_canonical_conv = functools.partial(_xla_conv, conv=canonical_grad_conv)


def _ffi(target, out_shape, a, b, cfg):
    strides, padding, dilation = (np.asarray(v, np.int64).ravel() for v in cfg[:3])
    call = jax.ffi.ffi_call(target, jax.ShapeDtypeStruct(out_shape, a.dtype))
    return call(a, b, strides=strides, padding=padding, dilation=dilation, groups=np.int64(cfg[3]))


# Three primitives: y = conv(x, w), dx = bwd_data(dy, w), dw = bwd_weights(x, dy). Each is bilinear and
# the transpose of each argument is one of the three, so JVP, VJP and every higher order close over
# them (as for lax.conv_general_dilated). Each lowers to its oneDNN handler for "cpu" and to XLA's
# conv (or its transpose) for any other platform.


def _fwd_shape(x, w, cfg):
    return jax.eval_shape(lambda a, b: _xla_conv(a, b, cfg), x, w).shape


def _bwd_data_shape(dy, w, cfg, x_hw):
    return (dy.shape[0], *x_hw, w.shape[2] * cfg[3])


def _bwd_weights_shape(x, dy, cfg, k_hw):
    return (*k_hw, x.shape[-1] // cfg[3], dy.shape[-1])


def _fwd_xla(x, w, *, cfg, conv=_xla_conv):
    return conv(x, w, cfg)


def _bwd_data_xla(dy, w, *, cfg, x_hw, conv=_xla_conv):
    zeros = jnp.zeros(_bwd_data_shape(dy, w, cfg, x_hw), dy.dtype)
    return jax.vjp(lambda x: conv(x, w, cfg), zeros)[1](dy)[0]


def _bwd_weights_xla(x, dy, *, cfg, k_hw, conv=_xla_conv):
    zeros = jnp.zeros(_bwd_weights_shape(x, dy, cfg, k_hw), x.dtype)
    return jax.vjp(lambda w: conv(x, w, cfg), zeros)[1](dy)[0]


def _local_devices(ctx) -> int | None:
    """How many of this process's devices the computation being lowered spans (None: unknown): over
    several, oneDNN's own threads stalled XLA's collectives (a 4-device all-reduce missed its rendezvous)."""
    context = ctx.module_context.axis_context  # ShardingContext (jit) or SPMDAxisContext (shard_map, pmap)
    devices = getattr(context, "device_assignment", None)
    if devices is None and getattr(context, "mesh", None) is not None:
        devices = context.mesh.devices.ravel()
    if devices is None:
        return getattr(context, "num_devices", None)
    return sum(d.process_index == jax.process_index() for d in devices)


def _primitive(name, shape, xla):
    prim = Primitive(f"onednn_conv_{name}")
    # eager calls: one jitted bind per static configuration (a fresh jit per call would recompile)
    jitted = functools.cache(lambda params: jax.jit(functools.partial(prim.bind, **dict(params))))
    prim.def_impl(lambda a, b, **params: jitted(tuple(sorted(params.items())))(a, b))
    prim.def_abstract_eval(lambda a, b, **params: ShapedArray(shape(a, b, **params), a.dtype))
    mlir.register_lowering(prim, mlir.lower_fun(xla, multiple_results=False))

    def native(a, b, **params):
        return _ffi(f"jaxcnn_onednn_conv_{name}", shape(a, b, **params), a, b, params["cfg"])

    def cpu(ctx, a, b, **params):
        # several local devices: XLA's conv, its gradients as canonical convs (fast in cond/scan on CPU)
        impl = native if _local_devices(ctx) == 1 else functools.partial(xla, conv=_canonical_conv)
        return mlir.lower_fun(impl, multiple_results=False)(ctx, a, b, **params)

    mlir.register_lowering(prim, cpu, platform="cpu")
    XLA_EQUIVALENTS[prim] = xla
    return prim


XLA_EQUIVALENTS: dict = {}  # primitive -> its XLA computation, for jaxpr interpreters (analysis)
conv_fwd_p = _primitive("fwd", _fwd_shape, _fwd_xla)
conv_bwd_data_p = _primitive("bwd_data", _bwd_data_shape, _bwd_data_xla)
conv_bwd_weights_p = _primitive("bwd_weights", _bwd_weights_shape, _bwd_weights_xla)


def xla_jaxpr(eqn):
    """The jaxpr of XLA's computation of a oneDNN conv equation (None for any other equation), so
    jaxpr interpreters (``jaxcnn.analysis``) read these primitives as the convs they are."""
    xla = XLA_EQUIVALENTS.get(eqn.primitive)
    if xla is None:
        return None
    return jax.make_jaxpr(functools.partial(xla, **eqn.params))(*(v.aval for v in eqn.invars))


ad.defbilinear(
    conv_fwd_p,
    lambda ct, x, w, cfg: conv_bwd_data_p.bind(ct, w, cfg=cfg, x_hw=tuple(x.aval.shape[1:3])),
    lambda ct, x, w, cfg: conv_bwd_weights_p.bind(x, ct, cfg=cfg, k_hw=tuple(w.aval.shape[:2])),
)
ad.defbilinear(
    conv_bwd_data_p,
    lambda ct, dy, w, cfg, x_hw: conv_fwd_p.bind(ct, w, cfg=cfg),
    lambda ct, dy, w, cfg, x_hw: conv_bwd_weights_p.bind(ct, dy, cfg=cfg, k_hw=tuple(w.aval.shape[:2])),
)
ad.defbilinear(
    conv_bwd_weights_p,
    lambda ct, x, dy, cfg, k_hw: conv_bwd_data_p.bind(dy, ct, cfg=cfg, x_hw=tuple(x.aval.shape[1:3])),
    lambda ct, x, dy, cfg, k_hw: conv_fwd_p.bind(x, ct, cfg=cfg),
)


def _fold_groups(a, size):
    """(B, ..., C) -> (..., B C): a batch of independent convs becomes B times the groups."""
    return jnp.moveaxis(a, 0, -2).reshape(*a.shape[1:-1], size * a.shape[-1])


def _unfold_groups(a, size):
    """(..., B C) -> (B, ..., C), the inverse of :func:`_fold_groups`."""
    return jnp.moveaxis(a.reshape(*a.shape[:-1], size, a.shape[-1] // size), -2, 0)


def _batch_rule(prim, fold_batch_of):
    """vmap: a batched activation alone folds into the conv's batch (``fold_batch_of`` names which
    argument is the activation, or None for bwd_weights, whose output sums over the batch); otherwise
    both arguments are broadcast and the batch folds into the groups."""

    def rule(args, dims, cfg, **params):
        size = next(a.shape[d] for a, d in zip(args, dims) if d is not None)
        args = [a if d is None else jnp.moveaxis(a, d, 0) for a, d in zip(args, dims)]
        if fold_batch_of is not None and dims[1 - fold_batch_of] is None:
            act = args[fold_batch_of]
            args[fold_batch_of] = act.reshape(-1, *act.shape[2:])
            out = prim.bind(*args, cfg=cfg, **params)
            return out.reshape(size, -1, *out.shape[1:]), 0
        args = [
            _fold_groups(a if d is not None else jnp.broadcast_to(a, (size, *a.shape)), size)
            for a, d in zip(args, dims)
        ]
        out = prim.bind(*args, cfg=(*cfg[:3], cfg[3] * size), **params)
        return _unfold_groups(out, size), 0

    batching.primitive_batchers[prim] = rule


_batch_rule(conv_fwd_p, 0)
_batch_rule(conv_bwd_data_p, 0)
_batch_rule(conv_bwd_weights_p, None)


def _supported(x, w, padding) -> bool:
    dtypes = (jnp.float32, jnp.bfloat16) if _native.bf16_supported() else (jnp.float32,)
    return x.dtype == w.dtype and x.dtype in dtypes and x.size > 0 and w.size > 0 and np.min(padding) >= 0


def onednn_conv(
    x: jax.Array, w: jax.Array, strides=(1, 1), padding=((0, 0), (0, 0)), dilation=(1, 1), groups: int = 1
) -> jax.Array:
    """``lax.conv_general_dilated(x, w, strides, padding, rhs_dilation=dilation,
    dimension_numbers=('NHWC', 'HWIO', 'NHWC'), feature_group_count=groups)``, by oneDNN on CPU.

    ``x``: (N, H, W, C); ``w``: (kh, kw, C / groups, O); ``strides``/``dilation``: an int or a pair of
    ints >= 1; ``padding``: ((top, bottom), (left, right)) ints (negative ones crop, via XLA's conv).
    float32 (and bfloat16 where this CPU has oneDNN's bf16 kernels) runs on oneDNN; other or mixed
    dtypes (and empty arrays) on XLA's conv.
    """
    check_nhwc(x, "x")
    if not hasattr(w, "shape") or len(w.shape) != 4:
        raise ValueError(f"w must be an HWIO array of rank 4, got shape {getattr(w, 'shape', type(w).__name__)}")
    strides, dilation = check_int_pair(strides, "strides", 1), check_int_pair(dilation, "dilation", 1)
    _check_pads(padding, 2)
    padding = tuple(tuple(int(v) for v in p) for p in padding)
    return _onednn_conv(x, w, strides, padding, dilation, check_positive_int(groups, "groups"))


def _onednn_conv(x, w, strides, padding, dilation, groups):
    """:func:`onednn_conv` on checked arguments (int pairs, pairs of int pads); the arrays' channels
    are checked here, per call, since they come with the input."""
    if x.shape[-1] != w.shape[2] * groups or w.shape[3] % groups:
        raise ValueError(
            f"groups={groups}: x has {x.shape[-1]} channels and w has shape {tuple(w.shape)}; expected "
            f"x channels = w.shape[2] * groups and w.shape[3] divisible by groups"
        )
    cfg = (strides, padding, dilation, groups)
    _native.warn_unavailable()
    if not (_native.available() and _supported(x, w, padding)):
        return _xla_conv(x, w, cfg)
    return conv_fwd_p.bind(x, w, cfg=cfg)


def onednn_conv_general_dilated(
    lhs,
    rhs,
    window_strides,
    padding,
    lhs_dilation=None,
    rhs_dilation=None,
    dimension_numbers=None,
    feature_group_count=1,
    batch_group_count=1,
    precision=None,
    preferred_element_type=None,
):
    """Drop-in for ``lax.conv_general_dilated`` (as ``nn.Conv`` calls it) that runs :func:`onednn_conv`
    for 2-D NHWC/HWIO float32 convs without input dilation, and XLA's conv for anything else."""
    _check_conv_args(lhs, window_strides, padding, lhs_dilation, rhs_dilation, feature_group_count)
    args = (lhs_dilation, rhs_dilation, dimension_numbers, feature_group_count, batch_group_count, precision)
    return _conv_general_dilated(lhs, rhs, window_strides, padding, *args, preferred_element_type)


def _conv_general_dilated(
    lhs,
    rhs,
    window_strides,
    padding,
    lhs_dilation=None,
    rhs_dilation=None,
    dimension_numbers=None,
    feature_group_count=1,
    batch_group_count=1,
    precision=None,
    preferred_element_type=None,
):
    """:func:`onednn_conv_general_dilated` without the argument checks, for :class:`OneDNNConv`, whose
    fields were checked once at construction (only the input array is checked per call)."""
    nhwc = len(lhs.shape) == 4 and _is_nhwc(dimension_numbers, lhs_dilation, batch_group_count)
    if not nhwc or preferred_element_type is not None:
        args = (window_strides, padding, lhs_dilation, rhs_dilation, dimension_numbers, feature_group_count)
        return lax.conv_general_dilated(lhs, rhs, *args, batch_group_count, precision, preferred_element_type)
    dilation = tuple(int(d) for d in rhs_dilation or (1, 1))
    if isinstance(padding, str):
        window = [(k - 1) * d + 1 for k, d in zip(rhs.shape[:2], dilation)]
        padding = lax.padtype_to_pads(lhs.shape[1:3], window, window_strides, padding)
    padding = tuple(tuple(int(v) for v in p) for p in padding)
    strides = tuple(int(s) for s in window_strides)
    return _onednn_conv(lhs, rhs, strides, padding, dilation, int(feature_group_count))


class OneDNNConv(Conv):
    """:class:`jaxcnn.layers.Conv` computed by oneDNN on CPU (:func:`onednn_conv`) and by XLA's conv on
    other platforms: the same fields and parameters, so weights, converters and checkpoints apply.
    Inject it as ``ResNet(conv=OneDNNConv)``."""

    conv_general_dilated: Any = _conv_general_dilated
