"""ESPCN's last conv refitted in closed form on the training set (``--refit-last``).

The sub-pixel conv is linear in the tanh features below it, so its MSE-optimal kernel solves normal
equations (:mod:`experiments.lstsq`). The system is built with the test-time geometry: every LR
training image is padded by ``context`` mirrored pixels (as :func:`predict` does), cut into fixed
tiles (one compile), and every LR pixel enters exactly once; targets are the HR pixels rearranged
by ``pixel_unshuffle`` into the conv's ``scale^2`` output channels.
"""

from __future__ import annotations

import functools
import time

import jax
import jax.numpy as jnp
import numpy as np
from tqdm import tqdm

from experiments import sr_data
from experiments.lstsq import ConvLstsqSystem, solve_conv_lstsq

LAST_LAYER, FEATURES = "conv3", "conv2"  # the refitted conv and the map it reads


def image_tiles(pair: sr_data.SRPair, scale: int, context: int, tile: int):
    """Yield ``(lr_in, hr_target, mask)``: LR input ``tile + 2 context`` square (mirrored padding at
    the image border, zeros beyond), targets ``(tile + 2 context)^2 x scale^2`` (zeros outside the
    image) and the mask of LR pixels that are in the image and not covered by an earlier tile."""
    h, w = pair.lr.shape
    side = tile + 2 * context
    lp = np.pad(pair.lr, context, mode="symmetric")
    lp = np.pad(lp, ((0, max(side - lp.shape[0], 0)), (0, max(side - lp.shape[1], 0))))
    # pixel_unshuffle's channel order (i * scale + j for sub-pixel (i, j)), in numpy: no compile per shape
    hr9 = pair.hr.reshape(h, scale, w, scale).transpose(0, 2, 1, 3).reshape(h, w, scale * scale)
    covered = np.zeros((h, w), bool)

    def origins(n):
        s = list(range(0, max(n - tile, 0) + 1, tile))
        return s + [n - tile] if n > tile and s[-1] + tile < n else s

    for y in origins(h):
        for x in origins(w):
            ye, xe = min(y + tile, h), min(x + tile, w)
            mask = np.zeros((side, side), bool)
            mask[context : context + ye - y, context : context + xe - x] = ~covered[y:ye, x:xe]
            covered[y:ye, x:xe] = True
            target = np.zeros((side, side, scale * scale), np.float32)
            target[context : context + ye - y, context : context + xe - x] = hr9[y:ye, x:xe]
            yield lp[y : y + side, x : x + side], target, mask


@functools.partial(jax.jit, static_argnums=(0, 5))
def _tile_sums(model, params, lr, hr, mask, k: int):
    """Per-tile normal-equation sums ``(x^T x, x^T y, y^T y)`` of conv3 in float32 (1-2k rows a
    tile; the caller adds tiles up in float64). The same im2col as
    :func:`experiments.lstsq.conv_normal_equations` (its float64 numpy form is the tests' oracle),
    as one XLA GEMM: float64 BLAS on the host is ~5x slower."""
    f = model.apply({"params": params}, lr, method=lambda m, x: m.features(x)[FEATURES])
    n, h, w, _ = f.shape
    p = k // 2
    fp = jnp.pad(f, ((0, 0), (p, p), (p, p), (0, 0)))
    cols = [fp[:, dy : dy + h, dx : dx + w] for dy in range(k) for dx in range(k)] + [jnp.ones((n, h, w, 1), f.dtype)]
    m = mask[..., None].astype(f.dtype)
    x = (jnp.concatenate(cols, axis=-1) * m).reshape(n, h * w, -1)
    y = (hr * m).reshape(n, h * w, -1)
    hi = jax.lax.Precision.HIGHEST
    return (
        jnp.einsum("bri,brj->bij", x, x, precision=hi),
        jnp.einsum("bri,brk->bik", x, y, precision=hi),
        jnp.sum(y * y, axis=(1, 2)),
    )


def training_system(
    model,
    params,
    pairs,
    scale: int,
    context: int,
    augment: bool = False,
    tile: int = 32,
    batch: int = 64,
    progress: bool = True,
) -> ConvLstsqSystem:
    """Normal equations of conv3 over ``pairs`` (and their 8 :func:`~experiments.sr_data.dihedral`
    symmetries when ``augment``), features from ``params``."""
    if LAST_LAYER not in params:
        raise ValueError(f"model has no layer {LAST_LAYER!r} (has {sorted(params)})")
    if tile < 1 or batch < 1:
        raise ValueError(f"tile and batch must be >= 1, got {tile}, {batch}")
    k = params[LAST_LAYER]["kernel"].shape[0]
    system: ConvLstsqSystem | None = None
    buf: list = []

    def flush():
        nonlocal system
        pad = batch - len(buf)  # a fixed batch shape (zero masks fill it): one compile
        lr, hr, mask = (np.concatenate([np.stack(a), np.zeros((pad,) + a[0].shape, a[0].dtype)]) for a in zip(*buf))
        xx, xy, yy = jax.device_get(
            _tile_sums(
                model,
                params,
                jnp.asarray(lr[..., None], jnp.float32),
                jnp.asarray(hr, jnp.float32),
                jnp.asarray(mask),
                k,
            )
        )
        part = ConvLstsqSystem(
            xx.sum(0, dtype=np.float64), xy.sum(0, dtype=np.float64), float(yy.sum(dtype=np.float64)), int(mask.sum())
        )
        system = part if system is None else system + part
        buf.clear()

    views = [(p, t) for p in pairs for t in (range(8) if augment else [0])]
    for pair, t in tqdm(views, desc="refit conv3", disable=not progress, mininterval=2.0):
        view = sr_data.SRPair(pair.name, sr_data.dihedral(pair.hr, t), sr_data.dihedral(pair.lr, t))
        for item in image_tiles(view, scale, context, tile):
            buf.append(item)
            if len(buf) == batch:
                flush()
    if buf:
        flush()
    return system


def refit_last_layer(
    model,
    params,
    pairs,
    scale: int,
    context: int,
    augment: bool = False,
    ridge: float = 0.0,
    progress: bool = True,
    **tiling,
):
    """``(params with conv3 replaced by its least-squares fit, info)``: the exact minimiser of the
    training MSE over conv3 given the features (see :func:`training_system`); ``info`` holds the
    training MSE before and after (exact, from the system), the rows summed and the seconds taken."""
    t0 = time.perf_counter()
    system = training_system(model, params, pairs, scale, context, augment, progress=progress, **tiling)
    k = params[LAST_LAYER]["kernel"].shape[0]
    kernel, bias = solve_conv_lstsq(system, k, ridge)
    old = params[LAST_LAYER]
    new = dict(params)
    new[LAST_LAYER] = {"kernel": jnp.asarray(kernel, old["kernel"].dtype), "bias": jnp.asarray(bias, old["bias"].dtype)}
    info = {
        "train_mse_before": system.mse(np.asarray(old["kernel"]), np.asarray(old["bias"])),
        "train_mse_after": system.mse(kernel, bias),
        "rows": system.count,
        "ridge": ridge,
        "time_s": time.perf_counter() - t0,
    }
    return new, info
