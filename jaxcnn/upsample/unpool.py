"""Max pooling that remembers where the maxima were, and its partial inverse ``max_unpool``.

Indices follow PyTorch: for each image and channel, the flat position ``h * W + w`` in the
*unpadded* input. Ties go to the first maximum in row-major window order and padded cells never
win, as in ATen's CPU kernel (a window of all ``-inf`` points at its first real cell). A NaN wins
its window as in torch; with several NaNs this picks the first, ATen the last.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence

import jax
import jax.numpy as jnp
import numpy as np

from jaxcnn.validation import check_bool, check_nhwc, check_output_size
from jaxcnn.validation import check_int_pair as _pair

__all__ = ["max_pool_with_indices", "max_unpool", "pool_output_size", "unpool_output_size"]


def _pool_args(kernel_size, stride, padding):
    k = _pair(kernel_size, "kernel_size", 1)
    s = k if stride is None else _pair(stride, "stride", 1)
    p = _pair(padding, "padding", 0)
    if any(pi > ki // 2 for pi, ki in zip(p, k)):
        raise ValueError(
            f"padding should be at most half of kernel_size, got padding={padding!r}, kernel_size={kernel_size!r}"
        )
    return k, s, p


def pool_output_size(size: int, k: int, s: int, p: int, ceil_mode: bool) -> int:
    """torch's pooling output size; in ceil mode the last window must start inside input or left pad."""
    span = size + 2 * p - k
    out = (-(-span // s) if ceil_mode else span // s) + 1
    if ceil_mode and (out - 1) * s >= size + p:
        out -= 1
    return out


@functools.lru_cache(maxsize=256)
def _window_table(h, w, k, s, p, ceil_mode):
    """Static tables: for each output cell and window tap, the flat input index (-1 if padding)."""
    out = tuple(pool_output_size(n, ki, si, pi, ceil_mode) for n, ki, si, pi in zip((h, w), k, s, p))
    if min(out) < 1:
        raise ValueError(f"max pool output would be empty: input {(h, w)}, kernel_size {k}, stride {s}, padding {p}")
    rows = np.arange(out[0])[:, None] * s[0] - p[0] + np.arange(k[0])[None, :]  # (Ho, kh)
    cols = np.arange(out[1])[:, None] * s[1] - p[1] + np.arange(k[1])[None, :]  # (Wo, kw)
    r = rows[:, None, :, None]
    c = cols[None, :, None, :]
    valid = (r >= 0) & (r < h) & (c >= 0) & (c < w)
    flat = np.where(valid, r * w + c, -1).reshape(out[0], out[1], k[0] * k[1])
    return out, flat.astype(np.int32)


def max_pool_with_indices(
    x: jax.Array,
    kernel_size: int | Sequence[int],
    stride: int | Sequence[int] | None = None,
    padding: int | Sequence[int] = 0,
    ceil_mode: bool = False,
) -> tuple[jax.Array, jax.Array]:
    """``torch.nn.functional.max_pool2d(..., return_indices=True)`` on NHWC.

    Returns ``(y, indices)``, both (N, H_out, W_out, C); ``indices`` are int32 flat ``h * W + w``.
    """
    check_nhwc(x, "x")
    k, s, p = _pool_args(kernel_size, stride, padding)
    ceil_mode = check_bool(ceil_mode, "ceil_mode")
    _window_table(x.shape[1], x.shape[2], k, s, p, bool(ceil_mode))  # raises on an empty output
    return _max_pool(x, k, s, p, bool(ceil_mode))


@functools.partial(jax.jit, static_argnums=(1, 2, 3, 4))
def _max_pool(x, k, s, p, ceil_mode):
    n, h, w, c = x.shape
    _, flat = _window_table(h, w, k, s, p, ceil_mode)
    valid = jnp.asarray(flat >= 0)  # (Ho, Wo, T)
    gather = jnp.asarray(np.maximum(flat, 0))
    cand = x.reshape(n, h * w, c)[:, gather, :]  # (N, Ho, Wo, T, C)
    cand = jnp.where(valid[None, :, :, :, None], cand, -jnp.inf)
    best = jnp.max(cand, axis=3, keepdims=True)
    # first real tap equal to the max (or NaN, which torch propagates) wins
    hit = valid[None, :, :, :, None] & ((cand == best) | jnp.isnan(cand))
    tap = jnp.argmax(hit, axis=3)  # (N, Ho, Wo, C)
    taps = jnp.broadcast_to(gather[None, :, :, :, None], cand.shape)
    indices = jnp.take_along_axis(taps, tap[:, :, :, None], axis=3)[:, :, :, 0]
    y = jnp.take_along_axis(cand, tap[:, :, :, None], axis=3)[:, :, :, 0]
    return y.astype(x.dtype), indices.astype(jnp.int32)


def unpool_output_size(in_hw, kernel_size, stride=None, padding=0, output_size=None) -> tuple[int, int]:
    """torch ``_unpool_output_size``: default ``(in-1)*s - 2p + k``; an explicit size must lie
    strictly within ``stride`` of it (it only resolves the floor of pooling)."""
    k, s, p = _pool_args(kernel_size, stride, padding)
    default = tuple((n - 1) * si - 2 * pi + ki for n, ki, si, pi in zip(in_hw, k, s, p))
    if output_size is None:
        return default
    size = tuple(output_size) if isinstance(output_size, (list, tuple)) else ()
    size = size[1:3] if len(size) == 4 else size  # torch accepts a full (N, C, H, W) size; here (N, H, W, C)
    if len(size) != 2 or any(isinstance(v, bool) or not isinstance(v, (int, np.integer)) for v in size):
        raise TypeError(f"output_size must be (H, W) or (N, H, W, C) ints, got {output_size!r}")
    for d in range(2):
        lo, hi = default[d] - s[d], default[d] + s[d]
        if not lo < size[d] < hi:
            raise ValueError(
                f"invalid output_size {tuple(output_size)!r} (dim {d} must be between {lo} and {hi}, exclusive)"
            )
    return tuple(int(v) for v in size)


def max_unpool(
    y: jax.Array,
    indices: jax.Array,
    kernel_size: int | Sequence[int],
    stride: int | Sequence[int] | None = None,
    padding: int | Sequence[int] = 0,
    output_size: Sequence[int] | None = None,
) -> jax.Array:
    """``torch.nn.functional.max_unpool2d`` on NHWC: scatter ``y`` to ``indices``, zeros elsewhere.

    Where several entries share an index (overlapping windows) their mean is written; torch
    writes one of them (which one is unspecified), the same value for indices from max pooling.
    Concrete indices are range-checked (torch raises too); traced ones are not, and an
    out-of-range index is then dropped.
    """
    check_nhwc(y, "y")
    if not hasattr(indices, "shape") or tuple(indices.shape) != tuple(y.shape):
        got = getattr(indices, "shape", type(indices).__name__)
        raise ValueError(f"indices must have the shape of y {tuple(y.shape)}, got {got}")
    if not jnp.issubdtype(indices.dtype, jnp.integer):
        raise TypeError(f"indices must be an integer array, got dtype {indices.dtype}")
    h, w = unpool_output_size(y.shape[1:3], kernel_size, stride, padding, output_size)
    what = "output_size" if output_size is not None else "kernel_size, stride and padding"
    check_output_size((h, w), what, "an output image (its flat indices are int32)")
    check_output_size((y.shape[0], h, w, y.shape[3]), what)
    if not isinstance(indices, jax.core.Tracer):
        idx = np.asarray(indices)
        if idx.size and (idx.min() < 0 or idx.max() >= h * w):
            raise ValueError(
                f"indices must lie in [0, {h * w}) for output size {(h, w)}, got range [{idx.min()}, {idx.max()}]"
            )
    return _unpool(y, indices, (h, w))


@functools.partial(jax.jit, static_argnums=2)
def _unpool(y, indices, hw):
    n, c = y.shape[0], y.shape[3]
    h, w = hw
    flat_idx = indices.reshape(n, -1, c)
    batch = jnp.arange(n)[:, None, None]
    chan = jnp.arange(c)[None, None, :]
    cells = (batch, flat_idx, chan)
    # Overlapping pool windows can report one cell twice, always with the same value. Averaging
    # the writes gives torch's value there and, unlike a scatter-set, stays linear in y, so
    # jax.linear_transpose (and grad) see the exact adjoint: a gather, divided by the count.
    total = jnp.zeros((n, h * w, c), y.dtype).at[cells].add(y.reshape(n, -1, c), mode="drop")
    count = jnp.zeros((n, h * w, c), y.dtype).at[cells].add(1, mode="drop")
    out = total / jnp.maximum(count, 1)
    return out.reshape(n, h, w, c)
