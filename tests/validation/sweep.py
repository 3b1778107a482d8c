"""Bad-input sweep of the whole public API of jaxcnn (a tool, not a test: pytest does not collect it).

Every case calls one public function, module field or CLI argument the way a careless user
would, and the outcome is classified:

* clear   -- ValueError / TypeError whose message names the argument (a CLI's argparse error
             naming the flag counts too, as does an OSError naming a missing path);
* unclear -- any other exception, or a ValueError / TypeError whose message does not name it;
* silent  -- no error at all (the call returned something).

Run from the repository root (a few minutes on 2 CPU cores; nothing is compiled for a case
that raises at the boundary, modules are traced with ``jax.eval_shape``):

    python tests/validation/sweep.py                 # counts per module
    python tests/validation/sweep.py -v              # and every unclear / silent case
    python tests/validation/sweep.py --module upsample --json out.json

The process runs under an 8 GiB address-space limit so that a case that tries to allocate a
huge output fails with MemoryError (counted unclear) instead of taking the machine down.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import io
import json
import os
import resource
import sys
import tempfile
import time
from collections import OrderedDict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

NAN, INF = float("nan"), float("inf")
CASES: list[tuple[str, str, tuple[str, ...], object]] = []  # (module, label, names, thunk)
_GROUPS = []


def group(fn):
    """A function that registers the cases of one module (imports stay lazy and isolated)."""
    _GROUPS.append(fn)
    return fn


def add(module: str, names, label: str, thunk) -> None:
    CASES.append((module, label, (names,) if isinstance(names, str) else tuple(names), thunk))


# ----------------------------------------------------------------------------- shared fixtures


@functools.cache
def fx():
    from types import SimpleNamespace

    import jax
    import jax.numpy as jnp
    import numpy as np

    return SimpleNamespace(
        jax=jax,
        jnp=jnp,
        np=np,
        K=jax.random.key(0),
        X=jnp.ones((1, 8, 8, 4)),
        X1=jnp.ones((2, 8, 8, 1)),
        XI=jnp.ones((2, 8, 8, 3), jnp.int32),
        IMG=np.zeros((12, 12, 3)),
    )


def init(model, x, **kwargs):
    """Trace (not compile) ``model.init`` and return the output's shape: silent cases stay cheap."""
    f = fx()
    rngs = {"params": f.K, "dropout": f.K}
    out = f.jax.eval_shape(lambda: model.init_with_output(rngs, x, **kwargs)[0])
    return out


# ----------------------------------------------------------------------------- upsample


@group
def _interpolate():
    from jaxcnn.upsample import interpolate

    f = fx()
    X, m = f.X, "upsample.interpolate"
    bad = [
        ("scale_factor", "scale_factor=1e9 (huge output)", lambda: interpolate(X, scale_factor=1e9)),
        ("scale_factor", "scale_factor=(1, 1e8)", lambda: interpolate(X, scale_factor=(1.0, 1e8))),
        ("size", "size=10**6 (huge output)", lambda: interpolate(X, size=10**6)),
        ("size", "size=(4, 10**9)", lambda: interpolate(X, size=(4, 10**9))),
        ("size", "size=0", lambda: interpolate(X, size=0)),
        ("size", "size=-3", lambda: interpolate(X, size=-3)),
        ("size", "size=(0, 4)", lambda: interpolate(X, size=(0, 4))),
        ("size", "size=2.5", lambda: interpolate(X, size=2.5)),
        ("size", "size=4.0", lambda: interpolate(X, size=4.0)),
        ("size", "size='4'", lambda: interpolate(X, size="4")),
        ("size", "size=True", lambda: interpolate(X, size=True)),
        ("size", "size=(4,)", lambda: interpolate(X, size=(4,))),
        ("size", "size=(2,3,4)", lambda: interpolate(X, size=(2, 3, 4))),
        ("size", "size=jnp array", lambda: interpolate(X, size=f.jnp.array([4, 4]))),
        ("scale_factor", "scale_factor=nan", lambda: interpolate(X, scale_factor=NAN)),
        ("scale_factor", "scale_factor=inf", lambda: interpolate(X, scale_factor=INF)),
        ("scale_factor", "scale_factor=0", lambda: interpolate(X, scale_factor=0)),
        ("scale_factor", "scale_factor=-2", lambda: interpolate(X, scale_factor=-2.0)),
        ("scale_factor", "scale_factor=0.01 (empty)", lambda: interpolate(X, scale_factor=0.01)),
        ("scale_factor", "scale_factor='2'", lambda: interpolate(X, scale_factor="2")),
        ("scale_factor", "scale_factor=True", lambda: interpolate(X, scale_factor=True)),
        ("scale_factor", "scale_factor=(2,2,2)", lambda: interpolate(X, scale_factor=(2, 2, 2))),
        ("scale_factor", "scale_factor=complex", lambda: interpolate(X, scale_factor=2j)),
        (("size", "scale_factor"), "both size and scale_factor", lambda: interpolate(X, size=4, scale_factor=2)),
        (("size", "scale_factor"), "neither", lambda: interpolate(X)),
        ("mode", "mode='linear'", lambda: interpolate(X, scale_factor=2, mode="linear")),
        ("mode", "mode=None", lambda: interpolate(X, scale_factor=2, mode=None)),
        ("mode", "mode='BILINEAR'", lambda: interpolate(X, scale_factor=2, mode="BILINEAR")),
        ("mode", "mode=['bilinear'] (unhashable)", lambda: interpolate(X, scale_factor=2, mode=["bilinear"])),
        ("align_corners", "align_corners with nearest", lambda: interpolate(X, scale_factor=2, align_corners=True)),
        ("align_corners", "align_corners=1", lambda: interpolate(X, scale_factor=2, mode="bilinear", align_corners=1)),
        (
            "align_corners",
            "align_corners='yes'",
            lambda: interpolate(X, scale_factor=2, mode="bilinear", align_corners="yes"),
        ),
        ("antialias", "antialias with nearest", lambda: interpolate(X, scale_factor=2, antialias=True)),
        ("antialias", "antialias='yes'", lambda: interpolate(X, scale_factor=0.5, mode="bilinear", antialias="yes")),
        ("antialias", "antialias=None", lambda: interpolate(X, scale_factor=0.5, mode="bilinear", antialias=None)),
        ("recompute_scale_factor", "recompute with size", lambda: interpolate(X, size=4, recompute_scale_factor=True)),
        (
            "recompute_scale_factor",
            "recompute='yes'",
            lambda: interpolate(X, scale_factor=2, recompute_scale_factor="yes"),
        ),
        ("x", "x 3-D", lambda: interpolate(f.jnp.ones((8, 8, 4)), size=4)),
        ("x", "x a list", lambda: interpolate([[1.0]], size=4)),
        ("x", "x int, bilinear", lambda: interpolate(f.XI, size=4, mode="bilinear")),
        ("x", "x bool, bicubic", lambda: interpolate(f.jnp.ones((1, 4, 4, 1), bool), size=8, mode="bicubic")),
        ("x", "x with H=0", lambda: interpolate(f.jnp.ones((1, 0, 4, 1)), size=4)),
        ("x", "x with W=0, bilinear", lambda: interpolate(f.jnp.ones((1, 4, 0, 1)), size=4, mode="bilinear")),
    ]
    for names, label, thunk in bad:
        add(m, names, label, thunk)


@group
def _unpool():
    from jaxcnn.upsample import max_pool_with_indices, max_unpool

    f = fx()
    X, m = f.X, "upsample.unpool"
    Y, IDX = max_pool_with_indices(f.jnp.arange(64.0).reshape(1, 4, 4, 4), 2)
    bad = [
        ("kernel_size", "kernel_size=0", lambda: max_pool_with_indices(X, 0)),
        ("kernel_size", "kernel_size=2.0", lambda: max_pool_with_indices(X, 2.0)),
        ("kernel_size", "kernel_size=True", lambda: max_pool_with_indices(X, True)),
        ("kernel_size", "kernel_size=(2,2,2)", lambda: max_pool_with_indices(X, (2, 2, 2))),
        ("kernel_size", "kernel_size=None", lambda: max_pool_with_indices(X, None)),
        ("kernel_size", "kernel_size=9 > input", lambda: max_pool_with_indices(X, 9)),
        ("stride", "stride=0", lambda: max_pool_with_indices(X, 2, 0)),
        ("stride", "stride=1.5", lambda: max_pool_with_indices(X, 2, 1.5)),
        ("stride", "stride=-1", lambda: max_pool_with_indices(X, 2, -1)),
        ("padding", "padding=-1", lambda: max_pool_with_indices(X, 2, padding=-1)),
        ("padding", "padding=2 > k/2", lambda: max_pool_with_indices(X, 2, padding=2)),
        ("padding", "padding=0.5", lambda: max_pool_with_indices(X, 2, padding=0.5)),
        ("ceil_mode", "ceil_mode='yes'", lambda: max_pool_with_indices(X, 2, ceil_mode="yes")),
        ("x", "x 3-D", lambda: max_pool_with_indices(f.jnp.ones((8, 8, 4)), 2)),
        ("x", "x a list", lambda: max_pool_with_indices([[1.0]], 2)),
        ("indices", "indices wrong shape", lambda: max_unpool(Y, IDX[:, :1], 2)),
        ("indices", "indices float", lambda: max_unpool(Y, IDX.astype(f.jnp.float32), 2)),
        ("indices", "indices out of range", lambda: max_unpool(Y, IDX + 100, 2)),
        ("indices", "indices negative", lambda: max_unpool(Y, IDX - 100, 2)),
        ("indices", "indices a list", lambda: max_unpool(Y, [[0]], 2)),
        ("y", "y 3-D", lambda: max_unpool(Y[0], IDX[0], 2)),
        ("output_size", "output_size=4 (int)", lambda: max_unpool(Y, IDX, 2, output_size=4)),
        ("output_size", "output_size=(4.0, 4.0)", lambda: max_unpool(Y, IDX, 2, output_size=(4.0, 4.0))),
        ("output_size", "output_size out of range", lambda: max_unpool(Y, IDX, 2, output_size=(9, 4))),
        ("output_size", "output_size=(4,)", lambda: max_unpool(Y, IDX, 2, output_size=(4,))),
        ("kernel_size", "unpool kernel_size=0", lambda: max_unpool(Y, IDX, 0)),
        ("stride", "unpool stride=1.5", lambda: max_unpool(Y, IDX, 2, stride=1.5)),
        (
            ("kernel_size", "output"),
            "unpool kernel_size=10**5 (huge output)",
            lambda: max_unpool(Y, IDX, 10**5, padding=0),
        ),
        (("stride", "output"), "unpool stride=10**5 (huge output)", lambda: max_unpool(Y, IDX, 2, stride=10**5)),
    ]
    for names, label, thunk in bad:
        add(m, names, label, thunk)


@group
def _transposed():
    from jaxcnn.upsample import ConvTranspose, conv_transpose

    f = fx()
    X, m, jnp = f.X, "upsample.transposed", f.jnp
    Kn = jnp.zeros((3, 3, 2, 4))
    bad = [
        ("stride", "stride=0", lambda: conv_transpose(X, Kn, stride=0)),
        ("stride", "stride=1.5", lambda: conv_transpose(X, Kn, stride=1.5)),
        ("stride", "stride=(1,2,3)", lambda: conv_transpose(X, Kn, stride=(1, 2, 3))),
        (("stride", "output"), "stride=10**5 (huge output)", lambda: conv_transpose(X, Kn, stride=10**5)),
        ("padding", "padding=-1", lambda: conv_transpose(X, Kn, padding=-1)),
        ("padding", "padding=9 (empty output)", lambda: conv_transpose(X, Kn, padding=9)),
        ("padding", "padding=0.5", lambda: conv_transpose(X, Kn, padding=0.5)),
        ("output_padding", "output_padding >= stride", lambda: conv_transpose(X, Kn, stride=2, output_padding=2)),
        ("output_padding", "output_padding=-1", lambda: conv_transpose(X, Kn, output_padding=-1)),
        ("dilation", "dilation=0", lambda: conv_transpose(X, Kn, dilation=0)),
        ("dilation", "dilation=1.5", lambda: conv_transpose(X, Kn, dilation=1.5)),
        (("dilation", "output"), "dilation=10**5 (huge output)", lambda: conv_transpose(X, Kn, dilation=10**5)),
        ("groups", "groups=0", lambda: conv_transpose(X, Kn, groups=0)),
        ("groups", "groups=1.5", lambda: conv_transpose(X, Kn, groups=1.5)),
        ("groups", "groups=True", lambda: conv_transpose(X, Kn, groups=True)),
        ("groups", "groups=3 does not divide", lambda: conv_transpose(X, Kn, groups=3)),
        ("kernel", "kernel 3-D", lambda: conv_transpose(X, jnp.zeros((3, 2, 4)))),
        ("kernel", "kernel C_in mismatch", lambda: conv_transpose(X, jnp.zeros((3, 3, 2, 5)))),
        ("kernel", "kernel a list", lambda: conv_transpose(X, [[1.0]])),
        ("kernel", "kernel with kH=0", lambda: conv_transpose(X, jnp.zeros((0, 3, 2, 4)))),
        ("y", "y 3-D", lambda: conv_transpose(jnp.ones((8, 8, 4)), Kn)),
        ("y", "y int", lambda: conv_transpose(jnp.ones((1, 8, 8, 4), jnp.int32), Kn.astype(jnp.int32))),
        ("precision", "precision='best!'", lambda: conv_transpose(X, Kn, precision="best!")),
        ("features", "module features=0", lambda: init(ConvTranspose(0, 3), X)),
        ("features", "module features=2.5", lambda: init(ConvTranspose(2.5, 3), X)),
        ("features", "module features=-2", lambda: init(ConvTranspose(-2, 3), X)),
        ("kernel_size", "module kernel_size=0", lambda: init(ConvTranspose(2, 0), X)),
        ("kernel_size", "module kernel_size=2.5", lambda: init(ConvTranspose(2, 2.5), X)),
        ("groups", "module groups=0", lambda: init(ConvTranspose(2, 3, groups=0), X)),
        ("groups", "module groups=2.5", lambda: init(ConvTranspose(4, 3, groups=2.5), X)),
        (("features", "groups"), "module features % groups", lambda: init(ConvTranspose(3, 3, groups=2), X)),
        ("stride", "module stride=0", lambda: init(ConvTranspose(2, 3, stride=0), X)),
        ("use_bias", "module use_bias='no'", lambda: init(ConvTranspose(2, 3, use_bias="no"), X)),
        ("y", "module y 3-D", lambda: init(ConvTranspose(2, 3), jnp.ones((8, 8, 4)))),
    ]
    for names, label, thunk in bad:
        add(m, names, label, thunk)


@group
def _subpixel():
    from jaxcnn.upsample import SubPixelConv, icnr, pixel_shuffle, pixel_unshuffle

    f = fx()
    X, m, jnp, _np = f.X, "upsample.subpixel", f.jnp, f.np
    bad = [
        ("r", "shuffle r=0", lambda: pixel_shuffle(X, 0)),
        ("r", "shuffle r=1.5", lambda: pixel_shuffle(X, 1.5)),
        ("r", "shuffle r=2.0", lambda: pixel_shuffle(X, 2.0)),
        ("r", "shuffle r=True", lambda: pixel_shuffle(X, True)),
        ("r", "shuffle r=-2", lambda: pixel_shuffle(X, -2)),
        ("r", "shuffle r=None", lambda: pixel_shuffle(X, None)),
        (("x", "r"), "shuffle channels not divisible", lambda: pixel_shuffle(jnp.ones((1, 2, 2, 6)), 2)),
        ("x", "shuffle x 3-D", lambda: pixel_shuffle(jnp.ones((2, 2, 4)), 2)),
        ("x", "shuffle x list", lambda: pixel_shuffle([[1.0]], 2)),
        ("r", "unshuffle r=0", lambda: pixel_unshuffle(X, 0)),
        ("r", "unshuffle r=2.5", lambda: pixel_unshuffle(X, 2.5)),
        (("x", "r"), "unshuffle H not divisible", lambda: pixel_unshuffle(jnp.ones((1, 3, 4, 1)), 2)),
        ("x", "unshuffle x 5-D", lambda: pixel_unshuffle(jnp.ones((1, 1, 4, 4, 1)), 2)),
        ("r", "icnr r=0", lambda: icnr(0)),
        ("r", "icnr r=1.5", lambda: icnr(1.5)),
        ("base_init", "icnr base_init='normal'", lambda: icnr(2, "normal")(f.K, (3, 3, 4, 8))),
        ("shape", "icnr shape channels not divisible", lambda: icnr(2)(f.K, (3, 3, 4, 6))),
        ("shape", "icnr shape 3-D", lambda: icnr(2)(f.K, (3, 4, 8))),
        ("features", "SubPixelConv features=0", lambda: init(SubPixelConv(0, 2), X)),
        ("features", "SubPixelConv features=2.5", lambda: init(SubPixelConv(2.5, 2), X)),
        ("scale", "SubPixelConv scale=0", lambda: init(SubPixelConv(1, 0), X)),
        ("scale", "SubPixelConv scale=1.5", lambda: init(SubPixelConv(1, 1.5), X)),
        ("kernel_size", "SubPixelConv kernel_size=0", lambda: init(SubPixelConv(1, 2, kernel_size=0), X)),
        ("kernel_size", "SubPixelConv kernel_size=4 (even)", lambda: init(SubPixelConv(1, 2, kernel_size=4), X)),
        ("kernel_size", "SubPixelConv kernel_size=2 (even)", lambda: init(SubPixelConv(1, 2, kernel_size=2), X)),
        ("kernel_size", "SubPixelConv kernel_size=3.0", lambda: init(SubPixelConv(1, 2, kernel_size=3.0), X)),
        ("use_bias", "SubPixelConv use_bias='no'", lambda: init(SubPixelConv(1, 2, use_bias="no"), X)),
        ("x", "SubPixelConv x 3-D", lambda: init(SubPixelConv(1, 2), jnp.ones((8, 8, 4)))),
        ("kernel_init", "SubPixelConv kernel_init='icnr'", lambda: init(SubPixelConv(1, 2, kernel_init="icnr"), X)),
    ]
    for names, label, thunk in bad:
        add(m, names, label, thunk)


# ----------------------------------------------------------------------------- regularizers


@group
def _cutout():
    from jaxcnn.regularizers import Cutout, cutout

    f = fx()
    X, K, m, jnp = f.X, f.K, "regularizers.cutout", f.jnp
    bad = [
        ("size", "size=0", lambda: cutout(K, X, 0)),
        ("size", "size=-4", lambda: cutout(K, X, -4)),
        ("size", "size=2.5", lambda: cutout(K, X, 2.5)),
        ("size", "size=4.0", lambda: cutout(K, X, 4.0)),
        ("size", "size=True", lambda: cutout(K, X, True)),
        ("size", "size=2**40 (int32 corners)", lambda: cutout(K, X, 2**40)),
        ("size", "size='4'", lambda: cutout(K, X, "4")),
        ("fill", "fill='mean'", lambda: cutout(K, X, 4, fill="mean")),
        ("fill", "fill wrong shape", lambda: cutout(K, X, 4, fill=jnp.zeros(3))),
        ("fill", "fill=None", lambda: cutout(K, X, 4, fill=None)),
        ("fill", "fill list", lambda: cutout(K, X, 4, fill=[0.0, 0.0, 0.0, 0.0])),
        ("fill", "fill=0.5 on int images (truncated)", lambda: cutout(K, f.XI, 4, fill=0.5)),
        ("fill", "fill=-1 on uint8 images (wraps)", lambda: cutout(K, f.XI.astype(jnp.uint8), 4, fill=-1)),
        ("images", "images 3-D", lambda: cutout(K, jnp.ones((8, 8, 3)), 4)),
        ("images", "images list", lambda: cutout(K, [[1.0]], 4)),
        ("key", "key int", lambda: cutout(0, X, 4)),
        ("key", "key None", lambda: cutout(None, X, 4)),
        ("key", "key batch", lambda: cutout(f.jax.random.split(K, 2), X, 4)),
        ("size", "Cutout size=0 (deterministic)", lambda: Cutout(0).apply({}, X, deterministic=True)),
        ("size", "Cutout size=2.5", lambda: Cutout(2.5).apply({}, X, deterministic=False, rngs={"dropout": K})),
        ("fill", "Cutout fill='mean' (deterministic)", lambda: Cutout(4, fill="mean").apply({}, X, deterministic=True)),
        ("deterministic", "Cutout deterministic='no'", lambda: Cutout(4).apply({}, X, deterministic="no")),
        (
            "rng_collection",
            "Cutout rng_collection=5",
            lambda: Cutout(4, rng_collection=5).apply({}, X, deterministic=False, rngs={"dropout": K}),
        ),
    ]
    for names, label, thunk in bad:
        add(m, names, label, thunk)


@group
def _dropblock():
    from jaxcnn.regularizers import DropBlock, drop_block, dropblock_gamma, scheduled_drop_rate

    f = fx()
    X, K, m, jnp = f.X, f.K, "regularizers.dropblock", f.jnp
    bad = [
        ("x", "x int32 (1/p rescale truncated)", lambda: drop_block(K, f.XI, 0.3, 3)),
        ("x", "x uint8", lambda: drop_block(K, f.XI.astype(jnp.uint8), 0.3, 3)),
        ("x", "x bool", lambda: drop_block(K, f.XI.astype(bool), 0.3, 3)),
        ("x", "x 3-D", lambda: drop_block(K, jnp.ones((8, 8, 3)), 0.3, 3)),
        ("x", "x list", lambda: drop_block(K, [[1.0]], 0.3, 3)),
        ("drop_rate", "drop_rate=nan", lambda: drop_block(K, X, NAN, 3)),
        ("drop_rate", "drop_rate=1.5", lambda: drop_block(K, X, 1.5, 3)),
        ("drop_rate", "drop_rate=-0.1", lambda: drop_block(K, X, -0.1, 3)),
        ("drop_rate", "drop_rate='0.1'", lambda: drop_block(K, X, "0.1", 3)),
        ("drop_rate", "drop_rate=True", lambda: drop_block(K, X, True, 3)),
        ("drop_rate", "drop_rate=None", lambda: drop_block(K, X, None, 3)),
        ("drop_rate", "drop_rate jnp nan", lambda: drop_block(K, X, jnp.float32(NAN), 3)),
        ("drop_rate", "drop_rate vector", lambda: drop_block(K, X, jnp.array([0.1, 0.2]), 3)),
        ("block_size", "block_size=0", lambda: drop_block(K, X, 0.1, 0)),
        ("block_size", "block_size=2.5", lambda: drop_block(K, X, 0.1, 2.5)),
        ("block_size", "block_size=3.0", lambda: drop_block(K, X, 0.1, 3.0)),
        ("block_size", "block_size=True", lambda: drop_block(K, X, 0.1, True)),
        ("per_channel", "per_channel='yes'", lambda: drop_block(K, X, 0.1, 3, "yes")),
        ("normalize", "normalize='no'", lambda: drop_block(K, X, 0.1, 3, normalize="no")),
        ("gamma_rule", "gamma_rule='solve'", lambda: drop_block(K, X, 0.1, 3, gamma_rule="solve")),
        ("seed_region", "seed_region='all'", lambda: drop_block(K, X, 0.1, 3, seed_region="all")),
        ("seed_region", "seed_region=['valid']", lambda: drop_block(K, X, 0.1, 3, seed_region=["valid"])),
        ("key", "key int", lambda: drop_block(0, X, 0.1, 3)),
        ("key", "key float pair", lambda: drop_block(jnp.zeros(2), X, 0.1, 3)),
        ("height", "gamma height=0", lambda: dropblock_gamma(0.1, 0, 8, 3)),
        ("width", "gamma width=8.5", lambda: dropblock_gamma(0.1, 8, 8.5, 3)),
        ("block_size", "gamma block_size=0", lambda: dropblock_gamma(0.1, 8, 8, 0)),
        ("drop_rate", "gamma drop_rate=nan", lambda: dropblock_gamma(NAN, 8, 8, 3)),
        ("rule", "gamma rule='x'", lambda: dropblock_gamma(0.1, 8, 8, 3, rule="x")),
        ("seed_region", "gamma seed_region='x'", lambda: dropblock_gamma(0.1, 8, 8, 3, seed_region="x")),
        ("total_steps", "schedule total_steps=0", lambda: scheduled_drop_rate(3, 0, 0.1)),
        ("total_steps", "schedule total_steps=2.5", lambda: scheduled_drop_rate(3, 2.5, 0.1)),
        ("drop_rate", "schedule drop_rate=nan", lambda: scheduled_drop_rate(3, 10, NAN)),
        ("step", "schedule step='3'", lambda: scheduled_drop_rate("3", 10, 0.1)),
        ("step", "schedule step=nan", lambda: scheduled_drop_rate(NAN, 10, 0.1)),
        ("drop_rate", "DropBlock drop_rate=nan", lambda: DropBlock(NAN).apply({}, X, deterministic=True)),
        (
            "block_size",
            "DropBlock block_size=0 (deterministic)",
            lambda: DropBlock(0.1, block_size=0).apply({}, X, deterministic=True),
        ),
        (
            "gamma_rule",
            "DropBlock gamma_rule='x' (deterministic)",
            lambda: DropBlock(0.1, gamma_rule="x").apply({}, X, deterministic=True),
        ),
        ("x", "DropBlock x int32", lambda: DropBlock(0.3, 3).apply({}, f.XI, deterministic=False, rngs={"dropout": K})),
        ("deterministic", "DropBlock deterministic='no'", lambda: DropBlock(0.1).apply({}, X, deterministic="no")),
    ]
    for names, label, thunk in bad:
        add(m, names, label, thunk)


@group
def _stochastic_depth():
    from jaxcnn.regularizers import StochasticDepth, stochastic_depth, survival_probabilities

    f = fx()
    X, K, m, jnp = f.X, f.K, "regularizers.stochastic_depth", f.jnp

    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from test_stochastic_depth import residual  # the table test's host module, shared

    bad = [
        ("x", "x int32 (1/p rescale truncated)", lambda: stochastic_depth(K, f.XI, 0.3)),
        ("x", "x bool", lambda: stochastic_depth(K, f.XI.astype(bool), 0.3)),
        ("drop_rate", "drop_rate=nan", lambda: stochastic_depth(K, X, NAN)),
        ("drop_rate", "drop_rate='0.1'", lambda: stochastic_depth(K, X, "0.1")),
        ("mode", "mode='col'", lambda: stochastic_depth(K, X, 0.1, mode="col")),
        ("scale_by_keep", "scale_by_keep='no'", lambda: stochastic_depth(K, X, 0.1, scale_by_keep="no")),
        ("num_blocks", "schedule num_blocks=0", lambda: survival_probabilities(0)),
        ("num_blocks", "schedule num_blocks=2.5", lambda: survival_probabilities(2.5)),
        ("final_survival", "schedule final_survival=nan", lambda: survival_probabilities(4, NAN)),
        ("rule", "schedule rule='x'", lambda: survival_probabilities(4, 0.5, "x")),
        ("drop_rate", "StochasticDepth drop_rate=nan", lambda: StochasticDepth(NAN).apply({}, X, deterministic=True)),
        (
            "mode",
            "StochasticDepth mode='x' (deterministic)",
            lambda: StochasticDepth(0.1, mode="x").apply({}, X, deterministic=True),
        ),
        (
            "x",
            "StochasticDepth x int",
            lambda: StochasticDepth(0.5).apply({}, f.XI, deterministic=False, rngs={"dropout": K}),
        ),
        ("x", "x int32, rate 0 (fails at the first nonzero rate otherwise)", lambda: stochastic_depth(K, f.XI, 0.0)),
        ("x", "x a scalar", lambda: stochastic_depth(K, jnp.ones(()), 0.1)),
        ("x", "x a list", lambda: stochastic_depth(K, [1.0, 2.0], 0.1)),
        ("key", "key int", lambda: stochastic_depth(0, X, 0.1)),
        ("drop_rate", "drop_rate=1.5", lambda: stochastic_depth(K, X, 1.5)),
        ("drop_rate", "drop_rate=True", lambda: stochastic_depth(K, X, True)),
        ("mode", "mode=None", lambda: stochastic_depth(K, X, 0.1, mode=None)),
        ("scale_by_keep", "scale_by_keep=1", lambda: stochastic_depth(K, X, 0.1, scale_by_keep=1)),
        ("final_survival", "schedule final_survival=1.5", lambda: survival_probabilities(4, 1.5)),
        ("final_survival", "schedule final_survival array", lambda: survival_probabilities(4, jnp.float32(0.5))),
        ("num_blocks", "schedule num_blocks=True", lambda: survival_probabilities(True)),
        (
            "x",
            "StochasticDepth x int, paper rule at test (p-scale truncated)",
            lambda: StochasticDepth(0.3, test_rule="paper").apply({}, f.XI, deterministic=True),
        ),
        (
            "test_rule",
            "StochasticDepth test_rule='x'",
            lambda: StochasticDepth(0.1, test_rule="x").apply({}, X, deterministic=True),
        ),
        ("drop_rate", "StochasticDepth drop_rate=1.5", lambda: StochasticDepth(1.5).apply({}, X, deterministic=True)),
        (
            "deterministic",
            "StochasticDepth deterministic='no'",
            lambda: StochasticDepth(0.1).apply({}, X, deterministic="no"),
        ),
        (
            "rng_collection",
            "StochasticDepth rng_collection=5",
            lambda: StochasticDepth(0.1, rng_collection=5).apply({}, X, deterministic=True),
        ),
        ("x", "StochasticDepth x a scalar", lambda: StochasticDepth(0.1).apply({}, jnp.ones(()), deterministic=True)),
        ("module", "stochastic_residual module=5", lambda: residual(module=5)),
        ("branch_fn", "stochastic_residual branch_fn=None", lambda: residual(branch_fn=None)),
        ("shortcut", "stochastic_residual shortcut a list", lambda: residual(shortcut=[1.0])),
        (
            "shortcut",
            "stochastic_residual shortcut int (scale truncated)",
            lambda: residual(shortcut=f.XI[:1, :, :, :1]),
        ),
        ("survival_prob", "stochastic_residual survival_prob=nan", lambda: residual(survival_prob=NAN)),
        ("deterministic", "stochastic_residual deterministic='no'", lambda: residual(deterministic="no")),
        ("mode", "stochastic_residual mode='x'", lambda: residual(mode="x")),
        ("test_rule", "stochastic_residual test_rule='x'", lambda: residual(test_rule="x")),
        ("rng_collection", "stochastic_residual rng_collection=None", lambda: residual(rng_collection=None)),
    ]
    for names, label, thunk in bad:
        add(m, names, label, thunk)


# ----------------------------------------------------------------------------- metrics, utils


@group
def _metrics():
    from jaxcnn.metrics import modcrop, psnr, psnr_y, rgb_to_y, shave

    f = fx()
    np, m, IMG = f.np, "metrics", f.IMG
    G = np.zeros((8, 8))
    bad = [
        ("scale", "modcrop scale=0", lambda: modcrop(IMG, 0)),
        ("scale", "modcrop scale=2.0", lambda: modcrop(IMG, 2.0)),
        ("scale", "modcrop scale=True", lambda: modcrop(IMG, True)),
        ("scale", "modcrop scale='2'", lambda: modcrop(IMG, "2")),
        (("image", "scale"), "modcrop image smaller than scale", lambda: modcrop(np.zeros((2, 2)), 3)),
        ("image", "modcrop image 1-D", lambda: modcrop(np.zeros(5), 2)),
        ("image", "modcrop image 4-D", lambda: modcrop(np.zeros((1, 4, 4, 3)), 2)),
        ("border", "shave border=-1", lambda: shave(IMG, -1)),
        ("border", "shave border=1.5", lambda: shave(IMG, 1.5)),
        ("border", "shave border=True", lambda: shave(IMG, True)),
        ("border", "shave border too large", lambda: shave(IMG, 6)),
        ("image", "shave image 1-D", lambda: shave(np.zeros(5), 1)),
        ("rgb", "rgb_to_y 2-D", lambda: rgb_to_y(G)),
        ("rgb", "rgb_to_y 4 channels", lambda: rgb_to_y(np.zeros((4, 4, 4)))),
        ("rgb", "rgb_to_y int32", lambda: rgb_to_y(np.zeros((4, 4, 3), np.int32))),
        ("rgb", "rgb_to_y uint16", lambda: rgb_to_y(np.zeros((4, 4, 3), np.uint16))),
        ("rgb", "rgb_to_y float in [0, 255]", lambda: rgb_to_y(np.full((4, 4, 3), 200.0))),
        ("rgb", "rgb_to_y float with NaN", lambda: rgb_to_y(np.full((4, 4, 3), NAN))),
        ("round", "rgb_to_y round='no'", lambda: rgb_to_y(np.zeros((4, 4, 3)), round="no")),
        (("reference", "estimate"), "psnr shape mismatch", lambda: psnr(G, np.zeros((8, 9)))),
        ("reference", "psnr reference 1-D", lambda: psnr(np.zeros(8), np.zeros(8))),
        ("peak", "psnr peak=0", lambda: psnr(G, G + 1, peak=0)),
        ("peak", "psnr peak=nan", lambda: psnr(G, G + 1, peak=NAN)),
        ("peak", "psnr peak=inf", lambda: psnr(G, G + 1, peak=INF)),
        ("peak", "psnr peak='255'", lambda: psnr(G, G + 1, peak="255")),
        ("shave_border", "psnr shave_border=-1", lambda: psnr(G, G + 1, shave_border=-1)),
        ("shave_border", "psnr shave_border=1.5", lambda: psnr(G, G + 1, shave_border=1.5)),
        ("shave_border", "psnr shave_border too large", lambda: psnr(G, G + 1, shave_border=4)),
        ("reference", "psnr reference strings", lambda: psnr(np.array([["a", "b"], ["c", "d"]]), np.zeros((2, 2)))),
        ("scale", "psnr_y scale=0", lambda: psnr_y(G, G, 0)),
        ("scale", "psnr_y scale=-1", lambda: psnr_y(G, G, -1)),
        ("scale", "psnr_y scale=1.5", lambda: psnr_y(G, G, 1.5)),
        ("scale", "psnr_y scale too large", lambda: psnr_y(G, G, 4)),
        ("reference_y", "psnr_y reference 3-channel", lambda: psnr_y(np.zeros((8, 8, 3)), np.zeros((8, 8, 3)), 2)),
    ]
    for names, label, thunk in bad:
        add(m, names, label, thunk)


@group
def _utils():
    from jaxcnn import count_params

    f = fx()
    bad = [
        ("tree", "count_params(5)", lambda: count_params(5)),
        ("tree", "count_params('abc')", lambda: count_params("abc")),
        ("tree", "count_params([[1, 2]]) (list of lists)", lambda: count_params([[1, 2]])),
        ("tree", "count_params(None)", lambda: count_params(None)),
        ("tree", "count_params params with a float leaf", lambda: count_params({"params": {"w": f.X, "b": 1.0}})),
    ]
    for names, label, thunk in bad:
        add("utils", names, label, thunk)


# ----------------------------------------------------------------------------- layers, backend


@group
def _layers():
    from jaxcnn.layers import (
        BatchNorm,
        Conv,
        WeightStandardizedConv,
        avg_pool_ceil_exclude_pad,
        batch_norm,
        conv,
        conv_args,
        global_avg_pool,
        make_divisible,
        make_norm,
        max_pool_torch,
        torch_padding,
    )

    f = fx()
    X, m, jnp = f.X, "layers", f.jnp
    bad = [
        ("features", "conv features=0", lambda: init(conv(0), X)),
        ("features", "conv features=2.5", lambda: init(conv(2.5), X)),
        ("features", "conv features=True", lambda: init(conv(True), X)),
        ("kernel_size", "conv kernel_size=0", lambda: init(conv(4, kernel_size=0), X)),
        ("kernel_size", "conv kernel_size=2.5", lambda: init(conv(4, kernel_size=2.5), X)),
        ("kernel_size", "conv kernel_size=4 (even, 'same' promised)", lambda: init(conv(4, kernel_size=4), X)),
        ("kernel_size", "conv kernel_size=(3, 3) (square only)", lambda: init(conv(4, kernel_size=(3, 3)), X)),
        ("stride", "conv stride=0", lambda: init(conv(4, stride=0), X)),
        ("stride", "conv stride=1.5", lambda: init(conv(4, stride=1.5), X)),
        ("stride", "conv stride=(2, 2)", lambda: init(conv(4, stride=(2, 2)), X)),
        ("groups", "conv groups=3 on 4 channels", lambda: init(conv(6, groups=3), X)),
        ("groups", "conv groups=0", lambda: init(conv(4, groups=0), X)),
        ("groups", "conv groups=1.5", lambda: init(conv(4, groups=1.5), X)),
        ("dilation", "conv dilation=0", lambda: init(conv(4, dilation=0), X)),
        ("dilation", "conv dilation=1.5", lambda: init(conv(4, dilation=1.5), X)),
        ("use_bias", "conv use_bias='no'", lambda: init(conv(4, use_bias="no"), X)),
        ("module", "conv module=5", lambda: init(conv(4, module=5), X)),
        ("name", "conv name=5", lambda: conv(4, name=5)),
        ("features", "Conv features=0", lambda: init(Conv(0, (3, 3)), X)),
        ("kernel_size", "Conv kernel_size=(0, 3)", lambda: init(Conv(4, (0, 3)), X)),
        ("kernel_size", "Conv kernel_size=(2.5, 3)", lambda: init(Conv(4, (2.5, 3)), X)),
        ("strides", "Conv strides=0", lambda: init(Conv(4, (3, 3), strides=0), X)),
        ("strides", "Conv strides=(1.5, 1)", lambda: init(Conv(4, (3, 3), strides=(1.5, 1)), X)),
        ("kernel_dilation", "Conv kernel_dilation=0", lambda: init(Conv(4, (3, 3), kernel_dilation=0), X)),
        ("input_dilation", "Conv input_dilation=(0, 1)", lambda: init(Conv(4, (3, 3), input_dilation=(0, 1)), X)),
        ("feature_group_count", "Conv feature_group_count=0", lambda: init(Conv(4, (3, 3), feature_group_count=0), X)),
        ("groups", "Conv feature_group_count=3 on 4 channels", lambda: init(Conv(6, (3, 3), feature_group_count=3), X)),
        ("use_bias", "Conv use_bias='no'", lambda: init(Conv(4, (3, 3), use_bias="no"), X)),
        ("inputs", "Conv inputs a list", lambda: Conv(4, (3, 3)).init(f.K, [[1.0]])),
        ("eps", "WeightStandardizedConv eps=0", lambda: init(WeightStandardizedConv(4, (3, 3), eps=0.0), X)),
        ("eps", "WeightStandardizedConv eps=nan", lambda: init(WeightStandardizedConv(4, (3, 3), eps=NAN), X)),
        ("momentum", "BatchNorm momentum=1.5", lambda: BatchNorm(momentum=1.5)),
        ("momentum", "BatchNorm momentum='0.9'", lambda: BatchNorm(momentum="0.9")),
        ("epsilon", "BatchNorm epsilon=0", lambda: BatchNorm(epsilon=0.0)),
        ("epsilon", "BatchNorm epsilon=-1e-5", lambda: BatchNorm(epsilon=-1e-5)),
        ("kernel_size", "conv_args kernel_size=2", lambda: conv_args(2)),
        ("stride", "conv_args stride=0", lambda: conv_args(3, 0)),
        ("groups", "conv_args groups=0", lambda: conv_args(3, 1, 0)),
        ("dilation", "conv_args dilation=0", lambda: conv_args(3, 1, 1, 0)),
        ("norm", "make_norm norm=5", lambda: make_norm(5)),
        ("zero_init", "make_norm zero_init='yes'", lambda: make_norm(BatchNorm, zero_init="yes")),
        ("train", "batch_norm train='no'", lambda: batch_norm("no")),
        ("zero_init", "batch_norm zero_init=1", lambda: batch_norm(True, zero_init=1)),
        ("value", "make_divisible value=-1", lambda: make_divisible(-1)),
        ("value", "make_divisible value=nan", lambda: make_divisible(NAN)),
        ("value", "make_divisible value=inf", lambda: make_divisible(INF)),
        ("value", "make_divisible value='8'", lambda: make_divisible("8")),
        ("divisor", "make_divisible divisor=0", lambda: make_divisible(10, 0)),
        ("divisor", "make_divisible divisor=2.5", lambda: make_divisible(10, 2.5)),
        ("min_value", "make_divisible min_value=0", lambda: make_divisible(10, 8, 0)),
        ("min_value", "make_divisible min_value=2.5", lambda: make_divisible(10, 8, 2.5)),
        ("kernel_size", "torch_padding kernel_size=4 (even)", lambda: torch_padding(4)),
        ("kernel_size", "torch_padding kernel_size=0", lambda: torch_padding(0)),
        ("kernel_size", "torch_padding kernel_size=2.5", lambda: torch_padding(2.5)),
        ("dilation", "torch_padding dilation=0", lambda: torch_padding(3, 0)),
        ("dilation", "torch_padding dilation=1.5", lambda: torch_padding(3, 1.5)),
        ("window", "max_pool_torch window=0", lambda: max_pool_torch(X, 0)),
        ("window", "max_pool_torch window=2.5", lambda: max_pool_torch(X, 2.5)),
        ("window", "max_pool_torch window=11 > padded input", lambda: max_pool_torch(X, 11, 1, 1)),
        ("stride", "max_pool_torch stride=0", lambda: max_pool_torch(X, 3, 0)),
        ("stride", "max_pool_torch stride=1.5", lambda: max_pool_torch(X, 3, 1.5)),
        ("padding", "max_pool_torch padding=5", lambda: max_pool_torch(X, 3, 2, 5)),
        ("padding", "max_pool_torch padding=2 > window/2", lambda: max_pool_torch(X, 3, 2, 2)),
        ("padding", "max_pool_torch padding=-1", lambda: max_pool_torch(X, 3, 2, -1)),
        ("x", "max_pool_torch x 3-D", lambda: max_pool_torch(jnp.ones((8, 8, 4)))),
        ("x", "max_pool_torch x a list", lambda: max_pool_torch([[1.0]])),
        ("window", "avg_pool window=0", lambda: avg_pool_ceil_exclude_pad(X, 0)),
        ("window", "avg_pool window=2.5", lambda: avg_pool_ceil_exclude_pad(X, 2.5)),
        ("stride", "avg_pool stride=0", lambda: avg_pool_ceil_exclude_pad(X, 2, 0)),
        ("x", "avg_pool x 3-D", lambda: avg_pool_ceil_exclude_pad(jnp.ones((8, 8, 4)))),
        ("x", "avg_pool x with H=0", lambda: avg_pool_ceil_exclude_pad(jnp.ones((1, 0, 8, 4)))),
        ("x", "global_avg_pool x 3-D", lambda: global_avg_pool(jnp.ones((8, 8, 4)))),
        ("x", "global_avg_pool x 2-D", lambda: global_avg_pool(jnp.ones((8, 4)))),
        ("x", "global_avg_pool x with H=0 (NaN mean)", lambda: global_avg_pool(jnp.ones((1, 0, 8, 4)))),
        ("x", "global_avg_pool x a list", lambda: global_avg_pool([[1.0]])),
    ]
    for names, label, thunk in bad:
        add(m, names, label, thunk)


@group
def _backend():
    import flax.linen as nn

    from jaxcnn.xla_cpu import (
        CanonicalGradConv,
        GemmGradConv,
        block_remat,
        canonical_grad_conv,
        default_conv,
        gemm_grad_conv,
        remat,
        tied_checkpoint,
        weight_grad_gemm,
    )

    f = fx()
    X, jnp = f.X, f.jnp
    Kc = jnp.ones((3, 3, 4, 2))
    G = jnp.ones((1, 8, 8, 2))
    dn = ("NHWC", "HWIO", "NHWC")
    P1 = ((1, 1), (1, 1))
    c = "canonical_conv"

    def cgc(*args, **kw):
        return canonical_grad_conv(X, Kc, *args, dimension_numbers=dn, **{"weight_grad": "gemm", **kw})

    class Block(nn.Module):
        @nn.compact
        def __call__(self, x, train=False):
            return x

    bad = [
        (c, "window_strides", "window_strides=(0, 0)", lambda: cgc((0, 0), "SAME")),
        (c, "window_strides", "window_strides=(1.5, 1)", lambda: cgc((1.5, 1), "SAME")),
        (c, "window_strides", "window_strides=(1,) (one per spatial axis)", lambda: cgc((1,), "SAME")),
        (c, "window_strides", "window_strides=1 (not a tuple)", lambda: cgc(1, "SAME")),
        (c, "weight_grad", "weight_grad='x'", lambda: cgc((1, 1), "SAME", weight_grad="x")),
        (c, "padding", "padding='BOGUS'", lambda: cgc((1, 1), "BOGUS")),
        (c, "padding", "padding=((1, 1),) (one pair)", lambda: cgc((1, 1), ((1, 1),))),
        (c, "padding", "padding=((0.5, 1), (1, 1))", lambda: cgc((1, 1), ((0.5, 1), (1, 1)))),
        (c, "padding", "padding=1 (an int)", lambda: cgc((1, 1), 1)),
        (c, "rhs_dilation", "rhs_dilation=(0, 1)", lambda: cgc((1, 1), P1, rhs_dilation=(0, 1))),
        (c, "lhs_dilation", "lhs_dilation=(1.5, 1)", lambda: cgc((1, 1), P1, lhs_dilation=(1.5, 1))),
        (c, "feature_group_count", "feature_group_count=0", lambda: cgc((1, 1), P1, feature_group_count=0)),
        (
            c,
            "rhs",
            "rhs channels mismatch",
            lambda: canonical_grad_conv(
                X, jnp.ones((3, 3, 5, 2)), (1, 1), "SAME", dimension_numbers=dn, weight_grad="gemm"
            ),
        ),
        (
            c,
            "window_strides",
            "gemm_grad_conv window_strides=(0, 1)",
            lambda: gemm_grad_conv(X, Kc, (0, 1), P1, dimension_numbers=dn),
        ),
        (c, "strides", "CanonicalGradConv strides=0", lambda: init(CanonicalGradConv(4, (3, 3), strides=0), X)),
        (c, "features", "GemmGradConv features=0", lambda: init(GemmGradConv(0, (3, 3)), X)),
        (c, "strides", "weight_grad_gemm strides=(0, 1)", lambda: weight_grad_gemm(X, G, (3, 3), (0, 1), P1, (1, 1))),
        (c, "kernel_hw", "weight_grad_gemm kernel_hw=3", lambda: weight_grad_gemm(X, G, 3, (1, 1), P1, (1, 1))),
        (c, "padding", "weight_grad_gemm padding=1", lambda: weight_grad_gemm(X, G, (3, 3), (1, 1), 1, (1, 1))),
        (c, "groups", "weight_grad_gemm groups=3", lambda: weight_grad_gemm(X, G, (3, 3), (1, 1), P1, (1, 1), 3)),
        (c, "g", "weight_grad_gemm g 3-D", lambda: weight_grad_gemm(X, G[0], (3, 3), (1, 1), P1, (1, 1))),
        (c, "control_flow", "default_conv control_flow='yes'", lambda: default_conv("yes")),
        ("remat", "fun", "tied_checkpoint(5)", lambda: tied_checkpoint(5)),
        (
            "remat",
            "static_argnums",
            "tied_checkpoint static_argnums=1.5",
            lambda: tied_checkpoint(lambda x: x, static_argnums=1.5),
        ),
        (
            "remat",
            "static_argnums",
            "tied_checkpoint static_argnums=-1",
            lambda: tied_checkpoint(lambda x: x, static_argnums=-1),
        ),
        (
            "remat",
            "static_argnums",
            "tied_checkpoint static_argnums=(3,) with 1 argument",
            lambda: tied_checkpoint(lambda x: x, static_argnums=(3,))(X),
        ),
        (
            "remat",
            "tie_argnums",
            "tied_checkpoint tie_argnums=(7,)",
            lambda: tied_checkpoint(lambda x: x, tie_argnums=(7,))(X),
        ),
        (
            "remat",
            "tie_argnums",
            "tied_checkpoint tie_argnums='0'",
            lambda: tied_checkpoint(lambda x: x, tie_argnums="0"),
        ),
        (
            "remat",
            "tie_argnums",
            "tied_checkpoint tie_argnums overlaps static_argnums",
            lambda: tied_checkpoint(lambda x, n: x, static_argnums=1, tie_argnums=(0, 1)),
        ),
        ("remat", "target", "remat('block')", lambda: remat("block")),
        ("remat", "target", "remat(int) (a class, not a Module)", lambda: remat(int)),
        ("remat", "static_argnums", "remat static_argnums=0 (self)", lambda: remat(Block, static_argnums=0)),
        ("remat", "static_argnums", "remat static_argnums=2.5", lambda: remat(Block, static_argnums=(2.5,))),
        ("remat", "target", "block_remat('block')", lambda: block_remat("block")),
        ("remat", "static_argnums", "block_remat static_argnums=1.5", lambda: block_remat(Block, static_argnums=1.5)),
    ]
    for module, names, label, thunk in bad:
        add(module, names, label, thunk)


# ----------------------------------------------------------------------------- blocks, models


@group
def _blocks():
    from jaxcnn.blocks import (
        BasicBlock,
        BottleneckBlock,
        DepthwiseSeparableConv,
        InvertedResidual,
        PreActBasicBlock,
        PreActBottleneckBlock,
        ResNeXtBottleneck,
        ResNeXtBranches,
        SqueezeExcite,
        zero_pad_shortcut,
    )

    f = fx()
    X, m, jnp = f.X, "blocks", f.jnp
    X3 = jnp.ones((8, 8, 4))
    bad = [
        ("stride", "zero_pad_shortcut stride=0", lambda: zero_pad_shortcut(X, 8, 0)),
        ("stride", "zero_pad_shortcut stride=1.5", lambda: zero_pad_shortcut(X, 8, 1.5)),
        ("out_features", "zero_pad_shortcut out_features < C", lambda: zero_pad_shortcut(X, 2, 1)),
        ("out_features", "zero_pad_shortcut out_features=8.5", lambda: zero_pad_shortcut(X, 8.5, 1)),
        ("out_features", "zero_pad_shortcut out_features=0", lambda: zero_pad_shortcut(X, 0, 1)),
        ("x", "zero_pad_shortcut x 3-D", lambda: zero_pad_shortcut(X3, 8, 2)),
        ("x", "zero_pad_shortcut x a list", lambda: zero_pad_shortcut([[1.0]], 8, 2)),
        ("strides", "DepthwiseSeparableConv strides=0", lambda: init(DepthwiseSeparableConv(16, strides=0), X)),
        ("strides", "DepthwiseSeparableConv strides=1.5", lambda: init(DepthwiseSeparableConv(16, strides=1.5), X)),
        ("features", "DepthwiseSeparableConv features=0", lambda: init(DepthwiseSeparableConv(0), X)),
        (
            "kernel_size",
            "DepthwiseSeparableConv kernel_size=4 (even)",
            lambda: init(DepthwiseSeparableConv(16, kernel_size=4), X),
        ),
        (
            "kernel_size",
            "DepthwiseSeparableConv kernel_size=0",
            lambda: init(DepthwiseSeparableConv(16, kernel_size=0), X),
        ),
        (
            "kernel_size",
            "DepthwiseSeparableConv kernel_size=2.5",
            lambda: init(DepthwiseSeparableConv(16, kernel_size=2.5), X),
        ),
        ("act", "DepthwiseSeparableConv act=None", lambda: init(DepthwiseSeparableConv(16, act=None), X)),
        ("norm", "DepthwiseSeparableConv norm='bn'", lambda: init(DepthwiseSeparableConv(16, norm="bn"), X)),
        ("train", "DepthwiseSeparableConv train='no'", lambda: init(DepthwiseSeparableConv(16), X, train="no")),
        ("x", "DepthwiseSeparableConv x 3-D", lambda: init(DepthwiseSeparableConv(16), X3)),
        ("features", "BasicBlock features=0", lambda: init(BasicBlock(0), X)),
        ("features", "BasicBlock features=2.5", lambda: init(BasicBlock(2.5), X)),
        ("strides", "BasicBlock strides=0", lambda: init(BasicBlock(4, strides=0), X)),
        ("strides", "BasicBlock strides=1.5", lambda: init(BasicBlock(4, strides=1.5), X)),
        ("shortcut_type", "BasicBlock shortcut_type='E'", lambda: init(BasicBlock(4, shortcut_type="E"), X)),
        ("shortcut_type", "BasicBlock shortcut_type=None", lambda: init(BasicBlock(4, shortcut_type=None), X)),
        ("shortcut_type", "BasicBlock shortcut_type='b' (case)", lambda: init(BasicBlock(4, shortcut_type="b"), X)),
        (
            "zero_init_last_bn",
            "BasicBlock zero_init_last_bn='yes'",
            lambda: init(BasicBlock(4, zero_init_last_bn="yes"), X),
        ),
        ("drop_path_rate", "BasicBlock drop_path_rate=1.5", lambda: init(BasicBlock(4, drop_path_rate=1.5), X)),
        ("drop_path_rate", "BasicBlock drop_path_rate=nan", lambda: init(BasicBlock(4, drop_path_rate=NAN), X)),
        ("drop_path_rate", "BasicBlock drop_path_rate=-0.1", lambda: init(BasicBlock(4, drop_path_rate=-0.1), X)),
        ("drop_path_rate", "BasicBlock drop_path_rate='0.1'", lambda: init(BasicBlock(4, drop_path_rate="0.1"), X)),
        (
            "drop_path_mode",
            "BasicBlock drop_path_mode='x'",
            lambda: init(BasicBlock(4, drop_path_rate=0.1, drop_path_mode="x"), X, train=True),
        ),
        (
            "drop_path_mode",
            "BasicBlock drop_path_mode='x' at rate 0",
            lambda: init(BasicBlock(4, drop_path_mode="x"), X),
        ),
        (
            "drop_path_test_rule",
            "BasicBlock drop_path_test_rule='x'",
            lambda: init(BasicBlock(4, drop_path_rate=0.1, drop_path_test_rule="x"), X),
        ),
        ("conv", "BasicBlock conv='x'", lambda: init(BasicBlock(4, conv="x"), X)),
        ("norm", "BasicBlock norm=None", lambda: init(BasicBlock(4, norm=None), X)),
        ("act", "BasicBlock act='relu'", lambda: init(BasicBlock(4, act="relu"), X)),
        ("bn_axis_name", "BasicBlock bn_axis_name=5", lambda: init(BasicBlock(4, bn_axis_name=5), X)),
        ("train", "BasicBlock train='no'", lambda: init(BasicBlock(4), X, train="no")),
        ("x", "BasicBlock x 3-D", lambda: init(BasicBlock(4), X3)),
        ("groups", "BottleneckBlock groups=0", lambda: init(BottleneckBlock(4, groups=0), X)),
        ("groups", "BottleneckBlock groups=1.5", lambda: init(BottleneckBlock(4, groups=1.5), X)),
        ("base_width", "BottleneckBlock base_width=0", lambda: init(BottleneckBlock(4, base_width=0), X)),
        ("base_width", "BottleneckBlock base_width=2.5", lambda: init(BottleneckBlock(4, base_width=2.5), X)),
        (
            "base_width",
            "BottleneckBlock features=4, base_width=8 (width 0)",
            lambda: init(BottleneckBlock(4, base_width=8), X),
        ),
        (
            "stride_on_3x3",
            "BottleneckBlock stride_on_3x3='no'",
            lambda: init(BottleneckBlock(4, stride_on_3x3="no"), X),
        ),
        ("se_reduction", "BottleneckBlock se_reduction=0", lambda: init(BottleneckBlock(4, se_reduction=0), X)),
        ("se_reduction", "BottleneckBlock se_reduction=2.5", lambda: init(BottleneckBlock(4, se_reduction=2.5), X)),
        (
            "se_reduction",
            "BottleneckBlock se_reduction=32 > 16 channels",
            lambda: init(BottleneckBlock(4, se_reduction=32), X),
        ),
        (
            "zero_init_last_bn",
            "PreActBasicBlock zero_init_last_bn=True (no last BN)",
            lambda: init(PreActBasicBlock(4, zero_init_last_bn=True), X),
        ),
        (
            "zero_init_last_bn",
            "PreActBottleneckBlock zero_init_last_bn=True (no last BN)",
            lambda: init(PreActBottleneckBlock(4, zero_init_last_bn=True), X),
        ),
        ("groups", "PreActBottleneckBlock groups=0", lambda: init(PreActBottleneckBlock(4, groups=0), X)),
        (
            "base_width",
            "PreActBottleneckBlock base_width=8 (width 0)",
            lambda: init(PreActBottleneckBlock(4, base_width=8), X),
        ),
        ("groups", "ResNeXtBottleneck groups=0", lambda: init(ResNeXtBottleneck(4, groups=0), X)),
        (
            "base_width",
            "ResNeXtBottleneck default base_width=4 with features=4 (width 0)",
            lambda: init(ResNeXtBottleneck(4), X),
        ),
        ("expand_ratio", "InvertedResidual expand_ratio=0", lambda: init(InvertedResidual(4, expand_ratio=0), X)),
        ("expand_ratio", "InvertedResidual expand_ratio=-1", lambda: init(InvertedResidual(4, expand_ratio=-1), X)),
        ("expand_ratio", "InvertedResidual expand_ratio=nan", lambda: init(InvertedResidual(4, expand_ratio=NAN), X)),
        ("expand_ratio", "InvertedResidual expand_ratio=inf", lambda: init(InvertedResidual(4, expand_ratio=INF), X)),
        ("expand_ratio", "InvertedResidual expand_ratio='6'", lambda: init(InvertedResidual(4, expand_ratio="6"), X)),
        ("strides", "InvertedResidual strides=3", lambda: init(InvertedResidual(4, strides=3), X)),
        ("strides", "InvertedResidual strides=0", lambda: init(InvertedResidual(4, strides=0), X)),
        ("strides", "InvertedResidual strides=1.5", lambda: init(InvertedResidual(4, strides=1.5), X)),
        (
            "drop_path_rate",
            "InvertedResidual drop_path_rate=1.5",
            lambda: init(InvertedResidual(4, drop_path_rate=1.5), X),
        ),
        (
            "drop_path_mode",
            "InvertedResidual drop_path_mode='x'",
            lambda: init(InvertedResidual(4, drop_path_rate=0.1, drop_path_mode="x"), X, train=True),
        ),
        (
            "drop_path_test_rule",
            "InvertedResidual drop_path_test_rule='x'",
            lambda: init(InvertedResidual(4, drop_path_rate=0.1, drop_path_test_rule="x"), X, train=True),
        ),
        ("act", "InvertedResidual act=None", lambda: init(InvertedResidual(4, act=None), X)),
        ("train", "InvertedResidual train='no'", lambda: init(InvertedResidual(4), X, train="no")),
        ("features", "InvertedResidual features=0", lambda: init(InvertedResidual(0), X)),
        ("x", "InvertedResidual x 3-D", lambda: init(InvertedResidual(4), X3)),
        ("reduction", "SqueezeExcite reduction=0", lambda: init(SqueezeExcite(0), X)),
        ("reduction", "SqueezeExcite reduction=2.5", lambda: init(SqueezeExcite(2.5), X)),
        ("reduction", "SqueezeExcite reduction=-1", lambda: init(SqueezeExcite(-1), X)),
        ("reduction", "SqueezeExcite reduction=8 > 4 channels", lambda: init(SqueezeExcite(8), X)),
        ("act", "SqueezeExcite act=5", lambda: init(SqueezeExcite(2, act=5), X)),
        ("x", "SqueezeExcite x 3-D", lambda: init(SqueezeExcite(2), X3)),
        ("groups", "ResNeXtBranches groups=0", lambda: init(ResNeXtBranches(4, groups=0), X)),
        (
            ("features", "base_width"),
            "ResNeXtBranches features=4, base_width=4 (branch width 0)",
            lambda: init(ResNeXtBranches(4, groups=3, base_width=4), X),
        ),
        (
            "stride_on_3x3",
            "ResNeXtBranches stride_on_3x3='no'",
            lambda: init(ResNeXtBranches(64, groups=2, stride_on_3x3="no"), X),
        ),
    ]
    for names, label, thunk in bad:
        add(m, names, label, thunk)


@group
def _models():
    import flax.linen as nn
    import jax
    from flax import nnx as fnnx

    from jaxcnn import nnx as jnnx
    from jaxcnn.models import (
        ESPCN,
        MobileNetV2,
        ResNet,
        create_model,
        default_input_shape,
        espcn,
        register,
        scan_to_unrolled,
        unrolled_to_scan,
    )

    f = fx()
    m, jnp = "models", f.jnp
    C = jnp.ones((1, 32, 32, 3))
    L = jnp.ones((1, 8, 8, 1))
    tiny = dict(stage_sizes=(1, 1), widths=(8, 16), stem="cifar", num_classes=10)
    # block options (groups, shortcut, conv, ...) as create_model takes them: it moves them into block_args
    R = lambda **kw: init(create_model("resnet18", **dict(tiny, **kw)), C)  # noqa: E731
    M = lambda **kw: init(MobileNetV2(10, **kw), C)  # noqa: E731
    E = lambda **kw: init(ESPCN(**kw), L)  # noqa: E731
    w = {"w": f.np.zeros((2, 3))}
    stacked = {"params": {"layer1_0": w, "layer1_rest": {"block": w}}}  # stage 1: 3 blocks (2 stacked)
    flat = {"params": {"layer1_0": w, "layer1_1": w, "layer1_2": w}}
    bad = [
        ("num_classes", "create_model num_classes=0", lambda: init(create_model("cifar_resnet20", num_classes=0), C)),
        ("num_classes", "create_model num_classes=-1", lambda: init(create_model("cifar_resnet20", num_classes=-1), C)),
        (
            "num_classes",
            "create_model num_classes=2.5",
            lambda: init(create_model("cifar_resnet20", num_classes=2.5), C),
        ),
        ("name", "create_model unknown name", lambda: create_model("resnet7")),
        ("name", "create_model name=None", lambda: create_model(None)),
        ("foo", "create_model unknown option", lambda: create_model("cifar_resnet20", foo=1)),
        ("foo", "create_model('espcn') unknown option", lambda: create_model("espcn", foo=1)),
        ("scale", "create_model('espcn', scale=0)", lambda: create_model("espcn", scale=0)),
        (
            "zero_init_last_bn",
            "create_model preact zero_init_last_bn=True",
            lambda: create_model("preact_resnet18", zero_init_last_bn=True),
        ),
        ("name", "default_input_shape unknown", lambda: default_input_shape("resnet7")),
        ("name", "default_input_shape name=None", lambda: default_input_shape(None)),
        ("batch", "default_input_shape batch=0", lambda: default_input_shape("resnet18", batch=0)),
        ("batch", "default_input_shape batch=2.5", lambda: default_input_shape("resnet18", batch=2.5)),
        ("batch", "default_input_shape batch=True", lambda: default_input_shape("resnet18", batch=True)),
        ("name", "register name=''", lambda: register("", ResNet)),
        ("name", "register name=5", lambda: register(5, ResNet)),
        ("factory", "register factory=5", lambda: register("mine", 5)),
        ("stage_sizes", "ResNet stage_sizes=(0, 1)", lambda: R(stage_sizes=(0, 1))),
        ("stage_sizes", "ResNet stage_sizes=(1.5, 1)", lambda: R(stage_sizes=(1.5, 1))),
        ("stage_sizes", "ResNet stage_sizes=()", lambda: R(stage_sizes=(), widths=())),
        ("stage_sizes", "ResNet stage_sizes=2 (an int)", lambda: R(stage_sizes=2)),
        (("widths", "stage_sizes"), "ResNet widths shorter than stages", lambda: R(widths=(8,))),
        ("widths", "ResNet widths=(0, 16)", lambda: R(widths=(0, 16))),
        ("widths", "ResNet widths=(8.0, 16)", lambda: R(widths=(8.0, 16))),
        ("block", "ResNet block='x'", lambda: R(block="x")),
        ("block", "ResNet block=nn.Dense (not a ResidualBlock)", lambda: R(block=nn.Dense)),
        ("block", "ResNet block=5", lambda: R(block=5)),
        ("stem", "ResNet stem='x'", lambda: R(stem="x")),
        ("stem", "ResNet stem=5", lambda: R(stem=5)),
        ("shortcut", "ResNet shortcut='E'", lambda: R(shortcut="E")),
        ("shortcut", "ResNet shortcut='b' (lower case)", lambda: R(shortcut="b")),
        ("shortcut", "ResNet shortcut=None", lambda: R(shortcut=None)),
        ("num_classes", "ResNet num_classes=0", lambda: R(num_classes=0)),
        ("num_classes", "ResNet num_classes=True", lambda: R(num_classes=True)),
        ("in_channels", "ResNet in_channels=1 on RGB", lambda: R(in_channels=1)),
        ("in_channels", "ResNet in_channels=0", lambda: R(in_channels=0)),
        ("x", "ResNet NCHW input", lambda: init(ResNet(**tiny), jnp.ones((1, 3, 32, 32)))),
        ("x", "ResNet 3-D input", lambda: init(ResNet(**tiny), jnp.ones((32, 32, 3)))),
        ("x", "ResNet x a list", lambda: init(ResNet(**tiny), [[1.0]])),
        ("train", "ResNet train='no'", lambda: init(ResNet(**tiny), C, train="no")),
        (
            "x",
            "ResNet empty batch in training (NaN running statistics)",
            lambda: init(ResNet(**tiny), jnp.ones((0, 32, 32, 3)), train=True),
        ),
        (
            "block_args",
            "ResNet block_args=dict(groups=2) on a basic block",
            lambda: init(ResNet(**tiny, block_args=dict(groups=2)), C),
        ),
        (
            "dropout",
            "ResNet drop_path_rate=0.5 trained without the dropout rng",
            lambda: jax.eval_shape(
                lambda v: ResNet(**tiny, drop_path_rate=0.5).apply(v, C, train=True, mutable=["batch_stats"]),
                jax.eval_shape(lambda: ResNet(**tiny).init(f.K, C)),
            ),
        ),
        ("groups", "ResNet groups=0", lambda: R(groups=0, block="bottleneck")),
        ("groups", "ResNet groups=2 on a basic block", lambda: R(groups=2)),
        ("base_width", "ResNet base_width=0", lambda: R(base_width=0, block="bottleneck")),
        ("base_width", "ResNet base_width=1 (inner width 0)", lambda: R(base_width=1, block="bottleneck")),
        ("stride_on_3x3", "ResNet stride_on_3x3='no'", lambda: R(stride_on_3x3="no", block="bottleneck")),
        ("se_reduction", "ResNet se_reduction=0", lambda: R(se_reduction=0, block="bottleneck")),
        ("se_reduction", "ResNet se_reduction=2.5", lambda: R(se_reduction=2.5, block="bottleneck")),
        ("se_reduction", "ResNet se_reduction on a basic block", lambda: R(se_reduction=4)),
        ("zero_init_last_bn", "ResNet zero_init_last_bn='yes'", lambda: R(zero_init_last_bn="yes")),
        (
            "zero_init_last_bn",
            "ResNet zero_init_last_bn=True, preact_basic (ignored)",
            lambda: R(zero_init_last_bn=True, block="preact_basic", stem="preact_cifar"),
        ),
        (
            "zero_init_last_bn",
            "ResNet zero_init_last_bn=True, preact_bottleneck (ignored)",
            lambda: R(zero_init_last_bn=True, block="preact_bottleneck", stem="preact_cifar"),
        ),
        ("drop_path_rate", "ResNet drop_path_rate=1.5", lambda: R(drop_path_rate=1.5)),
        ("drop_path_rate", "ResNet drop_path_rate=nan", lambda: R(drop_path_rate=NAN)),
        ("drop_path_rate", "ResNet drop_path_rate='0.1'", lambda: R(drop_path_rate="0.1")),
        ("drop_path_rule", "ResNet drop_path_rule='x'", lambda: R(drop_path_rate=0.1, drop_path_rule="x")),
        ("drop_path_rule", "ResNet drop_path_rule='x' at rate 0", lambda: R(drop_path_rule="x")),
        ("drop_path_mode", "ResNet drop_path_mode='x'", lambda: R(drop_path_mode="x")),
        ("drop_path_test_rule", "ResNet drop_path_test_rule='x'", lambda: R(drop_path_test_rule="x")),
        ("drop_block_rate", "ResNet drop_block_rate=nan", lambda: R(drop_block_rate=NAN)),
        ("drop_block_rate", "ResNet drop_block_rate=1.5", lambda: R(drop_block_rate=1.5)),
        ("drop_block_size", "ResNet drop_block_size=0", lambda: R(drop_block_rate=0.1, drop_block_size=0)),
        ("drop_block_size", "ResNet drop_block_size=2.5", lambda: R(drop_block_size=2.5)),
        (
            "drop_block_stages",
            "ResNet drop_block_stages=(7,) on 2 stages",
            lambda: R(drop_block_rate=0.1, drop_block_stages=(7,)),
        ),
        ("drop_block_stages", "ResNet drop_block_stages=(0,)", lambda: R(drop_block_rate=0.1, drop_block_stages=(0,))),
        (
            "drop_block_stages",
            "ResNet drop_block_stages=2 (an int)",
            lambda: R(drop_block_rate=0.1, drop_block_stages=2),
        ),
        (
            "drop_block_stages",
            "ResNet drop_block_stages=(2.0,)",
            lambda: R(drop_block_rate=0.1, drop_block_stages=(2.0,)),
        ),
        (
            "drop_block_stages",
            "cifar_resnet20 drop_block_rate with default stages (3, 4)",
            lambda: create_model("cifar_resnet20", drop_block_rate=0.1),
        ),
        ("scan_stages", "ResNet scan_stages='yes'", lambda: R(scan_stages="yes")),
        ("scan_stages", "ResNet scan_stages with drop_path_rate", lambda: R(scan_stages=True, drop_path_rate=0.1)),
        ("remat", "ResNet remat='yes'", lambda: R(remat="yes")),
        ("bn_axis_name", "ResNet bn_axis_name=5", lambda: R(bn_axis_name=5)),
        ("bn_axis_name", "ResNet bn_axis_name=''", lambda: R(bn_axis_name="")),
        ("dtype", "ResNet dtype=int32", lambda: R(dtype=jnp.int32)),
        ("dtype", "ResNet dtype='nope'", lambda: R(dtype="nope")),
        ("conv", "ResNet conv='x'", lambda: R(conv="x")),
        ("norm", "ResNet norm=None", lambda: R(norm=None)),
        ("act", "ResNet act=None", lambda: R(act=None)),
        ("drop_path_rate", "MobileNetV2 drop_path_rate=1.5", lambda: M(drop_path_rate=1.5)),
        ("drop_path_rate", "MobileNetV2 drop_path_rate=nan", lambda: M(drop_path_rate=NAN)),
        ("width_mult", "MobileNetV2 width_mult=0", lambda: M(width_mult=0)),
        ("width_mult", "MobileNetV2 width_mult=-1", lambda: M(width_mult=-1.0)),
        ("width_mult", "MobileNetV2 width_mult=nan", lambda: M(width_mult=NAN)),
        ("width_mult", "MobileNetV2 width_mult='1'", lambda: M(width_mult="1")),
        ("num_classes", "MobileNetV2 num_classes=0", lambda: init(MobileNetV2(0), C)),
        ("num_classes", "MobileNetV2 num_classes=2.5", lambda: init(MobileNetV2(2.5), C)),
        ("dropout_rate", "MobileNetV2 dropout_rate=1.5", lambda: M(dropout_rate=1.5)),
        ("dropout_rate", "MobileNetV2 dropout_rate=nan", lambda: M(dropout_rate=NAN)),
        ("drop_path_rule", "MobileNetV2 drop_path_rule='x'", lambda: M(drop_path_rate=0.1, drop_path_rule="x")),
        ("drop_path_mode", "MobileNetV2 drop_path_mode='x'", lambda: M(drop_path_mode="x")),
        ("drop_path_test_rule", "MobileNetV2 drop_path_test_rule='x'", lambda: M(drop_path_test_rule="x")),
        ("settings", "MobileNetV2 settings=((1, 16, 0, 1),)", lambda: M(settings=((1, 16, 0, 1),))),
        ("settings", "MobileNetV2 settings=((1, 16),)", lambda: M(settings=((1, 16),))),
        ("settings", "MobileNetV2 settings=()", lambda: M(settings=())),
        ("settings", "MobileNetV2 settings=((0.5, 16, 1, 1),) (t < 1)", lambda: M(settings=((0.5, 16, 1, 1),))),
        ("settings", "MobileNetV2 settings=((1, 16.0, 1, 1),)", lambda: M(settings=((1, 16.0, 1, 1),))),
        ("settings", "MobileNetV2 settings=((1, 16, 1, 0),)", lambda: M(settings=((1, 16, 1, 0),))),
        ("settings", "MobileNetV2 settings=5", lambda: M(settings=5)),
        ("in_channels", "MobileNetV2 in_channels=1 on RGB", lambda: M(in_channels=1)),
        ("in_channels", "MobileNetV2 in_channels=0", lambda: M(in_channels=0)),
        ("train", "MobileNetV2 train='no'", lambda: init(MobileNetV2(10), C, train="no")),
        ("bn_axis_name", "MobileNetV2 bn_axis_name=5", lambda: M(bn_axis_name=5)),
        ("dtype", "MobileNetV2 dtype=int32", lambda: M(dtype=jnp.int32)),
        ("conv", "MobileNetV2 conv=5", lambda: M(conv=5)),
        ("norm", "MobileNetV2 norm=None", lambda: M(norm=None)),
        ("act", "MobileNetV2 act='relu'", lambda: M(act="relu")),
        ("kernel_sizes", "ESPCN kernel_sizes=(4, 3, 3) (even)", lambda: E(kernel_sizes=(4, 3, 3))),
        ("kernel_sizes", "ESPCN kernel_sizes=(5, 3)", lambda: E(kernel_sizes=(5, 3))),
        ("kernel_sizes", "ESPCN kernel_sizes=(5, 0, 3)", lambda: E(kernel_sizes=(5, 0, 3))),
        ("kernel_sizes", "ESPCN kernel_sizes=(5.0, 3, 3)", lambda: E(kernel_sizes=(5.0, 3, 3))),
        ("scale", "ESPCN scale=0", lambda: E(scale=0)),
        ("scale", "ESPCN scale=2.5", lambda: E(scale=2.5)),
        ("channels", "ESPCN channels=0", lambda: E(channels=0)),
        ("channels", "ESPCN channels=3 on 1-channel x", lambda: E(channels=3)),
        ("widths", "ESPCN widths=(0, 32)", lambda: E(widths=(0, 32))),
        ("widths", "ESPCN widths=(64,)", lambda: E(widths=(64,))),
        ("widths", "ESPCN widths=(64.0, 32)", lambda: E(widths=(64.0, 32))),
        ("act", "ESPCN act=None", lambda: E(act=None)),
        ("use_icnr", "ESPCN use_icnr='yes'", lambda: E(use_icnr="yes")),
        ("dtype", "ESPCN dtype=int32", lambda: E(dtype=jnp.int32)),
        ("x", "ESPCN 3-D x", lambda: init(ESPCN(), jnp.ones((8, 8, 1)))),
        ("scale", "espcn(scale=0)", lambda: espcn(scale=0)),
        ("channels", "espcn(channels=2.5)", lambda: espcn(channels=2.5)),
        ("stage_sizes", "scan_to_unrolled stage_sizes=(0,)", lambda: scan_to_unrolled({"params": {}}, (0,))),
        ("variables", "scan_to_unrolled variables=5", lambda: scan_to_unrolled(5, (1, 1))),
        (
            "stage_sizes",
            "scan_to_unrolled stage_sizes=(4,) on a 3-block stage",
            lambda: scan_to_unrolled(stacked, (4,)),
        ),
        (
            "stage_sizes",
            "scan_to_unrolled stage_sizes=(1,) on a 3-block stage",
            lambda: scan_to_unrolled(stacked, (1,)),
        ),
        ("stage_sizes", "scan_to_unrolled stage_sizes=(3, 2) (extra stage)", lambda: scan_to_unrolled(stacked, (3, 2))),
        ("stage_sizes", "unrolled_to_scan stage_sizes=(0,)", lambda: unrolled_to_scan(flat, (0,))),
        ("stage_sizes", "unrolled_to_scan stage_sizes=(2.0,)", lambda: unrolled_to_scan(flat, (2.0,))),
        ("variables", "unrolled_to_scan variables=5", lambda: unrolled_to_scan(5, (3,))),
        ("variables", "unrolled_to_scan variables={'params': 5}", lambda: unrolled_to_scan({"params": 5}, (3,))),
        ("stage_sizes", "unrolled_to_scan stage_sizes=(2,) on 3 blocks", lambda: unrolled_to_scan(flat, (2,))),
        ("stage_sizes", "unrolled_to_scan stage_sizes=(4,) on 3 blocks", lambda: unrolled_to_scan(flat, (4,))),
    ]
    for names, label, thunk in bad:
        add(m, names, label, thunk)

    m = "nnx"
    bad = [
        ("name", "nnx.create_model unknown name", lambda: jnnx.create_model("resnet7", rngs=fnnx.Rngs(0))),
        ("rngs", "nnx.create_model rngs=0", lambda: jnnx.create_model("espcn", rngs=0)),
        (
            "input_shape",
            "nnx.create_model input_shape 3-D",
            lambda: jnnx.create_model("espcn", rngs=fnnx.Rngs(0), input_shape=(1, 8, 8)),
        ),
        (
            "input_shape",
            "nnx.create_model input_shape with 0",
            lambda: jnnx.create_model("espcn", rngs=fnnx.Rngs(0), input_shape=(1, 0, 8, 1)),
        ),
        (
            "input_shape",
            "nnx.create_model input_shape RGB for espcn",
            lambda: jnnx.create_model("espcn", rngs=fnnx.Rngs(0), input_shape=(1, 8, 8, 3)),
        ),
        (
            "num_classes",
            "nnx.create_model num_classes=0",
            lambda: jnnx.create_model("cifar_resnet20", rngs=fnnx.Rngs(0), num_classes=0),
        ),
        ("module", "nnx.LinenModel module=5", lambda: jnnx.LinenModel(5, (1, 8, 8, 1), rngs=fnnx.Rngs(0))),
        ("model", "nnx.load_variables model=5", lambda: jnnx.load_variables(5, {"params": {}})),
        ("model", "nnx.linen_variables model=5", lambda: jnnx.linen_variables(5)),
    ]
    for names, label, thunk in bad:
        add(m, names, label, thunk)


# ----------------------------------------------------------------------------- identities, analysis


@group
def _identities():
    from jaxcnn.identities import (
        adjoint_gap,
        conv_matrix,
        conv_transpose_closed_form,
        conv_transpose_forms,
        conv_transpose_lax,
        conv_transpose_matrix,
        conv_transpose_torch,
        conv_transpose_zero_insertion,
        grouped_to_branches,
        insert_zeros,
        max_disagreement,
        transpose_of,
    )

    f = fx()
    m, _jnp, np = "identities", f.jnp, f.np
    k = np.ones((3, 3, 2, 4))
    y = np.ones((1, 4, 4, 4))
    block = {
        "params": {
            "conv1": {"kernel": np.ones((1, 1, 8, 8))},
            "conv2": {"kernel": np.ones((3, 3, 2, 8))},
            "conv3": {"kernel": np.ones((1, 1, 8, 8))},
            "bn1": {},
            "bn2": {},
        }
    }  # groups=4
    lin = lambda x: 2.0 * x
    # valid by decision (not listed): conv_matrix in_hw=4 and insert_zeros stride=2 read an int as a
    # pair, like torch's _pair and every stride/padding argument here
    bad = [
        ("stride", "conv_matrix stride=1.5", lambda: conv_matrix(k, (6, 6), stride=1.5)),
        ("stride", "conv_matrix stride=0", lambda: conv_matrix(k, (6, 6), stride=0)),
        ("padding", "conv_matrix padding=-1", lambda: conv_matrix(k, (6, 6), padding=-1)),
        ("dilation", "conv_matrix dilation=0", lambda: conv_matrix(k, (6, 6), dilation=0)),
        ("in_hw", "conv_matrix in_hw=(4.5, 4)", lambda: conv_matrix(k, (4.5, 4))),
        ("in_hw", "conv_matrix in_hw=(0, 4)", lambda: conv_matrix(k, (0, 4))),
        ("in_hw", "conv_matrix in_hw=(2, 2) < kernel", lambda: conv_matrix(k, (2, 2))),
        ("in_hw", "conv_matrix in_hw=(4, 4, 4)", lambda: conv_matrix(k, (4, 4, 4))),
        ("groups", "conv_matrix groups=0", lambda: conv_matrix(k, (6, 6), groups=0)),
        ("groups", "conv_matrix groups=3 (does not divide)", lambda: conv_matrix(k, (6, 6), groups=3)),
        ("groups", "conv_matrix groups=2.0", lambda: conv_matrix(k, (6, 6), groups=2.0)),
        ("kernel", "conv_matrix kernel 3-D", lambda: conv_matrix(np.ones((3, 3, 2)), (6, 6))),
        ("kernel", "conv_matrix kernel a str", lambda: conv_matrix("k", (6, 6))),
        ("out_hw", "conv_matrix out_hw=(0, 0)", lambda: conv_matrix(k, (6, 6), out_hw=(0, 0))),
        ("out_hw", "conv_matrix out_hw > output", lambda: conv_matrix(k, (6, 6), out_hw=(9, 9))),
        ("stride", "conv_transpose_matrix stride=1.5", lambda: conv_transpose_matrix(y, k, stride=1.5)),
        ("y", "conv_transpose_matrix y 3-D", lambda: conv_transpose_matrix(y[0], k)),
        ("stride", "closed_form stride=0", lambda: conv_transpose_closed_form(y, k, stride=0)),
        ("stride", "closed_form stride=1.5", lambda: conv_transpose_closed_form(y, k, stride=1.5)),
        ("y", "closed_form y 3-D", lambda: conv_transpose_closed_form(y[0], k)),
        ("y", "closed_form y a str", lambda: conv_transpose_closed_form("y", k)),
        ("y", "closed_form y empty", lambda: conv_transpose_closed_form(np.ones((1, 0, 4, 4)), k)),
        ("kernel", "closed_form kernel 3-D", lambda: conv_transpose_closed_form(y, k[0])),
        ("groups", "closed_form groups=True", lambda: conv_transpose_closed_form(y, k, groups=True)),
        (
            "output_padding",
            "closed_form output_padding=1 with stride 1",
            lambda: conv_transpose_closed_form(y, k, output_padding=1),
        ),
        ("padding", "closed_form padding=(1, 1.5)", lambda: conv_transpose_closed_form(y, k, padding=(1, 1.5))),
        ("stride", "zero_insertion stride=0", lambda: conv_transpose_zero_insertion(y, k, stride=0)),
        ("dilation", "zero_insertion dilation=0", lambda: conv_transpose_zero_insertion(y, k, dilation=0)),
        ("stride", "lax stride=0", lambda: conv_transpose_lax(y, k, stride=0)),
        ("y", "lax y 3-D", lambda: conv_transpose_lax(y[0], k)),
        ("dtype", "torch dtype='float8'", lambda: conv_transpose_torch(y, k, dtype="float8")),
        ("stride", "torch stride=0", lambda: conv_transpose_torch(y, k, stride=0)),
        ("stride", "insert_zeros stride=(0, 0)", lambda: insert_zeros(y, (0, 0))),
        ("stride", "insert_zeros stride=(1.5, 1)", lambda: insert_zeros(y, (1.5, 1))),
        ("stride", "insert_zeros stride=(2, 2, 2)", lambda: insert_zeros(y, (2, 2, 2))),
        ("y", "insert_zeros y 3-D", lambda: insert_zeros(y[0], 2)),
        ("y", "insert_zeros y a list of str", lambda: insert_zeros(["a"], 2)),
        ("groups", "grouped_to_branches groups=0", lambda: grouped_to_branches({"params": {}}, 0)),
        ("groups", "grouped_to_branches groups=2.0", lambda: grouped_to_branches(block, 2.0)),
        ("groups", "grouped_to_branches groups=2 (block has 4)", lambda: grouped_to_branches(block, 2)),
        ("groups", "grouped_to_branches groups=3 (does not divide)", lambda: grouped_to_branches(block, 3)),
        ("variables", "grouped_to_branches variables=5", lambda: grouped_to_branches(5, 2)),
        (
            "variables",
            "grouped_to_branches a model's variables",
            lambda: grouped_to_branches({"params": {"stem": {}}}, 2),
        ),
        ("reference", "max_disagreement reference missing", lambda: max_disagreement({"a": np.zeros(2)}, "vjp")),
        ("reference", "max_disagreement reference=None", lambda: max_disagreement({"vjp": np.zeros(2)}, None)),
        ("results", "max_disagreement results={}", lambda: max_disagreement({}, "vjp")),
        ("results", "max_disagreement results a list", lambda: max_disagreement([np.zeros(2)], "vjp")),
        (
            "results",
            "max_disagreement shapes differ",
            lambda: max_disagreement({"vjp": np.zeros((2, 2)), "a": np.zeros(2)}),
        ),
        ("stride", "conv_transpose_forms stride=0", lambda: conv_transpose_forms(y, k, include_torch=False, stride=0)),
        (
            "include_torch",
            "conv_transpose_forms include_torch='no'",
            lambda: conv_transpose_forms(y, k, include_torch="no"),
        ),
        (
            "strides",
            "conv_transpose_forms strides=2 (typo)",
            lambda: conv_transpose_forms(y, k, include_torch=False, strides=2),
        ),
        ("y", "conv_transpose_forms y 3-D", lambda: conv_transpose_forms(y[0], k, include_torch=False)),
        ("linear_fn", "adjoint_gap linear_fn=5", lambda: adjoint_gap(5, np.ones(3), np.ones(3))),
        ("y", "adjoint_gap y of another shape", lambda: adjoint_gap(lin, np.ones((2, 3)), np.ones((3, 2)))),
        ("x", "adjoint_gap x a str", lambda: adjoint_gap(lin, "x", np.ones(3))),
        ("linear_fn", "transpose_of linear_fn='f'", lambda: transpose_of("f", np.ones(3))),
        ("x_example", "transpose_of x_example=None", lambda: transpose_of(lin, None)),
    ]
    for names, label, thunk in bad:
        add(m, names, label, thunk)


@group
def _analysis():
    from jaxcnn.analysis import layerwise_receptive_fields, model_function, model_receptive_fields, receptive_field
    from jaxcnn.analysis.complexity import count_macs, model_complexity, xla_flops
    from jaxcnn.analysis.measured import (
        effective_receptive_field,
        input_gradient,
        measured_receptive_field,
        positive_variables,
    )
    from jaxcnn.models import ResNet

    f = fx()
    m, jnp = "analysis", f.jnp
    fn = lambda x: x[:, 1:, 1:, :] + x[:, :-1, :-1, :]
    net = ResNet(stage_sizes=(1, 1), widths=(8, 16), stem="cifar", num_classes=10)
    S = (1, 8, 8, 1)
    bad = [
        ("input_shape", "receptive_field input_shape 2-D", lambda: receptive_field(fn, (8, 8))),
        ("input_shape", "receptive_field input_shape with 0", lambda: receptive_field(fn, (1, 0, 8, 1))),
        ("input_shape", "receptive_field input_shape=(1, 8.5, 8, 1)", lambda: receptive_field(fn, (1, 8.5, 8, 1))),
        ("input_shape", "receptive_field input_shape=8", lambda: receptive_field(fn, 8)),
        ("input_shape", "receptive_field input_shape=(1, True, 8, 1)", lambda: receptive_field(fn, (1, True, 8, 1))),
        ("f", "receptive_field f='conv'", lambda: receptive_field("conv", S)),
        ("f", "layerwise f=None", lambda: layerwise_receptive_fields(None, S)),
        ("input_shape", "layerwise input_shape=(1, 8, 8)", lambda: layerwise_receptive_fields(fn, (1, 8, 8))),
        ("input_shape", "model_complexity input_shape 3-D", lambda: model_complexity(net, (32, 32, 3))),
        ("input_shape", "model_complexity input_shape with 0", lambda: model_complexity(net, (1, 0, 32, 3))),
        ("input_shape", "model_complexity input_shape floats", lambda: model_complexity(net, (1, 32.0, 32, 3))),
        ("model", "model_complexity model='resnet18'", lambda: model_complexity("resnet18", (1, 32, 32, 3))),
        ("model", "model_complexity model=None", lambda: model_complexity(None, (1, 32, 32, 3))),
        ("method", "model_complexity method='nope'", lambda: model_complexity(net, (1, 32, 32, 3), method="nope")),
        ("method", "model_complexity method=5", lambda: model_complexity(net, (1, 32, 32, 3), method=5)),
        ("f", "count_macs f=5", lambda: count_macs(5, jnp.ones(3))),
        ("f", "xla_flops f=5", lambda: xla_flops(5, jnp.ones(3))),
        (
            "method",
            "model_receptive_fields method='nope'",
            lambda: model_receptive_fields(net, (1, 32, 32, 3), method="nope"),
        ),
        ("model", "model_receptive_fields model='resnet18'", lambda: model_receptive_fields("resnet18")),
        ("input_shape", "model_receptive_fields input_shape=(32, 32)", lambda: model_receptive_fields(net, (32, 32))),
        ("model", "model_function model=5", lambda: model_function(5, (1, 32, 32, 3))),
        (
            "method",
            "model_function method=['features']",
            lambda: model_function(net, (1, 32, 32, 3), method=["features"]),
        ),
        ("num_samples", "measured num_samples=0", lambda: measured_receptive_field(fn, S, num_samples=0)),
        ("num_samples", "measured num_samples=2.5", lambda: measured_receptive_field(fn, S, num_samples=2.5)),
        ("unit", "measured unit out of range", lambda: measured_receptive_field(fn, S, unit=(99, 99))),
        ("unit", "measured unit=(1.5, 2)", lambda: measured_receptive_field(fn, S, unit=(1.5, 2))),
        ("unit", "measured unit=3", lambda: measured_receptive_field(fn, S, unit=3)),
        ("input_shape", "measured input_shape batch 2", lambda: measured_receptive_field(fn, (2, 8, 8, 1))),
        ("input_shape", "measured input_shape=(1, 8.5, 8, 1)", lambda: measured_receptive_field(fn, (1, 8.5, 8, 1))),
        ("key", "measured key=1.5", lambda: measured_receptive_field(fn, S, key=1.5)),
        ("dtype", "measured dtype=int32", lambda: measured_receptive_field(fn, S, dtype=jnp.int32)),
        ("dtype", "measured dtype='nope'", lambda: measured_receptive_field(fn, S, dtype="nope")),
        ("f", "measured f=None", lambda: measured_receptive_field(None, S)),
        ("num_samples", "effective num_samples=0", lambda: effective_receptive_field(fn, S, num_samples=0)),
        ("batch", "effective batch=0", lambda: effective_receptive_field(fn, S, batch=0)),
        ("batch", "effective batch=2.5", lambda: effective_receptive_field(fn, S, batch=2.5)),
        ("key", "effective key='0'", lambda: effective_receptive_field(fn, S, key="0")),
        ("unit", "effective unit=(0,)", lambda: effective_receptive_field(fn, S, unit=(0,))),
        ("f", "input_gradient f=5", lambda: input_gradient(5, jnp.ones(S))),
        ("unit", "input_gradient unit=(0.5, 0)", lambda: input_gradient(fn, jnp.ones(S), unit=(0.5, 0))),
        ("bn_scale", "positive_variables bn_scale=-1", lambda: positive_variables({"params": {}}, bn_scale=-1.0)),
        ("bn_scale", "positive_variables bn_scale=0", lambda: positive_variables({"params": {}}, bn_scale=0)),
        ("bn_scale", "positive_variables bn_scale=nan", lambda: positive_variables({"params": {}}, bn_scale=NAN)),
        ("seed", "positive_variables seed=-1", lambda: positive_variables({"params": {}}, seed=-1)),
        ("variables", "positive_variables variables=5", lambda: positive_variables(5)),
    ]
    for names, label, thunk in bad:
        add(m, names, label, thunk)


# ----------------------------------------------------------------------------- train


@group
def _train():
    import numpy as np
    from jax.sharding import Mesh

    from jaxcnn.train import (
        classification_loss,
        count_bad_labels,
        make_eval_step,
        make_optimizer,
        make_train_step,
        regression_loss,
        step_rngs,
    )
    from jaxcnn.train.data import (
        Dataset,
        Split,
        augment,
        batch_indices,
        eval_batches,
        load_dataset,
        normalize,
        stratified_split,
        train_batch,
    )
    from jaxcnn.train.parallel import (
        batch_sharding,
        check_batch_size,
        make_mesh,
        mesh_step,
        pmap_step,
        put_batch,
        put_replicated,
        replicate,
        replicated,
        select_devices,
        shard_batch,
    )

    f = fx()
    jnp = f.jnp
    imgs = np.zeros((20, 8, 8, 3), np.uint8)
    labels = np.arange(20) % 4
    ds = Dataset("t", Split(imgs, labels), Split(imgs, labels), 4, (0.5, 0.5, 0.5), (0.25, 0.25, 0.25))
    logits = jnp.zeros((4, 10))
    m = "train.data"
    for names, label, thunk in [
        (
            "mean",
            "normalize 3-channel mean on 1-channel images",
            lambda: normalize(np.zeros((2, 4, 4, 1), np.uint8), (0.5,) * 3, (0.2,) * 3),
        ),
        ("std", "normalize std=0", lambda: normalize(imgs, (0.5,) * 3, (0.0,) * 3)),
        ("std", "normalize std has 2 entries", lambda: normalize(imgs, (0.5,) * 3, (0.2, 0.2))),
        ("images", "normalize images 3-D", lambda: normalize(np.zeros((8, 8, 3), np.uint8), (0.5,) * 3, (0.2,) * 3)),
        ("batch_size", "batch_indices batch_size=0", lambda: batch_indices(10, 0, 0, 0)),
        ("batch_size", "batch_indices batch_size=2.5", lambda: batch_indices(10, 2.5, 0, 0)),
        ("step", "batch_indices step=-1", lambda: batch_indices(10, 2, -1, 0)),
        ("step", "batch_indices step=1.5", lambda: batch_indices(10, 2, 1.5, 0)),
        ("n", "batch_indices n=0", lambda: batch_indices(0, 2, 0, 0)),
        ("seed", "batch_indices seed=-1", lambda: batch_indices(10, 2, 0, -1)),
        ("pad", "augment pad=-1", lambda: augment(imgs, 0, 0, pad=-1)),
        ("pad", "augment pad=2.5", lambda: augment(imgs, 0, 0, pad=2.5)),
        ("pad", "augment pad=20 > image", lambda: augment(imgs, 0, 0, pad=20)),
        ("images", "augment images 3-D", lambda: augment(imgs[0], 0, 0)),
        ("n_train", "stratified_split n_train=-1", lambda: stratified_split(labels, -1, 4)),
        (("n_train", "n_test"), "stratified_split more than available", lambda: stratified_split(labels, 15, 10)),
        ("n_train", "stratified_split n_train=2.5", lambda: stratified_split(labels, 2.5, 4)),
        ("name", "load_dataset unknown name", lambda: load_dataset("imagenet22k")),
        (
            ("data_dir", "/nonexistent"),
            "load_dataset missing data_dir",
            lambda: load_dataset("cifar10", data_dir="/nonexistent"),
        ),
        ("batch_size", "train_batch batch_size=0", lambda: train_batch(ds, 0, 0, 0)),
        ("batch_size", "train_batch batch_size=100 > n", lambda: train_batch(ds, 100, 0, 0)),
        ("batch_size", "eval_batches batch_size=0", lambda: list(eval_batches(ds, 0))),
        ("batch_size", "eval_batches batch_size=-1", lambda: list(eval_batches(ds, -1))),
        ("batch_size", "eval_batches batch_size=2.5 (no next)", lambda: eval_batches(ds, 2.5)),
        ("ds", "eval_batches ds=None", lambda: eval_batches(None, 4)),
        ("n_test", "stratified_split n_test=-1", lambda: stratified_split(labels, 4, -1)),
        ("seed", "stratified_split seed=-1", lambda: stratified_split(labels, 4, 4, seed=-1)),
        ("labels", "stratified_split labels 2-D", lambda: stratified_split(labels[:, None], 4, 4)),
        ("n_train", "load_dataset n_train=0 (would mean default)", lambda: load_dataset("mnist", "/tmp", n_train=0)),
        ("n_test", "load_dataset n_test=2.5", lambda: load_dataset("mnist", "/tmp", n_test=2.5)),
        ("data_dir", "load_dataset data_dir=5", lambda: load_dataset("mnist", 5)),
        ("name", "load_dataset name=None", lambda: load_dataset(None)),
        (
            "images",
            "normalize float images (/255 twice)",
            lambda: normalize(imgs.astype(np.float32), (0.5,) * 3, (0.2,) * 3),
        ),
        ("std", "normalize std negative", lambda: normalize(imgs, (0.5,) * 3, (-0.2,) * 3)),
        ("mean", "normalize mean nan", lambda: normalize(imgs, (NAN,) * 3, (0.2,) * 3)),
        ("mean", "normalize mean='0.5'", lambda: normalize(imgs, "0.5", (0.2,) * 3)),
        ("images", "normalize images list", lambda: normalize([[1]], (0.5,), (0.2,))),
        ("n", "batch_indices n=2.5", lambda: batch_indices(2.5, 2, 0, 0)),
        ("batch_size", "batch_indices batch_size=True", lambda: batch_indices(10, True, 0, 0)),
        ("seed", "augment seed=-1", lambda: augment(imgs, -1, 0)),
        ("step", "augment step=1.5", lambda: augment(imgs, 0, 1.5)),
        ("ds", "train_batch ds=dict", lambda: train_batch({"train": None}, 4, 0, 0)),
        ("augmentation", "train_batch augmentation='yes'", lambda: train_batch(ds, 4, 0, 0, augmentation="yes")),
        ("step", "train_batch step=-1", lambda: train_batch(ds, 4, -1, 0)),
        ("images", "Split images 3-D", lambda: Split(imgs[0], labels)),
        (("images", "labels"), "Split length mismatch", lambda: Split(imgs, labels[:5])),
        (
            "num_classes",
            "Dataset num_classes=0",
            lambda: Dataset("t", Split(imgs, labels), Split(imgs, labels), 0, (0.5,) * 3, (0.2,) * 3),
        ),
        (
            "mean",
            "Dataset mean of 1 entry on 3 channels",
            lambda: Dataset("t", Split(imgs, labels), Split(imgs, labels), 4, (0.5,), (0.2,) * 3),
        ),
        ("train", "Dataset train=None", lambda: Dataset("t", None, Split(imgs, labels), 4, (0.5,) * 3, (0.2,) * 3)),
    ]:
        add(m, names, label, thunk)
    m = "train.steps"
    for names, label, thunk in [
        (
            "labels",
            "classification_loss labels (B, 1)",
            lambda: classification_loss(logits, jnp.zeros((4, 1), jnp.int32)),
        ),
        ("labels", "classification_loss labels float", lambda: classification_loss(logits, jnp.zeros(4))),
        ("labels", "classification_loss labels out of range", lambda: classification_loss(logits, jnp.full(4, 12))),
        (
            "labels",
            "classification_loss labels wrong batch",
            lambda: classification_loss(logits, jnp.zeros(3, jnp.int32)),
        ),
        (
            "label_smoothing",
            "classification_loss label_smoothing=1.5",
            lambda: classification_loss(logits, jnp.zeros(4, jnp.int32), 1.5),
        ),
        (
            "mask",
            "classification_loss mask wrong shape",
            lambda: classification_loss(logits, jnp.zeros(4, jnp.int32), mask=jnp.ones(3)),
        ),
        (
            "logits",
            "classification_loss logits 1-D",
            lambda: classification_loss(jnp.zeros(10), jnp.zeros((), jnp.int32)),
        ),
        (
            "target",
            "regression_loss target shape mismatch",
            lambda: regression_loss(jnp.zeros((2, 4, 4, 1)), jnp.zeros((2, 4, 4, 3))),
        ),
        ("pred", "regression_loss pred 3-D", lambda: regression_loss(jnp.zeros((2, 4, 4)), jnp.zeros((2, 4, 4)))),
        ("task", "make_train_step task='x'", lambda: make_train_step("x")),
        ("label_smoothing", "make_train_step label_smoothing=1.5", lambda: make_train_step(label_smoothing=1.5)),
        ("label_smoothing", "make_train_step label_smoothing=nan", lambda: make_train_step(label_smoothing=NAN)),
        ("label_smoothing", "make_train_step label_smoothing='0.1'", lambda: make_train_step(label_smoothing="0.1")),
        ("compute_dtype", "make_train_step compute_dtype='float77'", lambda: make_train_step(compute_dtype="float77")),
        ("task", "make_eval_step task='x'", lambda: make_eval_step("x")),
        ("label", "train_step batch without 'label'", lambda: _step_without_label(make_train_step())),
        ("label", "jitted train_step batch without 'label'", lambda: _step_without_label(f.jax.jit(make_train_step()))),
        (
            "target",
            "regress train_step batch without 'target'",
            lambda: _step_without_label(make_train_step("regress")),
        ),
        ("batch", "train_step batch a tuple", lambda: make_train_step()(_state(), (f.jnp.ones((2, 4, 4, 1)),))),
        (
            "image",
            "train_step input_key missing",
            lambda: make_train_step(input_key="x")(
                _state(), {"image": f.jnp.ones((2, 4, 4, 1)), "label": f.jnp.zeros(2, f.jnp.int32)}
            ),
        ),
        ("label", "eval_step batch without 'label'", lambda: _step_without_label(make_eval_step())),
        ("labels", "classification_loss labels a list", lambda: classification_loss(logits, [0, 1, 2, 3])),
        (
            "label_smoothing",
            "classification_loss label_smoothing=nan",
            lambda: classification_loss(logits, jnp.zeros(4, jnp.int32), NAN),
        ),
        (
            "label_smoothing",
            "classification_loss label_smoothing=1.0",
            lambda: classification_loss(logits, jnp.zeros(4, jnp.int32), 1.0),
        ),
        (
            "mask",
            "regression_loss mask wrong shape",
            lambda: regression_loss(jnp.zeros((2, 4, 4, 1)), jnp.zeros((2, 4, 4, 1)), mask=jnp.ones(3)),
        ),
        ("target", "regression_loss target a list", lambda: regression_loss(jnp.zeros((2, 4, 4, 1)), [0.0])),
        ("num_classes", "count_bad_labels num_classes=0", lambda: count_bad_labels(jnp.zeros(4, jnp.int32), 0)),
        ("num_classes", "count_bad_labels num_classes=2.5", lambda: count_bad_labels(jnp.zeros(4, jnp.int32), 2.5)),
        ("rng", "step_rngs rng=0", lambda: step_rngs(0, 0)),
        ("streams", "step_rngs streams='dropout'", lambda: step_rngs(f.K, 0, "dropout")),
        ("axis_name", "step_rngs axis_name=5", lambda: step_rngs(f.K, 0, ("dropout",), 5)),
        ("compute_dtype", "make_train_step compute_dtype=int32", lambda: make_train_step(compute_dtype=jnp.int32)),
        ("axis_name", "make_train_step axis_name=''", lambda: make_train_step(axis_name="")),
        ("loss_fn", "make_train_step loss_fn=5", lambda: make_train_step(loss_fn=5)),
        ("rng_streams", "make_train_step rng_streams='dropout'", lambda: make_train_step(rng_streams="dropout")),
        ("rng_streams", "make_train_step rng_streams duplicated", lambda: make_train_step(rng_streams=("a", "a"))),
        ("input_key", "make_train_step input_key=None", lambda: make_train_step(input_key=None)),
        ("task", "make_train_step task=None", lambda: make_train_step(None)),
        ("compute_dtype", "make_eval_step compute_dtype='float77'", lambda: make_eval_step(compute_dtype="float77")),
        ("input_key", "make_eval_step input_key=''", lambda: make_eval_step(input_key="")),
    ]:
        add(m, names, label, thunk)
    m = "train.state"
    for names, label, thunk in [
        ("learning_rate", "make_optimizer learning_rate=-0.1", lambda: make_optimizer(-0.1)),
        ("learning_rate", "make_optimizer learning_rate=nan", lambda: make_optimizer(NAN)),
        ("learning_rate", "make_optimizer learning_rate='0.1'", lambda: make_optimizer("0.1")),
        ("momentum", "make_optimizer momentum=1.5", lambda: make_optimizer(0.1, momentum=1.5)),
        ("momentum", "make_optimizer momentum=-0.5", lambda: make_optimizer(0.1, momentum=-0.5)),
        ("weight_decay", "make_optimizer weight_decay=-1", lambda: make_optimizer(0.1, weight_decay=-1.0)),
        ("key", "create_train_state key=0", lambda: _state(key=0)),
        ("tx", "create_train_state tx='sgd'", lambda: _state(tx="sgd")),
        ("model", "create_train_state model='resnet18'", lambda: _state(model="resnet18")),
        ("sample_input", "create_train_state sample_input a list", lambda: _state(sample_input=[[1.0]])),
        ("weight_decay", "make_optimizer weight_decay=nan", lambda: make_optimizer(0.1, weight_decay=NAN)),
        ("weight_decay", "make_optimizer weight_decay='0'", lambda: make_optimizer(0.1, weight_decay="0")),
        ("nesterov", "make_optimizer nesterov='yes'", lambda: make_optimizer(0.1, nesterov="yes")),
        ("momentum", "make_optimizer momentum='0.9'", lambda: make_optimizer(0.1, momentum="0.9")),
        ("momentum", "make_optimizer momentum=1.0", lambda: make_optimizer(0.1, momentum=1.0)),
        ("learning_rate", "make_optimizer learning_rate=True", lambda: make_optimizer(True)),
        ("learning_rate", "make_optimizer learning_rate=inf", lambda: make_optimizer(INF)),
    ]:
        add(m, names, label, thunk)
    m = "train.parallel"
    for names, label, thunk in [
        (("n", "devices"), "select_devices n=0", lambda: select_devices(0)),
        (("n", "devices"), "select_devices n=99", lambda: select_devices(99)),
        (("n", "devices"), "select_devices n=1.5", lambda: select_devices(1.5)),
        ("num_devices", "check_batch_size num_devices=0", lambda: check_batch_size(8, 0)),
        ("batch_size", "check_batch_size batch_size=0", lambda: check_batch_size(0, 1)),
        ("batch_size", "check_batch_size batch_size=2.5", lambda: check_batch_size(2.5, 1)),
        ("num_devices", "shard_batch num_devices=0", lambda: shard_batch({"image": np.zeros((4, 2))}, 0)),
        (("batch", "num_devices"), "shard_batch 7 over 2", lambda: shard_batch({"image": np.zeros((7, 2))}, 2)),
        ("devices", "make_mesh devices=[]", lambda: make_mesh([])),
        ("devices", "make_mesh devices=['cpu']", lambda: make_mesh(["cpu"])),
        ("devices", "make_mesh devices duplicated", lambda: make_mesh(f.jax.devices() * 2)),
        ("devices", "make_mesh devices='cpu'", lambda: make_mesh("cpu")),
        ("n", "select_devices n=True", lambda: select_devices(True)),
        ("num_devices", "check_batch_size num_devices=1.5", lambda: check_batch_size(8, 1.5)),
        ("batch", "shard_batch a scalar leaf", lambda: shard_batch({"image": np.zeros(())}, 1)),
        ("devices", "replicate devices=[]", lambda: replicate({"a": np.zeros(2)}, [])),
        ("step_fn", "pmap_step step_fn=None", lambda: pmap_step(None, f.jax.devices())),
        ("donate", "pmap_step donate='yes'", lambda: pmap_step(lambda s, b: s, f.jax.devices(), donate="yes")),
        ("mesh", "replicated mesh=None", lambda: replicated(None)),
        (
            "mesh",
            "batch_sharding mesh with another axis",
            lambda: batch_sharding(Mesh(np.asarray(f.jax.devices()), ("data",))),
        ),
        ("mesh", "put_replicated mesh='x'", lambda: put_replicated({"a": np.zeros(2)}, "x")),
        ("global_batch", "put_batch a scalar leaf", lambda: put_batch({"image": np.zeros(())}, make_mesh())),
        ("step_fn", "mesh_step step_fn=None", lambda: mesh_step(None, make_mesh())),
        ("donate", "mesh_step donate='no'", lambda: mesh_step(lambda s, b: s, make_mesh(), donate="no")),
    ]:
        add(m, names, label, thunk)
    _fit()
    _train_io()


def _step_without_label(step):
    state = _state()
    f = fx()
    return step(state, {"image": f.jnp.ones((2, 4, 4, 1))})


def _fit():
    """``fit``: every argument, checked before anything is built (cases that pass a model never init it)."""
    import numpy as np

    from jaxcnn.train import fit, make_optimizer

    fx()
    tx = make_optimizer(0.1)
    data = lambda step: {"image": np.ones((2, 4, 4, 1), np.float32), "label": np.zeros(2, np.int32)}
    no_label = lambda step: {"image": np.ones((2, 4, 4, 1), np.float32)}
    ev = [data(0)]
    st = lambda: _state()
    tiny = lambda: _tiny_model()
    m = "train.fit"
    for names, label, thunk in [
        ("model_or_state", "model_or_state='resnet18'", lambda: fit("resnet18", data, 1, tx=tx)),
        ("train_data", "train_data=5", lambda: fit(st(), 5, 1)),
        ("steps", "steps=-1", lambda: fit(st(), data, -1)),
        ("steps", "steps=2.5", lambda: fit(st(), data, 2.5)),
        ("steps", "steps=True", lambda: fit(st(), data, True)),
        ("tx", "tx='sgd' with a model", lambda: fit(tiny(), data, 1, tx="sgd")),
        ("tx", "tx None with a model", lambda: fit(tiny(), data, 1)),
        ("tx", "tx with a TrainState (ignored)", lambda: fit(st(), data, 1, tx=tx)),
        ("train_data", "train_data neither a function of the step nor an iterable", lambda: fit(tiny(), 5, 1, tx=tx)),
        ("seed", "seed=1.5", lambda: fit(tiny(), data, 1, tx=tx, seed=1.5)),
        ("task", "task='x'", lambda: fit(st(), data, 1, task="x")),
        ("label_smoothing", "label_smoothing=1.5", lambda: fit(st(), data, 1, label_smoothing=1.5)),
        ("compute_dtype", "compute_dtype='float77'", lambda: fit(st(), data, 1, compute_dtype="float77")),
        ("input_key", "input_key=None", lambda: fit(st(), data, 1, input_key=None)),
        ("rng_streams", "rng_streams='dropout'", lambda: fit(st(), data, 1, rng_streams="dropout")),
        ("loss_fn", "loss_fn=5", lambda: fit(st(), data, 1, loss_fn=5)),
        ("eval_data", "eval_data=5", lambda: fit(st(), data, 1, eval_data=5)),
        ("eval_data", "eval_data an iterator", lambda: fit(st(), data, 1, eval_data=iter(ev))),
        ("eval_fn", "eval_fn=5", lambda: fit(st(), data, 1, eval_fn=5)),
        (
            ("eval_data", "eval_fn"),
            "eval_data and eval_fn",
            lambda: fit(st(), data, 1, eval_data=ev, eval_fn=lambda s: {}),
        ),
        ("eval_every", "eval_every=0", lambda: fit(st(), data, 1, eval_data=ev, eval_every=0)),
        ("eval_every", "eval_every=2.5", lambda: fit(st(), data, 4, eval_data=ev, eval_every=2.5)),
        ("eval_every", "eval_every=[0]", lambda: fit(st(), data, 4, eval_data=ev, eval_every=[0])),
        ("eval_every", "eval_every=[9] > steps", lambda: fit(st(), data, 4, eval_data=ev, eval_every=[9])),
        ("eval_every", "eval_every=[1.5]", lambda: fit(st(), data, 4, eval_data=ev, eval_every=[1.5])),
        ("eval_every", "eval_every without eval_data/eval_fn", lambda: fit(st(), data, 4, eval_every=2)),
        ("out", "out=5", lambda: fit(st(), data, 1, out=5)),
        ("ckpt_every", "ckpt_every=0", lambda: fit(st(), data, 1, ckpt_every=0)),
        ("ckpt_every", "ckpt_every=2.5", lambda: fit(st(), data, 1, ckpt_every=2.5)),
        ("keep", "keep=0", lambda: fit(st(), data, 1, keep=0)),
        ("keep", "keep='3'", lambda: fit(st(), data, 1, keep="3")),
        ("resume", "resume='yes'", lambda: fit(st(), data, 1, resume="yes")),
        ("resume", "resume without out", lambda: fit(st(), data, 1, resume=True)),
        ("devices", "devices=0", lambda: fit(st(), data, 1, devices=0)),
        ("devices", "devices=True", lambda: fit(st(), data, 1, devices=True)),
        ("devices", "devices=99", lambda: fit(st(), data, 1, devices=99)),
        ("devices", "devices=[]", lambda: fit(st(), data, 1, devices=[])),
        (("devices", "mesh"), "devices and mesh", lambda: fit(st(), data, 1, devices=1, mesh=_mesh())),
        ("mesh", "mesh='x'", lambda: fit(st(), data, 1, mesh="x")),
        ("max_skipped", "max_skipped=0", lambda: fit(st(), data, 1, max_skipped=0)),
        ("log_every", "log_every=0", lambda: fit(st(), data, 1, log_every=0)),
        ("log_every", "log_every=1.5", lambda: fit(st(), data, 1, log_every=1.5)),
        ("progress", "progress='no'", lambda: fit(st(), data, 1, progress="no")),
        ("desc", "desc=5", lambda: fit(st(), data, 1, desc=5)),
        ("on_step", "on_step=5", lambda: fit(st(), data, 1, on_step=5)),
        ("train_data", "train_data batch without 'label'", lambda: fit(st(), no_label, 1, progress=False)),
        ("train_data", "train_data batch without input_key", lambda: fit(st(), data, 1, input_key="x", progress=False)),
        ("train_data", "train_data batch a tuple", lambda: fit(st(), lambda s: (1, 2), 1, progress=False)),
    ]:
        add(m, names, label, thunk)


def _mesh():
    from jaxcnn.train import make_mesh

    return make_mesh()


def _tiny_model():
    import flax.linen as nn

    class Tiny(nn.Module):
        @nn.compact
        def __call__(self, x, train: bool = False):
            return nn.Dense(3)(x.reshape(x.shape[0], -1))

    return Tiny()


def _state(key=None, tx=None, model=None, sample_input=None):
    import optax

    from jaxcnn.train import create_train_state

    f = fx()
    return create_train_state(
        _tiny_model() if model is None else model,
        f.K if key is None else key,
        f.jnp.ones((1, 4, 4, 1)) if sample_input is None else sample_input,
        optax.sgd(0.1) if tx is None else tx,
    )


def _train_io():
    import numpy as np

    from experiments.lstsq import conv_normal_equations, solve_conv_lstsq
    from experiments.sr_data import (
        SRPair,
        dihedral,
        imresize,
        jax_resize,
        list_images,
        load_pairs,
        load_y,
        make_pair,
        mirror_padded,
        patch_batch,
        rescaled_pairs,
        resize_matrix,
        upscale_bicubic,
    )
    from jaxcnn.train.checkpoint import Checkpointer, restore_arrays

    tmp = tempfile.mkdtemp(prefix="jaxcnn_sweep_")
    m = "train.checkpoint"
    for names, label, thunk in [
        ("every", "Checkpointer every=0", lambda: Checkpointer(os.path.join(tmp, "a"), every=0)),
        ("every", "Checkpointer every=2.5", lambda: Checkpointer(os.path.join(tmp, "b"), every=2.5)),
        ("keep", "Checkpointer keep=0", lambda: Checkpointer(os.path.join(tmp, "c"), keep=0)),
        ("keep", "Checkpointer keep='3'", lambda: Checkpointer(os.path.join(tmp, "d"), keep="3")),
        (
            ("directory", "/nonexistent"),
            "restore_arrays missing directory",
            lambda: restore_arrays("/nonexistent/ckpt"),
        ),
        ("step", "restore_arrays step=-1 in empty dir", lambda: restore_arrays(tmp, step=-1)),
        ("step", "restore_arrays step=1.5", lambda: restore_arrays(tmp, step=1.5)),
        ("step", "restore_arrays step=5 not saved", lambda: restore_arrays(tmp, step=5)),
        ("directory", "restore_arrays directory=None", lambda: restore_arrays(None)),
        ("directory", "Checkpointer directory=None", lambda: Checkpointer(None)),
        ("every", "Checkpointer every=True", lambda: Checkpointer(os.path.join(tmp, "e"), every=True)),
        ("state", "Checkpointer.save state=dict", lambda: _ckpt(tmp, "f").save({"step": 1})),
        ("force", "Checkpointer.save force='yes'", lambda: _ckpt(tmp, "g").save(_state(), force="yes")),
        ("template", "Checkpointer.restore template=None", lambda: _ckpt(tmp, "h").restore(None)),
        ("step", "Checkpointer.restore step=-1", lambda: _ckpt(tmp, "i").restore(_state(), step=-1)),
        ("step", "Checkpointer.restore step=3 not saved", lambda: _ckpt(tmp, "j").restore(_state(), step=3)),
    ]:
        add(m, names, label, thunk)
    feats = np.ones((2, 6, 6, 3))
    targets = np.ones((2, 6, 6, 4))
    m = "experiments.lstsq"
    for names, label, thunk in [
        ("kernel_size", "conv_normal_equations kernel_size=0", lambda: conv_normal_equations(feats, targets, 0)),
        ("kernel_size", "conv_normal_equations kernel_size=2 (even)", lambda: conv_normal_equations(feats, targets, 2)),
        ("kernel_size", "conv_normal_equations kernel_size=2.5", lambda: conv_normal_equations(feats, targets, 2.5)),
        (
            ("features", "targets"),
            "conv_normal_equations H mismatch",
            lambda: conv_normal_equations(feats, np.ones((2, 5, 6, 4)), 3),
        ),
        ("features", "conv_normal_equations features 3-D", lambda: conv_normal_equations(feats[0], targets[0], 3)),
        (
            "mask",
            "conv_normal_equations mask wrong shape",
            lambda: conv_normal_equations(feats, targets, 3, mask=np.ones((2, 3))),
        ),
        (
            "ridge",
            "solve_conv_lstsq ridge=-1",
            lambda: solve_conv_lstsq(conv_normal_equations(feats, targets, 3), 3, ridge=-1.0),
        ),
        (
            "ridge",
            "solve_conv_lstsq ridge=nan",
            lambda: solve_conv_lstsq(conv_normal_equations(feats, targets, 3), 3, ridge=NAN),
        ),
        (
            "kernel_size",
            "solve_conv_lstsq kernel_size mismatch",
            lambda: solve_conv_lstsq(conv_normal_equations(feats, targets, 3), 5),
        ),
        ("kernel_size", "conv_normal_equations kernel_size=True", lambda: conv_normal_equations(feats, targets, True)),
        ("features", "conv_normal_equations features of str", lambda: conv_normal_equations([["a"]], targets, 3)),
        ("targets", "conv_normal_equations targets 3-D", lambda: conv_normal_equations(feats, targets[0], 3)),
        ("system", "solve_conv_lstsq system=None", lambda: solve_conv_lstsq(None, 3)),
        (
            "ridge",
            "solve_conv_lstsq ridge='0.1'",
            lambda: solve_conv_lstsq(conv_normal_equations(feats, targets, 3), 3, ridge="0.1"),
        ),
        (
            "ridge",
            "solve_conv_lstsq ridge=inf",
            lambda: solve_conv_lstsq(conv_normal_equations(feats, targets, 3), 3, ridge=INF),
        ),
        (
            "kernel_size",
            "solve_conv_lstsq kernel_size=2.5",
            lambda: solve_conv_lstsq(conv_normal_equations(feats, targets, 3), 2.5),
        ),
    ]:
        add(m, names, label, thunk)
    img = np.zeros((12, 12))
    pair = SRPair("a", np.zeros((12, 12)), np.zeros((4, 4)))
    m = "experiments.sr_data"
    for names, label, thunk in [
        ("n_in", "resize_matrix n_in=0", lambda: resize_matrix(0, 4, 2.0)),
        ("scale", "resize_matrix scale=0", lambda: resize_matrix(4, 8, 0.0)),
        ("scale", "resize_matrix scale=nan", lambda: resize_matrix(4, 8, NAN)),
        ("scale", "imresize scale=0", lambda: imresize(img, 0.0)),
        ("scale", "imresize scale=-2", lambda: imresize(img, -2.0)),
        ("scale", "imresize scale=nan", lambda: imresize(img, NAN)),
        ("scale", "imresize scale=1e9 (huge output)", lambda: imresize(img, 1e9)),
        ("image", "imresize image 1-D", lambda: imresize(np.zeros(12), 2.0)),
        ("scale", "jax_resize scale=0", lambda: jax_resize(img, 0, True)),
        ("scale", "jax_resize scale=1.5", lambda: jax_resize(img, 1.5, True)),
        ("k", "dihedral k=8", lambda: dihedral(img, 8)),
        ("k", "dihedral k=-1", lambda: dihedral(img, -1)),
        ("k", "dihedral k=1.5", lambda: dihedral(img, 1.5)),
        ("scale", "make_pair scale=0", lambda: make_pair("a", img, 0)),
        ("scale", "make_pair scale=2.5", lambda: make_pair("a", img, 2.5)),
        ("resize", "make_pair resize='x'", lambda: make_pair("a", img, 3, resize="x")),
        ("y", "make_pair y 3-channel", lambda: make_pair("a", np.zeros((12, 12, 3)), 3)),
        ("context", "mirror_padded context=-1", lambda: mirror_padded([pair], -1, 3)),
        ("lr_size", "patch_batch lr_size=0", lambda: patch_batch([pair], 3, 0, 2, 0, 0)),
        ("lr_size", "patch_batch lr_size=10 > image", lambda: patch_batch([pair], 3, 10, 2, 0, 0)),
        ("batch_size", "patch_batch batch_size=0", lambda: patch_batch([pair], 3, 2, 0, 0, 0)),
        ("pairs", "patch_batch pairs=[]", lambda: patch_batch([], 3, 2, 2, 0, 0)),
        ("scale", "upscale_bicubic scale=0", lambda: upscale_bicubic(np.zeros((4, 4)), 0)),
        (("path", "/nonexistent"), "load_y missing file", lambda: load_y("/nonexistent/a.png")),
        (("folder", "/nonexistent"), "list_images missing folder", lambda: list_images("/nonexistent")),
        ("scale", "imresize scale='2'", lambda: imresize(img, "2")),
        ("scale", "imresize scale=True", lambda: imresize(img, True)),
        ("scale", "imresize scale=1e-9 (4e9 antialias taps)", lambda: imresize(img, 1e-9)),
        ("antialias", "imresize antialias='yes'", lambda: imresize(img, 0.5, antialias="yes")),
        ("image", "imresize image uint8 (MATLAB rounds those)", lambda: imresize(img.astype(np.uint8), 2.0)),
        ("image", "imresize image (0, 4)", lambda: imresize(np.zeros((0, 4)), 2.0)),
        ("image", "imresize image of str", lambda: imresize([["a"]], 2.0)),
        ("n_out", "resize_matrix n_out=2.5", lambda: resize_matrix(4, 2.5, 2.0)),
        ("antialias", "resize_matrix antialias=1", lambda: resize_matrix(4, 8, 2.0, 1)),
        ("scale", "resize_matrix scale=-1", lambda: resize_matrix(4, 8, -1.0)),
        ("n_out", "resize_matrix n_out=10**6, n_in=10**4 (huge)", lambda: resize_matrix(10**4, 10**6, 100.0)),
        ("n_in", "resize_matrix n_in=[4] (unhashable)", lambda: resize_matrix([4], 8, 2.0)),
        ("up", "jax_resize up='yes'", lambda: jax_resize(img, 2, "yes")),
        ("image", "jax_resize image 1-D", lambda: jax_resize(np.zeros(12), 2, True)),
        ("scale", "jax_resize scale=20 shrinks to nothing", lambda: jax_resize(img, 20, False)),
        ("scale", "jax_resize scale=10**6 (huge output)", lambda: jax_resize(img, 10**6, True)),
        ("image", "dihedral image 1-D", lambda: dihedral(np.zeros(4), 1)),
        ("k", "dihedral k=True", lambda: dihedral(img, True)),
        ("name", "make_pair name=None", lambda: make_pair(None, img, 3)),
        ("y", "make_pair y 1-D", lambda: make_pair("a", np.zeros(12), 3)),
        ("y", "make_pair y smaller than scale", lambda: make_pair("a", np.zeros((2, 2)), 3)),
        ("scale", "load_pairs scale=0", lambda: load_pairs("/nonexistent", 0)),
        ("limit", "load_pairs limit=0", lambda: load_pairs("/nonexistent", 3, limit=0)),
        ("resize", "load_pairs resize='x'", lambda: load_pairs("/nonexistent", 3, resize="x")),
        ("factors", "rescaled_pairs factors=[1.5]", lambda: rescaled_pairs([pair], [1.5], 3)),
        ("factors", "rescaled_pairs factors=[nan]", lambda: rescaled_pairs([pair], [NAN], 3)),
        ("factors", "rescaled_pairs factors=0.5 (not a list)", lambda: rescaled_pairs([pair], 0.5, 3)),
        ("pairs", "rescaled_pairs pairs=None", lambda: rescaled_pairs(None, [0.5], 3)),
        ("scale", "rescaled_pairs scale=0", lambda: rescaled_pairs([pair], [0.5], 0)),
        ("context", "mirror_padded context=1.5", lambda: mirror_padded([pair], 1.5, 3)),
        ("scale", "mirror_padded scale=0", lambda: mirror_padded([pair], 1, 0)),
        ("pairs", "mirror_padded pairs=None", lambda: mirror_padded(None, 1, 3)),
        ("resize", "upscale_bicubic resize='x'", lambda: upscale_bicubic(np.zeros((4, 4)), 3, resize="x")),
        ("scale", "upscale_bicubic scale=1.5", lambda: upscale_bicubic(np.zeros((4, 4)), 1.5)),
        ("pairs", "patch_batch pairs=None", lambda: patch_batch(None, 3, 2, 2, 0, 0)),
        ("pairs", "patch_batch pair made at another scale", lambda: patch_batch([pair], 2, 2, 2, 0, 0)),
        ("seed", "patch_batch seed=-1", lambda: patch_batch([pair], 3, 2, 2, -1, 0)),
        ("step", "patch_batch step=1.5", lambda: patch_batch([pair], 3, 2, 2, 0, 1.5)),
        ("augment", "patch_batch augment='yes'", lambda: patch_batch([pair], 3, 2, 2, 0, 0, augment="yes")),
        ("scale", "patch_batch scale=0", lambda: patch_batch([pair], 0, 2, 2, 0, 0)),
    ]:
        add(m, names, label, thunk)


def _ckpt(tmp, name):
    from jaxcnn.train.checkpoint import Checkpointer

    return Checkpointer(os.path.join(tmp, name), every=1)


# ----------------------------------------------------------------------------- interop, CLIs


@group
def _interop():
    from jaxcnn.interop import from_torchvision, load_state_dict

    add("interop", "name", "from_torchvision unknown name", lambda: from_torchvision("resnet7", {}))
    add("interop", "state_dict", "from_torchvision empty state_dict", lambda: from_torchvision("resnet18", {}))
    add("interop", "state_dict", "from_torchvision state_dict=None", lambda: from_torchvision("resnet18", None))
    add(
        "interop",
        ("path", "/nonexistent"),
        "load_state_dict missing file",
        lambda: load_state_dict("/nonexistent/w.pth"),
    )
    _interop_more()


def _interop_more():
    """Every public name of interop/, pretrained and the convert CLI."""
    import numpy as np

    import jaxcnn
    from jaxcnn import convert
    from jaxcnn.interop import (
        detect_layout,
        export_state_dict,
        from_state_dict,
        from_torchvision,
        infer_arch,
        layouts_of,
        read_checkpoint,
        read_safetensors,
        to_state_dict,
        write_flax,
        write_safetensors,
    )
    from jaxcnn.interop.files import flatten_variables, read_msgpack, unflatten_variables
    from jaxcnn.interop.keymaps import key_map, to_flax, to_torch, torch_shape
    from jaxcnn.interop.state_dict import abstract_variables, check_variables
    from jaxcnn.models import create_model
    from jaxcnn.pretrained import model_card, resolve_source

    fx()
    tmp = tempfile.mkdtemp(prefix="jaxcnn_sweep_interop_")
    txt = os.path.join(tmp, "w.txt")
    Path(txt).write_text("x")
    sf = os.path.join(tmp, "a.safetensors")
    write_safetensors(sf, {"w": np.zeros(2)})
    r18 = create_model("resnet18")
    sd = {"conv1.weight": np.zeros((64, 3, 7, 7))}

    def cli(argv):
        """convert.main as a user runs it: argparse's exit or main's return 1 is the error."""
        err = io.StringIO()
        with contextlib.redirect_stderr(err):
            try:
                rc = convert.main(list(argv))
            except SystemExit:
                rc = 2
        if rc:
            raise _ArgparseError(err.getvalue().strip().splitlines()[-1])

    for m, names, label, thunk in [
        ("interop", "name", "from_torchvision name=None", lambda: from_torchvision(None, sd)),
        ("interop", "check", "from_torchvision check='yes'", lambda: from_torchvision("resnet18", sd, check="yes")),
        ("interop", "state_dict", "from_torchvision state_dict a list", lambda: from_torchvision("resnet18", [1])),
        ("interop", "state_dict", "from_torchvision mismatched state_dict", lambda: from_torchvision("resnet18", sd)),
        ("interop", "arch", "export_state_dict arch='espcn' (no torch layout)", lambda: export_state_dict({}, "espcn")),
        ("interop", "layout", "export_state_dict layout='x'", lambda: export_state_dict({}, "resnet18", layout="x")),
        ("interop", "path", "export_state_dict path='w.pth'", lambda: export_state_dict({}, "resnet18", "w.pth")),
        ("interop", "variables", "export_state_dict variables=None", lambda: export_state_dict(None, "resnet18")),
        ("interop", "arch", "export_state_dict arch=None", lambda: export_state_dict({}, None)),
        ("interop.files", "path", "load_state_dict path=None", lambda: jaxcnn.interop.load_state_dict(None)),
        ("interop.files", ("path", tmp), "read_checkpoint a directory", lambda: read_checkpoint(tmp)),
        ("interop.files", ("path", "w.txt"), "read_checkpoint suffix .txt", lambda: read_checkpoint(txt)),
        (
            "interop.files",
            ("path", "/nonexistent"),
            "read_safetensors missing",
            lambda: read_safetensors("/nonexistent/a.safetensors"),
        ),
        (
            "interop.files",
            "tensors",
            "write_safetensors tensors=None",
            lambda: write_safetensors(os.path.join(tmp, "b.safetensors"), None),
        ),
        (
            "interop.files",
            "metadata",
            "write_safetensors metadata non-str",
            lambda: write_safetensors(os.path.join(tmp, "c.safetensors"), {"w": np.zeros(2)}, {"n": 1}),
        ),
        ("interop.files", "path", "write_safetensors path=None", lambda: write_safetensors(None, {"w": np.zeros(2)})),
        (
            "interop.files",
            "path",
            "write_flax suffix .pkl",
            lambda: write_flax(os.path.join(tmp, "v.pkl"), {}, "resnet18"),
        ),
        ("interop.files", "arch", "write_flax arch=None", lambda: write_flax(os.path.join(tmp, "v.msgpack"), {}, None)),
        (
            "interop.files",
            "overrides",
            "write_flax overrides not JSON",
            lambda: write_flax(os.path.join(tmp, "v.msgpack"), {}, "espcn", {"dtype": np.float32}),
        ),
        (
            "interop.files",
            "variables",
            "write_flax variables=None",
            lambda: write_flax(os.path.join(tmp, "v.msgpack"), None, "espcn"),
        ),
        (
            "interop.files",
            "extra_metadata",
            "write_flax extra_metadata non-str",
            lambda: write_flax(os.path.join(tmp, "v.msgpack"), {}, "espcn", None, {"a": 1}),
        ),
        (
            "interop.files",
            ("path", "/nonexistent"),
            "read_msgpack missing",
            lambda: read_msgpack("/nonexistent/a.msgpack"),
        ),
        ("interop.files", "variables", "flatten_variables None", lambda: flatten_variables(None)),
        ("interop.files", "flat", "unflatten_variables int keys", lambda: unflatten_variables({1: np.zeros(2)})),
        ("interop.keymaps", "arch", "layouts_of None", lambda: layouts_of(None)),
        ("interop.keymaps", "layout", "key_map layout='x'", lambda: key_map(r18, {}, "x")),
        ("interop.keymaps", "kind", "to_flax kind='x' (silently copied)", lambda: to_flax(np.zeros((2, 2)), "x")),
        ("interop.keymaps", "kind", "to_flax conv of a 2-D array", lambda: to_flax(np.zeros((2, 2)), "conv")),
        (
            "interop.keymaps",
            "kind",
            "to_flax conv1x1_linear 3x3",
            lambda: to_flax(np.zeros((2, 2, 3, 3)), "conv1x1_linear"),
        ),
        ("interop.keymaps", "kind", "to_torch kind='x'", lambda: to_torch(np.zeros((2, 2)), "x")),
        ("interop.keymaps", "flax_shape", "torch_shape flax_shape='x'", lambda: torch_shape("x", "conv")),
        ("interop.keymaps", "keys", "detect_layout []", lambda: detect_layout([])),
        ("interop.keymaps", "keys", "detect_layout a str", lambda: detect_layout("conv1.weight")),
        ("interop.keymaps", "keys", "detect_layout int keys", lambda: detect_layout([1, 2])),
        ("interop.keymaps", "state_dict", "infer_arch state_dict=None", lambda: infer_arch(None, "timm")),
        ("interop.keymaps", "layout", "infer_arch layout='x'", lambda: infer_arch(sd, "x")),
        (
            "interop.state_dict",
            "state_dict",
            "from_state_dict state_dict=None",
            lambda: from_state_dict(None, r18, "timm"),
        ),
        ("interop.state_dict", "layout", "from_state_dict layout='x'", lambda: from_state_dict(sd, r18, "x")),
        (
            "interop.state_dict",
            "skip",
            "from_state_dict skip=('nope',) (silently nothing)",
            lambda: from_state_dict(sd, r18, "timm", skip=("nope",)),
        ),
        (
            "interop.state_dict",
            "skip",
            "from_state_dict skip='fc'",
            lambda: from_state_dict(sd, r18, "timm", skip="fc"),
        ),
        (
            "interop.state_dict",
            "model",
            "from_state_dict model='resnet18'",
            lambda: from_state_dict(sd, "resnet18", "timm"),
        ),
        ("interop.state_dict", "variables", "to_state_dict variables=None", lambda: to_state_dict(None, r18, "timm")),
        ("interop.state_dict", "layout", "to_state_dict layout='x'", lambda: to_state_dict({}, r18, "x")),
        ("interop.state_dict", "variables", "check_variables variables=None", lambda: check_variables(None, r18)),
        ("interop.state_dict", "model", "abstract_variables model=None", lambda: abstract_variables(None)),
        ("interop.pretrained", "source", "pretrained source=5", lambda: jaxcnn.pretrained(5)),
        (
            "interop.pretrained",
            ("source", "/nonexistent"),
            "pretrained missing file",
            lambda: jaxcnn.pretrained("/nonexistent/w.safetensors"),
        ),
        ("interop.pretrained", "source", "pretrained source={}", lambda: jaxcnn.pretrained({})),
        (
            "interop.pretrained",
            "source_format",
            "pretrained source_format='keras'",
            lambda: jaxcnn.pretrained(sd, source_format="keras"),
        ),
        ("interop.pretrained", "num_classes", "pretrained num_classes=0", lambda: jaxcnn.pretrained(sd, num_classes=0)),
        (
            "interop.pretrained",
            "num_classes",
            "pretrained num_classes=2.5",
            lambda: jaxcnn.pretrained(sd, num_classes=2.5),
        ),
        (
            "interop.pretrained",
            "num_classes",
            "pretrained num_classes=True",
            lambda: jaxcnn.pretrained(sd, num_classes=True),
        ),
        ("interop.pretrained", "arch", "pretrained arch='resnet7'", lambda: jaxcnn.pretrained(sd, arch="resnet7")),
        ("interop.pretrained", "key", "pretrained key=0", lambda: jaxcnn.pretrained(sd, key=0)),
        ("interop.pretrained", "name", "model_card unknown name", lambda: model_card("nope")),
        ("interop.pretrained", "source", "resolve_source None", lambda: resolve_source(None)),
        (
            "interop.convert",
            "--arch",
            "convert --arch resnet7",
            lambda: cli([sf, os.path.join(tmp, "o.msgpack"), "--arch", "resnet7"]),
        ),
        (
            "interop.convert",
            "--num-classes",
            "convert --num-classes 0",
            lambda: cli([sf, os.path.join(tmp, "o.msgpack"), "--num-classes", "0"]),
        ),
        (
            "interop.convert",
            "--num-classes",
            "convert --num-classes 2.5",
            lambda: cli([sf, os.path.join(tmp, "o.msgpack"), "--num-classes", "2.5"]),
        ),
        (
            "interop.convert",
            "--source-format",
            "convert --source-format keras",
            lambda: cli([sf, os.path.join(tmp, "o.msgpack"), "--source-format", "keras"]),
        ),
        (
            "interop.convert",
            ("src", "/nonexistent"),
            "convert src missing",
            lambda: cli(["/nonexistent/a.safetensors", os.path.join(tmp, "o.msgpack")]),
        ),
        ("interop.convert", "DST", "convert dst .pkl", lambda: cli([sf, os.path.join(tmp, "o.pkl")])),
        ("interop.convert", "dst", "convert dst is src", lambda: cli([sf, sf])),
        (
            "interop.convert",
            "--to",
            "convert --to timm into .msgpack",
            lambda: cli([sf, os.path.join(tmp, "o.msgpack"), "--to", "timm"]),
        ),
        (
            "interop.convert",
            "--set",
            "convert --set foo (no =)",
            lambda: cli([sf, os.path.join(tmp, "o.msgpack"), "--set", "foo"]),
        ),
    ]:
        add(m, names, label, thunk)


_NO = "/nonexistent"
CLI_CASES = {
    "classify": [
        ["--steps", "-1"],
        ["--steps", "0"],
        ["--batch-size", "0"],
        ["--lr", "-1"],
        ["--lr", "nan"],
        ["--momentum", "1.5"],
        ["--weight-decay", "-1"],
        ["--label-smoothing", "1.5"],
        ["--devices", "0"],
        ["--keep", "0"],
        ["--ckpt-every", "0"],
        ["--max-nonfinite", "0"],
        ["--model", "resnet7"],
        ["--model-kw", "foo"],
        ["--model-kw", "num_classes=abc"],
        ["--model-kw", "nope=1"],
        ["--dataset", "imagenet22k"],
        ["--steps", "1.5"],
        ["--schedule", "linear"],
        ["--lr", "inf"],
        ["--batch-size", "1.5"],
        ["--momentum", "-0.1"],
        ["--devices", "1.5"],
        ["--seed", "-1"],
        ["--seed", "x"],
        ["--data", _NO],
        ["--model", ":make"],
        ["--model-kw", "scan_stages=1"],
        ["--model-kw", "drop_path_rate=high"],
        ["--model-kw", "=3"],
        ["--dtype", "float16"],
        ["--parallel", "pmap"],
        ["--devices", "2", "--parallel", "none"],
    ],
    "espcn_sr": [
        ["--scale", "0"],
        ["--scale", "-3"],
        ["--steps", "-1"],
        ["--batch-size", "0"],
        ["--patch", "0"],
        ["--context", "-1"],
        ["--lr", "-1"],
        ["--lr-final", "-1"],
        ["--last-layer-lr", "-1"],
        ["--eval-every", "-1"],
        ["--rescale", "-1"],
        ["--rescale", "0"],
        ["--eval-only"],
        ["--train-dir", _NO],
        ["--scale", "1.5"],
        ["--lr", "nan"],
        ["--lr-final", "1"],
        ["--rescale", "1.5"],
        ["--seed", "-1"],
        ["--patch", "2.5"],
        ["--weights", "nope", "--eval-only"],
        ["--weights", "espcn_x3_t91"],
        ["--refit-last", "--eval-only", "--weights", "espcn_x3_t91"],
        ["--eval-dir", _NO],
        ["--optimizer", "adamw"],
        ["--resize", "pil"],
    ],
    "classification_study": [
        ["--seeds", "0"],
        ["--steps", "-1"],
        ["--mnist-steps", "-1"],
        ["--batch-size", "0"],
        ["--lr", "-1"],
        ["--evals", "0"],
        ["--arms", "nope"],
        ["--datasets", "imagenet"],
        ["--datasets", ","],
        ["--arms", ""],
        ["--seeds", "1.5"],
        ["--lr", "nan"],
        ["--data", _NO],
    ],
    "gallery": [
        ["--steps", "-1"],
        ["--steps", "1.5"],
        ["--train-images", "0"],
        ["--image", "nope"],
        ["--data", _NO],
        ["--espcn-weights", "nope"],
    ],
    "receptive_fields": [["--samples", "0"], ["--samples", "-1"], ["--samples", "1.5"], ["--checkpoint", _NO]],
    "tradeoffs": [
        ["--steps", "-1"],
        ["--batch-size", "0"],
        ["--depths", "0"],
        ["--depths", "a,b"],
        ["--repeats", "0"],
        ["--warmup", "-1"],
        ["--depths", ","],
        ["--depths", "1.5"],
        ["--warmup", "5", "--steps", "2"],
        ["--conv-grad", "fast"],
        ["--data", _NO],
        ["--steps", "1.5"],
    ],
    "report": [
        ["--only", "nope"],
        ["--results", "nope"],
        ["--results", "gallery=" + _NO],
        ["--only", ""],
        ["--data", _NO],
        ["--espcn-weights", "nope"],
        ["--quick", "--full"],
    ],
    "demo": [["--skip", "nope"], ["--data", _NO], ["--espcn-weights", "nope"]],
    # (name, argv) where the argument is positional
    "espcn_ship": [("run", [_NO]), ("run", ["."]), ["--name", "a/b", "."], ["--eval-dir", _NO, "."]],
}

# A flag whose check reads the data folder (--image, the --weights cases of a training run) gets a
# fake tree: an empty sr/Set5/butterfly.png and sr/T91 are enough for parse_args.
_FAKE_DATA = Path(tempfile.mkdtemp(prefix="sweep_data_"))
for _sub in ("sr/Set5", "sr/T91"):
    (_FAKE_DATA / _sub).mkdir(parents=True, exist_ok=True)
(_FAKE_DATA / "sr/Set5/butterfly.png").touch()
_WITH_DATA = {
    "gallery": {"--data": str(_FAKE_DATA)},
    "espcn_sr": {"--train-dir": str(_FAKE_DATA / "sr/T91"), "--eval-dir": str(_FAKE_DATA / "sr/Set5")},
    "espcn_ship": {"--eval-dir": str(_FAKE_DATA / "sr/Set5")},
}


def _cli(module, argv):
    """Parse only: a CLI validates its flags before doing any work. argparse's exit counts as an error."""
    import importlib

    mod = importlib.import_module(f"experiments.{module}")
    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        try:
            if hasattr(mod, "parse_args"):
                return mod.parse_args(argv)
            raise RuntimeError("no parse_args")
        except SystemExit as e:
            raise _ArgparseError(
                err.getvalue().strip().splitlines()[-1] if err.getvalue().strip() else f"exit {e.code}"
            )


class _ArgparseError(Exception):
    pass


@group
def _clis():
    for module, cases in CLI_CASES.items():
        for case in cases:
            flag, argv = case if isinstance(case, tuple) else (case[0], case)
            # every fake data folder but the one the case is about
            extra = [a for k, v in _WITH_DATA.get(module, {}).items() if k != flag for a in (k, v)]
            label = " ".join(argv) if flag in argv else f"{flag}: {' '.join(argv)}"
            add(
                f"cli.{module}",
                (flag, flag.lstrip("-"), flag.lstrip("-").replace("-", "_")),
                label,
                functools.partial(_cli, module, extra + list(argv)),
            )


# ----------------------------------------------------------------------------- runner


def classify(exc: BaseException | None, names: tuple[str, ...]) -> tuple[str, str]:
    if exc is None:
        return "silent", ""
    msg = str(exc)
    named = any(n in msg for n in names)
    kind = type(exc).__name__
    if isinstance(exc, (ValueError, TypeError, _ArgparseError)) and named:
        return "clear", f"{kind}: {msg}"
    if isinstance(exc, OSError) and named:
        return "clear", f"{kind}: {msg}"
    return "unclear", f"{kind}: {msg}"


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--module", default=None, help="only modules whose name starts with this")
    p.add_argument("-v", "--verbose", action="store_true", help="print every unclear / silent case")
    p.add_argument("--all", action="store_true", help="print every case, clear ones too")
    p.add_argument("--json", default=None, help="write every outcome to this file")
    p.add_argument("--memory-gib", type=float, default=8.0, help="address-space limit of this process")
    args = p.parse_args(argv)
    if args.memory_gib > 0:
        limit = int(args.memory_gib * (1 << 30))
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    os.environ.setdefault("JAX_PLATFORMS", "cpu")
    import warnings

    warnings.filterwarnings("ignore")

    for g in _GROUPS:
        try:
            g()
        except Exception as e:  # a module that cannot even be imported is reported, not fatal
            CASES.append((g.__name__.strip("_"), "import / fixtures", ("-",), functools.partial(_raise, e)))
    counts = OrderedDict()
    rows = []
    t0 = time.time()
    for module, label, names, thunk in CASES:
        if args.module and not module.startswith(args.module):
            continue
        exc = None
        start = time.time()
        try:
            with contextlib.redirect_stdout(io.StringIO()):
                thunk()
        except BaseException as e:  # noqa: BLE001 -- classifying every outcome is the point
            if isinstance(e, KeyboardInterrupt):
                raise
            exc = e
        outcome, msg = classify(exc, names)
        counts.setdefault(module, {"clear": 0, "unclear": 0, "silent": 0})[outcome] += 1
        rows.append(
            dict(
                module=module,
                case=label,
                argument=names[0],
                outcome=outcome,
                message=msg[:300],
                seconds=round(time.time() - start, 3),
            )
        )
        if args.all or (args.verbose and outcome != "clear"):
            print(f"  {outcome:7s} {module:32s} {label:48s} {msg[:150]}", flush=True)
    total = {"clear": 0, "unclear": 0, "silent": 0}
    print(f"\n{'module':34s} {'clear':>6s} {'unclear':>8s} {'silent':>7s}")
    for module, c in counts.items():
        print(f"{module:34s} {c['clear']:6d} {c['unclear']:8d} {c['silent']:7d}")
        for k in total:
            total[k] += c[k]
    print(
        f"{'TOTAL':34s} {total['clear']:6d} {total['unclear']:8d} {total['silent']:7d}"
        f"   ({sum(total.values())} cases, {time.time() - t0:.0f} s)"
    )
    if args.json:
        Path(args.json).write_text(json.dumps(dict(counts=counts, total=total, cases=rows), indent=1))
    return dict(counts=counts, total=total, cases=rows)


def _raise(e):
    raise e


if __name__ == "__main__":
    main()
