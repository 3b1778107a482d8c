"""ESPCN's last conv refitted in closed form on the training set (``--refit-last``).

The sub-pixel conv is linear in the tanh features below it, so its MSE-optimal kernel solves normal
equations (:mod:`jaxcnn.train.lstsq`). The system is built with the test-time geometry: every LR
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

from jaxcnn.train import sr_data
from jaxcnn.train.lstsq import ConvLstsqSystem, conv_normal_equations, solve_conv_lstsq
from jaxcnn.upsample.subpixel import pixel_unshuffle

LAST_LAYER, FEATURES = "conv3", "conv2"  # the refitted conv and the map it reads


def image_tiles(pair: sr_data.SRPair, scale: int, context: int, tile: int):
    """Yield ``(lr_in, hr_target, mask)``: LR input ``tile + 2 context`` square (mirrored padding at
    the image border, zeros beyond), targets ``(tile + 2 context)^2 x scale^2`` (zeros outside the
    image) and the mask of LR pixels that are in the image and not covered by an earlier tile."""
    h, w = pair.lr.shape
    side = tile + 2 * context
    lp = np.pad(pair.lr, context, mode="symmetric")
    lp = np.pad(lp, ((0, max(side - lp.shape[0], 0)), (0, max(side - lp.shape[1], 0))))
    hr9 = np.asarray(pixel_unshuffle(jnp.asarray(pair.hr, jnp.float32)[None, ..., None], scale))[0]
    covered = np.zeros((h, w), bool)

    def origins(n):
        s = list(range(0, max(n - tile, 0) + 1, tile))
        return s + [n - tile] if n > tile and s[-1] + tile < n else s

    for y in origins(h):
        for x in origins(w):
            ye, xe = min(y + tile, h), min(x + tile, w)
            mask = np.zeros((side, side), bool)
            mask[context:context + ye - y, context:context + xe - x] = ~covered[y:ye, x:xe]
            covered[y:ye, x:xe] = True
            target = np.zeros((side, side, scale * scale), np.float32)
            target[context:context + ye - y, context:context + xe - x] = hr9[y:ye, x:xe]
            yield lp[y:y + side, x:x + side], target, mask


@functools.partial(jax.jit, static_argnums=0)
def _features(model, params, x):
    return model.apply({"params": params}, x, method=lambda m, x: m.features(x)[FEATURES])


def training_system(model, params, pairs, scale: int, context: int, augment: bool = False, tile: int = 32,
                    batch: int = 64, progress: bool = True) -> ConvLstsqSystem:
    """Normal equations of conv3 over ``pairs`` (and their 8 :func:`~jaxcnn.train.sr_data.dihedral`
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
        lr, hr, mask = (np.stack(a) for a in zip(*buf))
        pad = batch - len(buf)  # a fixed batch shape: one compile
        lr = np.concatenate([lr, np.zeros((pad,) + lr.shape[1:], lr.dtype)])[..., None]
        feats = np.asarray(_features(model, params, jnp.asarray(lr, jnp.float32)))[:len(buf)]
        part = conv_normal_equations(feats, hr, k, mask)
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


def refit_last_layer(model, params, pairs, scale: int, context: int, augment: bool = False, ridge: float = 0.0,
                     progress: bool = True, **tiling):
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
    info = {"train_mse_before": system.mse(np.asarray(old["kernel"]), np.asarray(old["bias"])),
            "train_mse_after": system.mse(kernel, bias), "rows": system.count,
            "ridge": ridge, "time_s": time.perf_counter() - t0}
    return new, info
