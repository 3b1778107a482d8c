"""2-D convolutions computed by oneDNN on CPU and by XLA's own conv everywhere else.

Why: XLA:CPU's convolution kernels are several times slower than oneDNN's (the library PyTorch
uses on CPU), forward and backward; see ``benchmarks/README.md``. :func:`onednn_conv` calls three
XLA FFI handlers (forward, backward-data, backward-weights; ``csrc/onednn_conv.cc``) under a
``jax.custom_vjp``. Each call is a ``jax.lax.platform_dependent`` choice: the handlers when the
computation is lowered for ``cpu``, ``lax.conv_general_dilated`` (and its transpose rules) for any
other platform, so a model built once compiles to oneDNN on CPU and to cuDNN on GPU.

Scope: NHWC activations, HWIO weights, float32, strides, non-negative explicit padding, kernel
dilation and groups. Anything else (other dtypes, input dilation, negative padding, empty arrays)
goes to ``lax.conv_general_dilated`` unchanged. When the handlers are not built or fail to load,
everything goes to XLA's conv, with one warning naming why.

Transformations: ``jit``, ``grad`` (first order: the handlers have no derivative of their own),
``vmap`` (a batched input is folded into the conv's batch; batched weights are folded into the
groups, so per-example gradients stay one call), and use inside ``lax.cond``/``lax.scan``.
``jax.custom_vjp`` rules out forward-mode differentiation.
"""

from __future__ import annotations

import functools
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax
from jax.custom_batching import custom_vmap

from jaxcnn.layers import Conv
from jaxcnn.validation import check_int_tuple, check_nhwc, check_positive_int
from jaxcnn.xla_cpu import _native
from jaxcnn.xla_cpu.conv import _check_conv_args, _check_pads, _is_nhwc

__all__ = ["onednn_conv", "onednn_conv_general_dilated", "OneDNNConv", "onednn_available"]

_NHWC = ("NHWC", "HWIO", "NHWC")


def onednn_available() -> bool:
    """Whether the oneDNN handlers are built and loaded (else every conv here is XLA's)."""
    return _native.available()


def _xla_conv(x, w, cfg):
    strides, padding, dilation, groups = cfg
    return lax.conv_general_dilated(
        x, w, strides, padding, rhs_dilation=dilation, dimension_numbers=_NHWC, feature_group_count=groups
    )


def _ffi(target, out_shape, a, b, cfg):
    strides, padding, dilation, groups = cfg
    call = jax.ffi.ffi_call(target, jax.ShapeDtypeStruct(out_shape, jnp.float32), vmap_method="sequential")
    return call(
        a,
        b,
        strides=np.asarray(strides, np.int64),
        padding=np.asarray(padding, np.int64).ravel(),
        dilation=np.asarray(dilation, np.int64),
        groups=np.int64(groups),
    )


def _on_cpu(native, xla, *args):
    """``native`` where the computation is lowered for CPU, ``xla`` elsewhere (or everywhere without oneDNN)."""
    if not _native.available():
        return xla(*args)
    return lax.platform_dependent(*args, cpu=native, default=xla)


def _fold_groups(a, size):
    """(B, ..., C) -> (..., B C): a batch of independent convs becomes B times the groups."""
    return jnp.moveaxis(a, 0, -2).reshape(*a.shape[1:-1], size * a.shape[-1])


def _unfold_groups(a, size):
    """(..., B C) -> (B, ..., C), the inverse of :func:`_fold_groups`."""
    return jnp.moveaxis(a.reshape(*a.shape[:-1], size, a.shape[-1] // size), -2, 0)


def _batched(a, is_batched, size):
    return a if is_batched else jnp.broadcast_to(a, (size, *a.shape))


def _grouped(cfg, size):
    return (*cfg[:3], cfg[3] * size)


@functools.cache
def _forward(cfg):
    """y = conv(x, w) as a custom_vmap primitive for one static configuration."""

    def native(x, w):
        n, h, wd, _ = x.shape
        kh, kw, _, o = w.shape
        ho, wo = jax.eval_shape(lambda: _xla_conv(x, w, cfg)).shape[1:3]
        return _ffi("jaxcnn_onednn_conv_fwd", (n, ho, wo, o), x, w, cfg)

    @custom_vmap
    def fwd(x, w):
        return _on_cpu(native, lambda a, b: _xla_conv(a, b, cfg), x, w)

    @fwd.def_vmap
    def _rule(size, in_batched, x, w):
        x_b, w_b = in_batched
        if not w_b:
            y = fwd(x.reshape(-1, *x.shape[2:]), w)
            return y.reshape(size, -1, *y.shape[1:]), True
        x = _batched(x, x_b, size)
        y = _forward(_grouped(cfg, size))(_fold_groups(x, size), _fold_groups(w, size))
        return _unfold_groups(y, size), True

    return fwd


@functools.cache
def _backward_data(cfg, x_hw):
    """dx from (dy, w) for inputs of spatial size ``x_hw``."""

    def shape_of(dy, w):
        return (dy.shape[0], *x_hw, w.shape[2] * cfg[3])

    def native(dy, w):
        return _ffi("jaxcnn_onednn_conv_bwd_data", shape_of(dy, w), dy, w, cfg)

    def xla(dy, w):
        return jax.vjp(lambda x: _xla_conv(x, w, cfg), jnp.zeros(shape_of(dy, w), dy.dtype))[1](dy)[0]

    @custom_vmap
    def bwd(dy, w):
        return _on_cpu(native, xla, dy, w)

    @bwd.def_vmap
    def _rule(size, in_batched, dy, w):
        dy_b, w_b = in_batched
        if not w_b:
            dx = bwd(dy.reshape(-1, *dy.shape[2:]), w)
            return dx.reshape(size, -1, *dx.shape[1:]), True
        dy = _batched(dy, dy_b, size)
        dx = _backward_data(_grouped(cfg, size), x_hw)(_fold_groups(dy, size), _fold_groups(w, size))
        return _unfold_groups(dx, size), True

    return bwd


@functools.cache
def _backward_weights(cfg, k_hw):
    """dw from (x, dy) for kernels of spatial size ``k_hw``."""

    def shape_of(x, dy):
        return (*k_hw, x.shape[-1] // cfg[3], dy.shape[-1])

    def native(x, dy):
        return _ffi("jaxcnn_onednn_conv_bwd_weights", shape_of(x, dy), x, dy, cfg)

    def xla(x, dy):
        return jax.vjp(lambda w: _xla_conv(x, w, cfg), jnp.zeros(shape_of(x, dy), x.dtype))[1](dy)[0]

    @custom_vmap
    def bwd(x, dy):
        return _on_cpu(native, xla, x, dy)

    @bwd.def_vmap
    def _rule(size, in_batched, x, dy):
        x, dy = _batched(x, in_batched[0], size), _batched(dy, in_batched[1], size)
        dw = _backward_weights(_grouped(cfg, size), k_hw)(_fold_groups(x, size), _fold_groups(dy, size))
        return _unfold_groups(dw, size), True

    return bwd


@functools.cache
def _conv(cfg):
    @jax.custom_vjp
    def conv(x, w):
        return _forward(cfg)(x, w)

    def fwd(x, w):
        return conv(x, w), (x, w)

    def bwd(res, dy):
        x, w = res
        dx = _backward_data(cfg, tuple(x.shape[1:3]))(dy, w)
        dw = _backward_weights(cfg, tuple(w.shape[:2]))(x, dy)
        return dx, dw

    conv.defvjp(fwd, bwd)
    return conv


def _pairs(value, name):
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        value = (value, value)
    return tuple(int(v) for v in check_int_tuple(value, name, minimum=1, length=2))


def _supported(x, w, padding) -> bool:
    return (
        x.dtype == jnp.float32
        and w.dtype == jnp.float32
        and x.size > 0
        and w.size > 0
        and all(p >= 0 for pair in padding for p in pair)
    )


def onednn_conv(
    x: jax.Array, w: jax.Array, strides=(1, 1), padding=((0, 0), (0, 0)), dilation=(1, 1), groups: int = 1
) -> jax.Array:
    """``lax.conv_general_dilated(x, w, strides, padding, rhs_dilation=dilation,
    dimension_numbers=('NHWC', 'HWIO', 'NHWC'), feature_group_count=groups)``, by oneDNN on CPU.

    ``x``: (N, H, W, C); ``w``: (kh, kw, C / groups, O); ``strides``/``dilation``: an int or a pair of
    ints >= 1; ``padding``: ((top, bottom), (left, right)) ints (negative ones crop, via XLA's conv).
    float32 runs on oneDNN; other dtypes (and empty arrays) on XLA's conv.
    """
    check_nhwc(x, "x")
    if not hasattr(w, "shape") or len(w.shape) != 4:
        raise ValueError(f"w must be an HWIO array of rank 4, got shape {getattr(w, 'shape', type(w).__name__)}")
    strides, dilation = _pairs(strides, "strides"), _pairs(dilation, "dilation")
    _check_pads(padding, 2)
    padding = tuple(tuple(int(v) for v in p) for p in padding)
    groups = check_positive_int(groups, "groups")
    if x.shape[-1] != w.shape[2] * groups or w.shape[3] % groups:
        raise ValueError(
            f"groups={groups}: x has {x.shape[-1]} channels and w has shape {tuple(w.shape)}; expected "
            f"x channels = w.shape[2] * groups and w.shape[3] divisible by groups"
        )
    cfg = (strides, padding, dilation, groups)
    _native.warn_unavailable()
    if not _supported(x, w, padding):
        return _xla_conv(x, w, cfg)
    return _conv(cfg)(x, w)


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
    plain = (
        len(lhs.shape) != 4
        or any(d != 1 for d in (lhs_dilation or (1, 1)))
        or not _is_nhwc(dimension_numbers)
        or batch_group_count != 1
        or preferred_element_type is not None
    )
    if plain:
        return lax.conv_general_dilated(
            lhs,
            rhs,
            window_strides,
            padding,
            lhs_dilation,
            rhs_dilation,
            dimension_numbers,
            feature_group_count,
            batch_group_count,
            precision=precision,
            preferred_element_type=preferred_element_type,
        )
    dilation = tuple(rhs_dilation or (1, 1))
    if isinstance(padding, str):
        window = [(k - 1) * d + 1 for k, d in zip(rhs.shape[:2], dilation)]
        padding = lax.padtype_to_pads(lhs.shape[1:3], window, window_strides, padding)
    return onednn_conv(
        lhs, rhs, tuple(window_strides), tuple(tuple(p) for p in padding), dilation, int(feature_group_count)
    )


class OneDNNConv(Conv):
    """:class:`jaxcnn.layers.Conv` computed by oneDNN on CPU (:func:`onednn_conv`) and by XLA's conv on
    other platforms: the same fields and parameters, so weights, converters and checkpoints apply.
    Inject it as ``ResNet(conv=OneDNNConv)``."""

    conv_general_dilated: Any = onednn_conv_general_dilated
