"""Bad-input sweep of the whole public API of jaxcnn (a tool, not a test: pytest does not collect it).

Every case calls one public function, module field or CLI argument the way a careless user
would, and the outcome is classified:

* clear   -- ValueError / TypeError whose message names the argument (a CLI's argparse error
             naming the flag counts too, as does an OSError naming a missing path);
* unclear -- any other exception, or a ValueError / TypeError whose message does not name it;
* silent  -- no error at all (the call returned something).

Run from the repository root (seconds on 2 CPU cores; nothing is compiled for a case that raises at
the boundary, modules are traced with ``jax.eval_shape``):

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
import inspect
import io
import json
import linecache
import os
import re
import resource
import shlex
import sys
import tempfile
import time
from collections import OrderedDict
from functools import partial
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

NAN, INF = float("nan"), float("inf")
CASES: list[tuple] = []  # (module, label, names, thunk, exc)
_GROUPS = []


class Kind(tuple):
    """Bad values, each with the class it must raise: ``V(...)`` wrong values (``ValueError``), ``T(...)``
    wrong types (``TypeError``); ``+`` joins them, ``.but(*values)`` leaves some out (by ``repr``)."""

    def __add__(self, other):
        return Kind(tuple(self) + tuple(other))

    def but(self, *values):
        drop = {repr(v) for v in values}
        return Kind(p for p in self if repr(p[0]) not in drop)


def V(*values) -> Kind:
    return Kind((v, ValueError) for v in values)


def T(*values) -> Kind:
    return Kind((v, TypeError) for v in values)


# The bad values of each kind of argument (those of jaxcnn.declared's rule of the same kind, and a few more).
POS_INT = V(0, -1) + T(2.0, 2.5, True, "3", None)  # sizes, counts, strides (declared.POSITIVE_INT)
NONNEG_INT = V(-1) + T(0.5, 2.0, True, "3")  # paddings, seeds, steps (declared.int_at_least(0))
ODD = V(0, 2, 4) + T(2.5, 3.0, True)  # kernel sizes with "same" padding (declared.ODD_KERNEL)
INT_PAIR = V(0, (1, 0)) + T(1.5, (1, 2, 3), True)  # an int or a pair, each >= 1 (declared.int_pair(1))
SIZES = V(0, (0, 1)) + T(2.0, (1.5, 1), True)  # an int or a tuple of them, each >= 1 (declared.SIZES)
PROB = V(NAN, -0.1, 1.5) + T("0.5", True)  # probabilities, rates (declared.PROBABILITY)
POS_NUM = V(NAN, INF, 0.0, -1.0) + T("1", True)  # a finite number > 0 (declared.POSITIVE_NUMBER)
NONNEG_NUM = V(NAN, INF, -1.0) + T("1", True)  # a finite number >= 0 (declared.number_in(0.0))
CHOICE = V("?", 1, None)  # one of some strings (declared.choice)
FLAG = T("no", 1, None)  # a bool (declared.FLAG)
CALLABLE = T(3, "relu", None)  # a function or module class (declared.CALLABLE)
NAME = T(3, "", None)  # a non-empty str (declared.NAME)
DTYPE = T("float33", "int32", 3)  # a floating dtype (declared.DTYPE)
AXIS = T(3, ("batch", 1), "")  # an axis name (declared.AXIS_NAME)
KEY = T(0, None, "key")  # a PRNG key


def group(module: str | None = None):
    """A function returning the rows of one module (see :func:`rows`; imports stay lazy and isolated)."""

    def register(fn):
        _GROUPS.append(functools.wraps(fn)(lambda: rows(module, fn() or [])))
        return fn

    return register


def call(fn, *args, **fixed):
    """``fn(*args, **fixed, **kw)`` as a function of ``kw``, named after ``fn``: the target of a keyword row."""

    def target(**kw):
        _binds(fn, *args, **{**fixed, **kw})
        return fn(*args, **{**fixed, **kw})

    return named(fn.__name__, target)


def _binds(fn, *args, **kwargs) -> None:
    """A keyword row that does not bind to ``fn``'s signature (an argument also given by position, a misspelt
    name) is the row's error, not the library's: a RuntimeError, which no case expects."""
    try:
        inspect.signature(fn).bind(*args, **kwargs)
    except TypeError as e:
        raise RuntimeError(f"sweep row does not fit {fn.__name__}: {e}") from None


def traced(cls, x, **fixed):
    """``cls(**fixed, **kw)`` traced on ``x`` (see :func:`init`), as a function of ``kw`` named after ``cls``."""
    return named(cls.__name__, lambda **kw: _binds(cls, **{**fixed, **kw}) or init(cls(**{**fixed, **kw}), x))


def applied(cls, x, **fixed):
    """``cls(**fixed, **kw).apply({}, x, deterministic=True)`` (a module without variables), named after ``cls``."""
    return named(
        cls.__name__,
        lambda **kw: _binds(cls, **{**fixed, **kw}) or cls(**{**fixed, **kw}).apply({}, x, deterministic=True),
    )


def named(name: str, fn):
    fn.__name__ = name
    return fn


def add(module: str, names, label: str | None, thunk, exc=None) -> None:
    """One case: ``thunk()`` must raise ``exc`` naming one of ``names``."""
    names = (names,) if isinstance(names, str) else tuple(names)
    CASES.append((module, label or _source(thunk), names, thunk, exc))


def rows(module: str | None, items) -> None:
    """Register a table: a class (``ValueError``, ``TypeError``, ...) sets the expected exception of the rows
    after it, a str the module. A row is one of

    * ``(names, [label,] thunk)``: one case;
    * ``(names, lambda v: ..., *values)``: one case per value, labelled by the lambda's source;
    * ``(target, "arg ...", *values)``: ``target(arg=value)`` for each argument and value (see :func:`call`).

    A value is a :class:`Kind`, standing for each of its values with its own class, or a bare value expecting
    the header's class."""
    exc = None
    for item in items:
        if isinstance(item, type):
            exc = item
        elif isinstance(item, str):
            module = item
        elif len(item) > 2 and (callable(item[0]) or callable(item[1])):
            keyword = callable(item[0])
            for name in item[1].split() if keyword else [item[0]]:
                for value in item[2:]:
                    for bad, e in value if isinstance(value, Kind) else [(value, exc)]:
                        if keyword:
                            add(module, name, f"{item[0].__name__} {name}={bad!r}", partial(item[0], **{name: bad}), e)
                        else:
                            label = re.sub(r"\bv\b", lambda _, b=bad: repr(b), _source(item[1]))
                            add(module, name, label, partial(item[1], bad), e)
        else:
            add(module, item[0], item[1] if len(item) == 3 else None, item[-1], exc)


def _source(thunk) -> str:
    """The source text of a lambda's body: the label of a row that gives none."""
    code = thunk.__code__
    pos = [p for p in code.co_positions() if None not in p and p[2:] != (0, 0)]
    first, last = min(p[0] for p in pos), max(p[1] for p in pos)
    text = "".join(linecache.getline(code.co_filename, n) for n in range(first, last + 1))
    start = min(p[2] for p in pos if p[0] == first)
    end = len(text) - len(linecache.getline(code.co_filename, last)) + max(p[3] for p in pos if p[1] == last)
    return " ".join(text[start:end].split())


# ----------------------------------------------------------------------------- shared fixtures


class _Arrays:
    """``jax.numpy`` whose array constructors build on the host and ``device_put`` (no XLA compile), so a
    case that makes its input inside the thunk compiles nothing before the library's check."""

    def __getattr__(self, name):
        import jax
        import jax.numpy as jnp
        import numpy as np

        def make(*args, **kwargs):
            out = getattr(np, name)(*args, **kwargs)
            return jax.device_put(out.astype(np.float32) if out.dtype == np.float64 else out)  # jnp's dtype

        if name in ("ones", "zeros", "full", "arange", "array"):
            return make
        return getattr(jnp, name)


@functools.cache
def fx():
    from types import SimpleNamespace

    import jax
    import numpy as np

    jnp = _Arrays()
    return SimpleNamespace(
        jax=jax,
        jnp=jnp,
        np=np,
        K=jax.random.key(0),
        X=jnp.ones((1, 8, 8, 4)),
        X3=jnp.ones((8, 8, 4)),
        XI=jnp.ones((2, 8, 8, 3), jnp.int32),
        IMG=np.zeros((12, 12, 3)),
    )


def init(model, x, **kwargs):
    """Trace (not compile) ``model.init`` and return the output's shape: silent cases stay cheap."""
    f = fx()
    rngs = {"params": f.K, "dropout": f.K}
    return f.jax.eval_shape(lambda: model.init_with_output(rngs, x, **kwargs)[0])


# ----------------------------------------------------------------------------- upsample


@group("upsample.interpolate")
def _interpolate():
    from jaxcnn.upsample import interpolate

    f = fx()
    X, jnp = f.X, f.jnp
    XL = jnp.ones((1, 1, 2**16, 1))
    I2 = call(interpolate, X, scale_factor=2)
    BL = call(interpolate, X, scale_factor=0.5, mode="bilinear")
    return [
        ("size", lambda v: interpolate(X, size=v), POS_INT.but(None), V(10**6, (4, 10**9), (0, 4), (4,), (2, 3, 4))),
        ("size", lambda v: interpolate(X, size=v), T(jnp.array([4, 4]), f.np.array([4, 4]))),
        ("scale_factor", lambda v: interpolate(X, scale_factor=v), POS_NUM, V(1e9, (1.0, 1e8), 0.01, (2, 2, 2), 0)),
        ("scale_factor", lambda v: interpolate(X, scale_factor=v), V(-2.0) + T(2j)),
        (I2, "mode", CHOICE, V("linear", "BILINEAR", ["bilinear"])),
        (BL, "align_corners antialias", FLAG.but(None), T("yes")),
        (BL, "antialias", T(None)),
        (I2, "recompute_scale_factor", FLAG.but(None)),
        (I2, "align_corners antialias", V(True)),
        ("x", lambda v: interpolate(f.jnp.ones(v), size=4), V((8, 8, 4), (1, 0, 4, 1))),
        ValueError,
        (("size", "scale_factor"), "both size and scale_factor", lambda: interpolate(X, size=4, scale_factor=2)),
        (("size", "scale_factor"), "neither", lambda: interpolate(X)),
        ("recompute_scale_factor", "recompute with size", lambda: interpolate(X, size=4, recompute_scale_factor=True)),
        ("x", "x with W=0, bilinear", lambda: interpolate(f.jnp.ones((1, 4, 0, 1)), size=4, mode="bilinear")),
        ("size", "bilinear matrix too big", lambda: interpolate(XL, size=(1, 2**16 - 1), mode="bilinear")),
        TypeError,
        ("x", "x a list", lambda: interpolate([[1.0]], size=4)),
        ("x", "x int, bilinear", lambda: interpolate(f.XI, size=4, mode="bilinear")),
        ("x", "x bool, bicubic", lambda: interpolate(f.jnp.ones((1, 4, 4, 1), bool), size=8, mode="bicubic")),
    ]


@group("upsample.unpool")
def _unpool():
    from jaxcnn.upsample import max_pool_with_indices, max_unpool

    f = fx()
    X = f.X
    Y, IDX = map(f.np.asarray, max_pool_with_indices(f.jnp.arange(64.0).reshape(1, 4, 4, 4), 2))  # host copies
    P, U = call(max_pool_with_indices, X, kernel_size=2), call(max_unpool, Y, indices=IDX, kernel_size=2)
    return [
        (P, "kernel_size", POS_INT, V(9), T((2, 2, 2))),
        (P, "stride", POS_INT.but(None)),
        (P, "padding", NONNEG_INT, V(2)),
        (P, "ceil_mode", FLAG),
        (U, "kernel_size", POS_INT),
        (U, "stride", POS_INT.but(None)),
        (U, "indices", V(IDX + 100, IDX - 100, [[0]], IDX[:, :1]) + T(IDX.astype(f.np.float32))),
        (U, "output_size", V((9, 4)) + T(4, (4.0, 4.0), (4,))),
        ValueError,
        ("x", "x 3-D", lambda: max_pool_with_indices(f.X3, 2)),
        ("y", "y 3-D", lambda: max_unpool(Y[0], IDX[0], 2)),
        (("kernel_size", "output"), lambda: max_unpool(Y, IDX, 10**5, padding=0)),
        (("stride", "output"), "unpool stride=10**5 (huge output)", lambda: max_unpool(Y, IDX, 2, stride=10**5)),
        TypeError,
        ("x", "x a list", lambda: max_pool_with_indices([[1.0]], 2)),
    ]


@group("upsample.transposed")
def _transposed():
    import jax

    from jaxcnn.upsample import ConvTranspose, conv_transpose

    f = fx()
    X, jnp = f.X, f.jnp
    Kn, KI = jnp.zeros((3, 3, 2, 4)), jnp.zeros((3, 3, 2, 4), jnp.int32)
    CT, M = call(conv_transpose, X, Kn), traced(ConvTranspose, X, features=4, kernel_size=3)
    return [
        (CT, "stride dilation", INT_PAIR),
        (CT, "stride", T(2.0)),
        (CT, "padding", NONNEG_INT, V(9)),
        (call(conv_transpose, X, Kn, stride=2), "output_padding", NONNEG_INT, V(2)),
        (CT, "groups", POS_INT, V(3)),
        (CT, "precision", V("best!", 3, (jax.lax.Precision.HIGH, "high"))),
        ("kernel", lambda v: conv_transpose(X, v), V(*map(jnp.zeros, [(3, 2, 4), (3, 3, 2, 5), (0, 3, 2, 4)]))),
        ("kernel", lambda v: conv_transpose(X, v), T([[1.0]], KI)),
        (M, "features kernel_size groups", POS_INT),
        (M, "stride", INT_PAIR),
        (M, "use_bias", FLAG),
        ValueError,
        (("stride", "output"), "stride=10**5 (huge output)", lambda: conv_transpose(X, Kn, stride=10**5)),
        (("dilation", "output"), "dilation=10**5 (huge output)", lambda: conv_transpose(X, Kn, dilation=10**5)),
        ("y", "y 3-D", lambda: conv_transpose(f.X3, Kn)),
        (("features", "groups"), "module features % groups", lambda: init(ConvTranspose(3, 3, groups=2), X)),
        ("y", "module y 3-D", lambda: init(ConvTranspose(2, 3), f.X3)),
        TypeError,
        ("y", "y int", lambda: conv_transpose(jnp.ones((1, 8, 8, 4), jnp.int32), KI)),
    ]


@group("upsample.subpixel")
def _subpixel():
    from jaxcnn.upsample import SubPixelConv, icnr, pixel_shuffle, pixel_unshuffle

    f = fx()
    X, jnp = f.X, f.jnp
    S = traced(SubPixelConv, X, features=1, scale=2)
    return [
        ("r", lambda v: pixel_shuffle(X, v), POS_INT),
        ("r", lambda v: pixel_unshuffle(X, v), POS_INT),
        ("r", lambda v: icnr(v), POS_INT),
        ("shape", lambda v: icnr(2)(f.K, v), V((3, 3, 4, 6), (3, 4, 8))),
        ("base_init", lambda v: icnr(2, v)(f.K, (3, 3, 4, 8)), CALLABLE, T("normal")),
        (S, "features scale", POS_INT),
        (S, "kernel_size", ODD),
        (S, "use_bias", FLAG),
        (S, "kernel_init", CALLABLE.but(None), T("icnr")),
        ValueError,
        (("x", "r"), "shuffle channels not divisible", lambda: pixel_shuffle(jnp.ones((1, 2, 2, 6)), 2)),
        ("x", "shuffle x 3-D", lambda: pixel_shuffle(jnp.ones((2, 2, 4)), 2)),
        (("x", "r"), "unshuffle H not divisible", lambda: pixel_unshuffle(jnp.ones((1, 3, 4, 1)), 2)),
        ("x", "unshuffle x 5-D", lambda: pixel_unshuffle(jnp.ones((1, 1, 4, 4, 1)), 2)),
        ("x", "SubPixelConv x 3-D", lambda: init(SubPixelConv(1, 2), f.X3)),
        TypeError,
        ("x", "shuffle x list", lambda: pixel_shuffle([[1.0]], 2)),
    ]


# ----------------------------------------------------------------------------- regularizers


@group("regularizers.cutout")
def _cutout():
    from jaxcnn.regularizers import Cutout, cutout

    f = fx()
    X, K, jnp = f.X, f.K, f.jnp
    XI = jnp.ones((2, 8, 8, 4), jnp.int32)
    XU8, XB = jnp.ones((2, 8, 8, 4), jnp.uint8), jnp.ones((2, 8, 8, 4), bool)
    CM = applied(Cutout, X, size=4)
    return [
        ("size", lambda v: cutout(K, X, v), POS_INT, V(2**40)),
        ("fill", lambda v: cutout(K, X, 4, fill=v), V(jnp.zeros(3)) + T("mean", None, [0.0, 0.0, 0.0, 0.0], True)),
        ("fill", lambda v: cutout(K, XI, 4, fill=v), V(0.5, jnp.full(4, 0.5), NAN)),
        ("key", lambda v: cutout(v, X, 4), KEY, V(f.jax.random.split(K, 2))),
        ("images", lambda v: cutout(K, v, 4), V(f.X3) + T([[1.0]])),
        (CM, "size", POS_INT),
        (CM, "rng_collection", NAME),
        (CM, "fill", T("mean")),
        ("deterministic", lambda v: Cutout(4).apply({}, X, deterministic=v), FLAG.but(None)),
        ValueError,
        ("fill", "fill=-1 on uint8 images (wraps)", lambda: cutout(K, XU8, 4, fill=-1)),
        ("fill", "fill 256 on uint8", lambda: cutout(K, XU8, 4, fill=256)),
        ("fill", "fill 2 on bool", lambda: cutout(K, XB, 4, fill=2)),
        ("dropout", "module training without the dropout rng", lambda: Cutout(4).apply({}, X, deterministic=False)),
        ("images", "module images 3-D", lambda: Cutout(4).apply({}, f.X3, deterministic=True)),
        TypeError,
        (
            "size",
            "Cutout size=2.5 (training)",
            lambda: Cutout(2.5).apply({}, X, deterministic=False, rngs={"dropout": K}),
        ),
    ]


@group("regularizers.dropblock")
def _dropblock():
    from jaxcnn.regularizers import DropBlock, drop_block, dropblock_gamma, scheduled_drop_rate

    f = fx()
    X, K, jnp = f.X, f.K, f.jnp
    DB = call(drop_block, K, X, drop_rate=0.1, block_size=3)
    G = call(dropblock_gamma, drop_rate=0.1, height=8, width=8, block_size=3)
    M, D1 = applied(DropBlock, X, drop_rate=0.1), DropBlock(0.1)
    return [
        ("x", lambda v: drop_block(K, v, 0.3, 3), V(f.X3) + T(f.XI, [[1.0]], jnp.ones((2, 8, 8, 3), jnp.uint8))),
        ("x", lambda v: drop_block(K, v, 0.3, 3), T(jnp.ones((2, 8, 8, 3), bool))),
        (DB, "drop_rate", PROB, V(jnp.float32(NAN), jnp.array([0.1, 0.2])), T(None)),
        (DB, "block_size", POS_INT),
        (DB, "gamma_rule seed_region", CHOICE),
        (DB, "gamma_rule", V("solve")),
        (DB, "seed_region", V("all", ["valid"])),
        (DB, "per_channel normalize", FLAG),
        ("key", lambda v: drop_block(v, X, 0.1, 3), KEY, T(jnp.zeros(2))),
        (G, "drop_rate", PROB),
        (G, "height width block_size", POS_INT),
        (G, "rule seed_region", CHOICE),
        ("step", lambda v: scheduled_drop_rate(v, 10, 0.1), NONNEG_NUM, V(jnp.arange(3)), T(None)),
        ("total_steps", lambda v: scheduled_drop_rate(3, v, 0.1), POS_INT),
        ("drop_rate", lambda v: scheduled_drop_rate(3, 10, v), PROB),
        (M, "drop_rate", PROB),
        (M, "block_size", POS_INT),
        (M, "gamma_rule", CHOICE),
        ("deterministic", lambda v: DropBlock(0.1).apply({}, X, deterministic=v), FLAG.but(None)),
        ValueError,
        ("drop_rate", "module call drop_rate 2", lambda: D1.apply({}, X, deterministic=True, drop_rate=2.0)),
        ("dropout", "module training without the dropout rng", lambda: D1.apply({}, X, deterministic=False)),
        TypeError,
        ("x", "DropBlock x int32", lambda: DropBlock(0.3, 3).apply({}, f.XI, deterministic=False, rngs={"dropout": K})),
    ]


@group("regularizers.stochastic_depth")
def _stochastic_depth():
    import flax.linen as nn

    from jaxcnn.regularizers import StochasticDepth, stochastic_depth, stochastic_residual, survival_probabilities

    f = fx()
    X, K, jnp = f.X, f.K, f.jnp

    def residual(**kw):
        """``stochastic_residual`` called from a module, ``kw`` overriding good arguments."""
        args = dict(module=None, branch_fn=lambda mdl, h: h, x=X, shortcut=X, survival_prob=0.8, deterministic=False)
        args.update(kw)

        class Host(nn.Module):
            @nn.compact
            def __call__(self, x):
                a = dict(args)
                module = a.pop("module") or self
                return stochastic_residual(module, a.pop("branch_fn"), a.pop("x"), a.pop("shortcut"), **a)

        return Host().apply({}, X, rngs={"dropout": K})

    X1 = jnp.ones((1, 8, 8, 1))
    SD = call(stochastic_depth, K, X, drop_rate=0.1)
    M, S3 = applied(StochasticDepth, X, drop_rate=0.1), StochasticDepth(0.3)
    R = named("stochastic_residual", residual)
    return [
        (SD, "drop_rate", PROB),
        (SD, "mode", CHOICE, V("col")),
        (SD, "scale_by_keep", FLAG),
        ("key", lambda v: stochastic_depth(v, X, 0.1), KEY),
        ("x", lambda v: stochastic_depth(K, f.XI, v), T(0.3, 0.0)),
        ("x", lambda v: stochastic_depth(K, v, 0.1), V(jnp.ones(())) + T([1.0, 2.0], jnp.ones((2, 8, 8, 3), bool))),
        ("num_blocks", lambda v: survival_probabilities(v), POS_INT),
        ("final_survival", lambda v: survival_probabilities(4, v), PROB, T(jnp.float32(0.5))),
        ("rule", lambda v: survival_probabilities(4, 0.5, v), CHOICE),
        (M, "drop_rate", PROB),
        (M, "mode test_rule", CHOICE),
        (M, "rng_collection", NAME),
        ("deterministic", lambda v: StochasticDepth(0.1).apply({}, X, deterministic=v), FLAG.but(None)),
        (R, "survival_prob", PROB),
        (R, "mode test_rule", CHOICE),
        (R, "module", T(5)),
        (R, "branch_fn", CALLABLE),
        (R, "shortcut", T([1.0], jnp.ones((1, 8, 8, 1), jnp.int32))),
        (R, "deterministic", FLAG),
        (R, "rng_collection", NAME),
        ValueError,
        ("x", "StochasticDepth x a scalar", lambda: StochasticDepth(0.1).apply({}, jnp.ones(()), deterministic=True)),
        ("branch_fn", "residual branch wider than shortcut, test", lambda: residual(shortcut=X1, deterministic=True)),
        ("dropout", "module training without the dropout rng", lambda: S3.apply({}, X, deterministic=False)),
        TypeError,
        ("x", lambda: StochasticDepth(0.5).apply({}, f.XI, deterministic=False, rngs={"dropout": K})),
        ("x", lambda: StochasticDepth(0.3, test_rule="paper").apply({}, f.XI, deterministic=True)),
    ]


# ----------------------------------------------------------------------------- metrics, utils


@group("metrics")
def _metrics():
    from jaxcnn.metrics import modcrop, psnr, psnr_y, rgb_to_y, shave

    f = fx()
    np, IMG = f.np, f.IMG
    G = np.zeros((8, 8))
    STR = np.array([["a", "b"], ["c", "d"]])
    PS = call(psnr, G, G + 1)
    return [
        ("scale", lambda v: modcrop(IMG, v), POS_INT),
        ("image", lambda v: modcrop(v, 2), V(np.zeros(5), np.zeros((1, 4, 4, 3)))),
        ("border", lambda v: shave(IMG, v), NONNEG_INT, V(6)),
        ("rgb", lambda v: rgb_to_y(v), V(G, np.zeros((4, 4, 4)), np.full((4, 4, 3), 200.0), np.full((4, 4, 3), NAN))),
        ("rgb", lambda v: rgb_to_y(np.zeros((4, 4, 3), v)), T(np.int32, np.uint16)),
        ("round", lambda v: rgb_to_y(np.zeros((4, 4, 3)), round=v), FLAG),
        (PS, "peak", POS_NUM, V(0)),
        (PS, "shave_border", NONNEG_INT, V(4)),
        ("scale", lambda v: psnr_y(G, G, v), POS_INT, V(4)),
        ValueError,
        (("image", "scale"), "modcrop image smaller than scale", lambda: modcrop(np.zeros((2, 2)), 3)),
        ("image", "shave image 1-D", lambda: shave(np.zeros(5), 1)),
        (("reference", "estimate"), "psnr shape mismatch", lambda: psnr(G, np.zeros((8, 9)))),
        ("reference", "psnr reference 1-D", lambda: psnr(np.zeros(8), np.zeros(8))),
        ("estimate", "psnr estimate 4-D", lambda: psnr(G, np.zeros((1, 8, 8, 1)))),
        ("reference_y", "psnr_y reference 3-channel", lambda: psnr_y(np.zeros((8, 8, 3)), np.zeros((8, 8, 3)), 2)),
        ("estimate_y", "psnr_y estimate RGB", lambda: psnr_y(G, np.zeros((8, 8, 3)), 2)),
        TypeError,
        ("reference", "psnr reference strings", lambda: psnr(STR, np.zeros((2, 2)))),
        ("image", "modcrop image str", lambda: modcrop(STR, 1)),
    ]


@group("utils")
def _utils():
    from jaxcnn import count_params

    return [("tree", lambda v: count_params(v), T(5, "abc", [[1, 2]], None, {"params": {"w": fx().X, "b": 1.0}}))]


# ----------------------------------------------------------------------------- layers, backend


@group("layers")
def _layers():
    from jaxcnn import layers
    from jaxcnn.layers import BatchNorm, Conv, avg_pool_ceil_exclude_pad, conv, global_avg_pool, max_pool_torch

    f = fx()
    X, jnp = f.X, f.jnp
    c = named("conv", lambda **kw: init(conv(**{"features": 4, **kw}), X))
    C = traced(Conv, X, features=4, kernel_size=(3, 3))
    MP, AP = call(max_pool_torch, X, window=3), call(avg_pool_ceil_exclude_pad, X, window=2)
    return [
        (c, "features stride groups dilation", POS_INT),
        (c, "kernel_size", ODD, T((3, 3))),
        (c, "stride", T((2, 2))),
        (c, "use_bias", FLAG),
        (c, "module", T(5)),
        ("kernel_init", lambda v: conv(4, kernel_init=v), T("kaiming")),
        (C, "features feature_group_count", POS_INT),
        (C, "kernel_size", V((0, 3)) + T((2.5, 3))),
        (C, "strides kernel_dilation input_dilation", SIZES),
        (C, "use_bias", FLAG),
        (traced(layers.WeightStandardizedConv, X, features=4, kernel_size=(3, 3)), "eps", POS_NUM),
        (BatchNorm, "momentum", PROB),
        (BatchNorm, "epsilon", POS_NUM, V(-1e-5)),
        (call(layers.conv_args, kernel_size=3), "kernel_size", ODD),
        (call(layers.conv_args, kernel_size=3), "stride groups dilation", POS_INT),
        (call(layers.make_divisible, value=10), "value", NONNEG_NUM, V(-1)),
        (call(layers.make_divisible, value=10), "divisor", POS_INT),
        (call(layers.make_divisible, value=10), "min_value", POS_INT.but(None)),
        (call(layers.torch_padding, kernel_size=3), "kernel_size", ODD),
        (call(layers.torch_padding, kernel_size=3), "dilation", POS_INT),
        (MP, "window stride", POS_INT),
        (call(max_pool_torch, X, window=3, stride=2), "padding", NONNEG_INT, V(5, 2)),
        ("x", lambda v: max_pool_torch(v), V(f.X3) + T([[1.0]])),
        (AP, "window", POS_INT, V(10)),
        (AP, "stride", POS_INT),
        ("x", lambda v: avg_pool_ceil_exclude_pad(jnp.ones(v)), V((8, 8, 4), (1, 0, 8, 4))),
        ("x", lambda v: global_avg_pool(jnp.ones(v)), V((8, 8, 4), (8, 4), (1, 0, 8, 4))),
        ("norm", lambda v: layers.make_norm(v), T(5)),
        ("zero_init", lambda v: layers.make_norm(BatchNorm, zero_init=v), FLAG),
        ("train", lambda v: layers.batch_norm(v), FLAG.but(None)),
        ("zero_init", lambda v: layers.batch_norm(True, zero_init=v), FLAG),
        ValueError,
        ("groups", "conv groups=3 on 4 channels", lambda: init(conv(6, groups=3), X)),
        ("groups", "Conv feature_group_count=3 on 4 channels", lambda: C(features=6, feature_group_count=3)),
        ("feature_group_count", "Conv feature_group_count 3 on 4", lambda: C(features=6, feature_group_count=3)),
        ("window", "max_pool_torch window=11 > padded input", lambda: max_pool_torch(X, 11, 1, 1)),
        TypeError,
        ("name", "conv name=5", lambda: conv(4, name=5)),
        ("inputs", "Conv inputs a list", lambda: Conv(4, (3, 3)).init(f.K, [[1.0]])),
        ("x", "global_avg_pool x a list", lambda: global_avg_pool([[1.0]])),
    ]


@group()
def _backend():
    import flax.linen as nn

    from jaxcnn import xla_cpu as xc

    f = fx()
    X, jnp = f.X, f.jnp
    Kc = jnp.ones((3, 3, 4, 2))
    G, G3 = jnp.ones((1, 8, 8, 2)), jnp.ones((8, 8, 2))
    dn = ("NHWC", "HWIO", "NHWC")
    P1 = ((1, 1), (1, 1))

    def cgc(*args, rhs=Kc, **kw):
        return xc.canonical_grad_conv(X, rhs, *args, dimension_numbers=dn, **{"weight_grad": "gemm", **kw})

    class Block(nn.Module):
        @nn.compact
        def __call__(self, x, train=False):
            return x

    ident = lambda x: x  # noqa: E731
    WG = call(xc.weight_grad_gemm, X, G, kernel_hw=(3, 3), strides=(1, 1), padding=P1, dilation=(1, 1))
    return [
        "canonical_conv",
        ("window_strides", lambda v: cgc(v, "SAME"), V((0, 0), (1,)) + T((1.5, 1), 1)),
        ("padding", lambda v: cgc((1, 1), v), V("BOGUS", ((1, 1),)) + T(((0.5, 1), (1, 1)), 1)),
        (traced(xc.CanonicalGradConv, X, features=4, kernel_size=(3, 3)), "strides", SIZES),
        (traced(xc.GemmGradConv, X, kernel_size=(3, 3)), "features", POS_INT),
        (WG, "strides dilation", V((0, 1))),
        (WG, "groups", V(3)),
        (WG, "kernel_hw padding", T(3, 1)),
        ("control_flow", lambda v: xc.default_conv(v), FLAG),
        ValueError,
        ("weight_grad", "weight_grad='x'", lambda: cgc((1, 1), "SAME", weight_grad="x")),
        ("rhs_dilation", "rhs_dilation=(0, 1)", lambda: cgc((1, 1), P1, rhs_dilation=(0, 1))),
        ("feature_group_count", "feature_group_count=0", lambda: cgc((1, 1), P1, feature_group_count=0)),
        ("rhs", "rhs channels mismatch", lambda: cgc((1, 1), "SAME", rhs=jnp.ones((3, 3, 5, 2)))),
        ("window_strides", lambda: xc.gemm_grad_conv(X, Kc, (0, 1), P1, dimension_numbers=dn)),
        ("g", "weight_grad_gemm g 3-D", lambda: xc.weight_grad_gemm(X, G3, (3, 3), (1, 1), P1, (1, 1))),
        TypeError,
        ("lhs_dilation", "lhs_dilation=(1.5, 1)", lambda: cgc((1, 1), P1, lhs_dilation=(1.5, 1))),
        "remat",
        ("fun", lambda v: xc.tied_checkpoint(v), CALLABLE),
        (call(xc.tied_checkpoint, ident), "static_argnums", V(-1) + T(1.5)),
        (call(xc.tied_checkpoint, ident), "tie_argnums", T("0")),
        ("target", lambda v: xc.remat(v), CALLABLE, T("block", int)),
        ("target", lambda v: xc.block_remat(v), CALLABLE, T("block")),
        (call(xc.remat, Block), "static_argnums", V(0) + T((2.5,))),
        (call(xc.block_remat, Block), "static_argnums", T(1.5)),
        ValueError,
        ("static_argnums", lambda: xc.tied_checkpoint(ident, static_argnums=(3,))(X)),
        ("tie_argnums", "tied_checkpoint tie_argnums=(7,)", lambda: xc.tied_checkpoint(ident, tie_argnums=(7,))(X)),
        ("tie_argnums", lambda: xc.tied_checkpoint(lambda x, n: x, static_argnums=1, tie_argnums=(0, 1))),
    ]


# ----------------------------------------------------------------------------- blocks, models


@group("blocks")
def _blocks():
    from jaxcnn import blocks as b

    f = fx()
    X, X3 = f.X, f.X3
    DSC, BB = traced(b.DepthwiseSeparableConv, X, features=16), traced(b.BasicBlock, X, features=4)
    BN, IR = traced(b.BottleneckBlock, X, features=4), traced(b.InvertedResidual, X, features=4)
    TRAIN = dict(drop_path_rate=0.1)
    trained = lambda cls: named(f"{cls.__name__}(train)", lambda **kw: init(cls(4, **TRAIN, **kw), X, train=True))  # noqa: E731
    ZP = call(b.zero_pad_shortcut, X, out_features=8, stride=1)
    return [
        (ZP, "stride", POS_INT),
        (ZP, "out_features", POS_INT, V(2)),
        ("x", lambda v: b.zero_pad_shortcut(v, 8, 2), V(X3) + T([[1.0]])),
        (DSC, "features strides", POS_INT),
        (DSC, "kernel_size", ODD),
        (DSC, "act norm", CALLABLE),
        (DSC, "norm", T("bn")),
        ("train", lambda v: init(b.DepthwiseSeparableConv(16), X, train=v), FLAG),
        (BB, "features strides", POS_INT),
        (BB, "shortcut_type", CHOICE, V("E", "b")),
        (BB, "drop_path_rate", PROB),
        (BB, "zero_init_last_bn", FLAG),
        (BB, "conv norm act", CALLABLE.but(None)),
        (BB, "norm act", T(None)),
        (BB, "conv", T("x")),
        (BB, "bn_axis_name", AXIS),
        (BB, "drop_path_mode drop_path_test_rule", V("x")),
        (trained(b.BasicBlock), "drop_path_mode drop_path_test_rule", V("x")),
        (trained(b.InvertedResidual), "drop_path_mode drop_path_test_rule", V("x")),
        (IR, "drop_path_mode", V("x")),
        ("train", lambda v: init(b.BasicBlock(4), X, train=v), FLAG),
        (BN, "groups", POS_INT),
        (BN, "base_width", POS_INT, V(8)),
        (BN, "se_reduction", POS_INT.but(None), V(32)),
        (BN, "stride_on_3x3", FLAG),
        (traced(b.PreActBottleneckBlock, X, features=4), "groups", POS_INT),
        (traced(b.ResNeXtBottleneck, X, features=4), "groups", POS_INT),
        (IR, "features", POS_INT),
        (IR, "expand_ratio", POS_NUM, V(0, -1)),
        (IR, "strides", POS_INT, V(3)),
        (IR, "drop_path_rate", PROB),
        (IR, "act", CALLABLE),
        ("train", lambda v: init(b.InvertedResidual(4), X, train=v), FLAG),
        (traced(b.SqueezeExcite, X, reduction=2), "reduction", POS_INT, V(8)),
        (traced(b.SqueezeExcite, X, reduction=2), "act", CALLABLE),
        (traced(b.ResNeXtBranches, X, features=4), "groups", POS_INT),
        (traced(b.ResNeXtBranches, X, features=64, groups=2), "stride_on_3x3", FLAG),
        ValueError,
        ("zero_init_last_bn", lambda: init(b.PreActBasicBlock(4, zero_init_last_bn=True), X)),
        ("zero_init_last_bn", lambda: init(b.PreActBottleneckBlock(4, zero_init_last_bn=True), X)),
        ("base_width", lambda: init(b.PreActBottleneckBlock(4, base_width=8), X)),
        ("base_width", lambda: init(b.ResNeXtBottleneck(4), X)),
        (("features", "base_width"), lambda: init(b.ResNeXtBranches(4, groups=3, base_width=4), X)),
        ("features", "bottleneck width 0", lambda: b.BottleneckBlock(4, base_width=8)),
        ("features", "preact bottleneck width 0", lambda: b.PreActBottleneckBlock(4, base_width=8)),
        ("features", "resnext width 0 (defaults)", lambda: b.ResNeXtBottleneck(4)),
        ("x", "DepthwiseSeparableConv x 3-D", lambda: init(b.DepthwiseSeparableConv(16), X3)),
        ("x", "BasicBlock x 3-D", lambda: init(b.BasicBlock(4), X3)),
        ("x", "InvertedResidual x 3-D", lambda: init(b.InvertedResidual(4), X3)),
        ("x", "SqueezeExcite x 3-D", lambda: init(b.SqueezeExcite(2), X3)),
    ]


@group("models")
def _models():
    import flax.linen as nn
    import jax

    from jaxcnn import models
    from jaxcnn.blocks import PreActBasicBlock
    from jaxcnn.models import ESPCN, MobileNetV2, ResNet, create_model, espcn

    f = fx()
    jnp = f.jnp
    C, L = jnp.ones((1, 32, 32, 3)), jnp.ones((1, 8, 8, 1))
    tiny = dict(stage_sizes=(1, 1), widths=(8, 16), stem="cifar", num_classes=10)
    # block options (groups, shortcut, conv, ...) as create_model takes them: it moves them into block_args
    R = named("ResNet", lambda **kw: init(create_model("resnet18", **dict(tiny, **kw)), C))
    RB = named("ResNet(block='bottleneck')", lambda **kw: R(block="bottleneck", **kw))
    M, E = traced(MobileNetV2, C, num_classes=10), traced(ESPCN, L)
    w = {"w": f.np.zeros((2, 3))}
    stacked = {"params": {"layer1_0": w, "layer1_rest": {"block": w}}}  # stage 1: 3 blocks (2 stacked)
    flat = {"params": {"layer1_0": w, "layer1_1": w, "layer1_2": w}}
    ZI = dict(zero_init_last_bn=True)
    EMPTY, L2 = jnp.ones((0, 8, 8, 3)), {"params": {"layer2_0": w}}

    class MyPreAct(PreActBasicBlock):  # a user's pre-activation block: preact is inherited
        pass

    return [
        ("num_classes", lambda v: init(create_model("cifar_resnet20", num_classes=v), C), POS_INT),
        ("name", lambda v: create_model(v), V("resnet7") + T(None)),
        ("name", lambda v: models.default_input_shape(v), V("resnet7") + T(None)),
        ("batch", lambda v: models.default_input_shape("resnet18", batch=v), POS_INT),
        ("foo", lambda v: create_model(v, foo=1), T("cifar_resnet20", "espcn")),
        ("name", lambda v: models.register(v, ResNet), NAME, T(5)),
        ("factory", lambda v: models.register("mine", v), CALLABLE),
        (R, "stage_sizes", V((0, 1)) + T((1.5, 1), 2)),
        (R, "widths", V((0, 16)) + T((8.0, 16))),
        (R, "block", V("x", nn.Dense, 5)),
        (R, "stem", V("x") + T(5)),
        ("shortcut_type", lambda v: R(shortcut=v), CHOICE, V("E", "b")),
        (R, "num_classes", POS_INT),
        (R, "in_channels", POS_INT, V(1)),
        (R, "drop_path_rate drop_block_rate", PROB),
        (R, "scan_stages remat zero_init_last_bn", FLAG),
        (R, "bn_axis_name", AXIS),
        (R, "dtype", DTYPE, T(jnp.int32)),
        (R, "conv norm act", CALLABLE.but(None)),
        (R, "norm act", T(None)),
        (R, "conv", T("x")),
        (R, "drop_path_rule drop_path_mode drop_path_test_rule", V("x")),
        ("drop_block_size", lambda v: R(drop_block_rate=0.1, drop_block_size=v), POS_INT),
        ("drop_block_stages", lambda v: R(drop_block_rate=0.1, drop_block_stages=v), V((7,), (0,)) + T(2, (2.0,))),
        (RB, "groups base_width se_reduction", POS_INT.but(None)),
        (RB, "groups base_width", T(None)),
        (RB, "base_width", V(1)),
        (RB, "stride_on_3x3", FLAG),
        ("x", lambda v: init(ResNet(**tiny), v), V(jnp.ones((1, 3, 32, 32)), jnp.ones((32, 32, 3))) + T([[1.0]])),
        ("train", lambda v: init(ResNet(**tiny), C, train=v), FLAG),
        ("train", lambda v: init(ResNet(**tiny), C, train=v, method="features"), FLAG),
        (M, "drop_path_rate dropout_rate", PROB),
        (M, "width_mult", POS_NUM, V(0)),
        (M, "num_classes in_channels", POS_INT),
        (M, "in_channels", V(1)),
        (M, "settings", V(((1, 16, 0, 1),), ((1, 16),), (), ((0.5, 16, 1, 1),), ((1, 16, 1, 0),))),
        (M, "settings", T(((1, 16.0, 1, 1),), 5)),
        (M, "bn_axis_name", AXIS),
        (M, "dtype", DTYPE, T(jnp.int32)),
        (M, "conv norm act", CALLABLE.but(None)),
        (M, "norm act", T(None)),
        (M, "drop_path_mode drop_path_test_rule", V("x")),
        ("train", lambda v: init(MobileNetV2(10), C, train=v), FLAG),
        (E, "kernel_sizes", V((4, 3, 3), (5, 3), (5, 0, 3)) + T((5.0, 3, 3))),
        (E, "scale channels", POS_INT),
        (E, "channels", V(3)),
        (E, "widths", V((0, 32), (64,)) + T((64.0, 32))),
        (E, "act", CALLABLE),
        (E, "use_icnr", FLAG),
        (E, "dtype", DTYPE),
        (espcn, "scale channels", POS_INT),
        ("stage_sizes", lambda v: models.scan_to_unrolled(stacked, v), V((4,), (1,), (3, 2))),
        ("stage_sizes", lambda v: models.unrolled_to_scan(flat, v), V((0,), (2,), (4,)) + T((2.0,), (3.0,))),
        ("variables", lambda v: models.unrolled_to_scan(v, (3,)), T(5, {"params": 5})),
        ValueError,
        ("scale", "create_model('espcn', scale=0)", lambda: create_model("espcn", scale=0)),
        ("drop_path_rule", "ResNet drop_path_rule='x' at rate 0.1", lambda: R(drop_path_rate=0.1, drop_path_rule="x")),
        ("drop_path_rule", "MobileNetV2 drop_path_rule='x'", lambda: M(drop_path_rate=0.1, drop_path_rule="x")),
        ("zero_init_last_bn", lambda: create_model("preact_resnet18", zero_init_last_bn=True)),
        ("stage_sizes", "ResNet stage_sizes=()", lambda: R(stage_sizes=(), widths=())),
        (("widths", "stage_sizes"), "ResNet widths shorter than stages", lambda: R(widths=(8,))),
        ("x", lambda: init(ResNet(**tiny), jnp.ones((0, 32, 32, 3)), train=True)),
        ("block_args", lambda: init(ResNet(**tiny, block_args=dict(groups=2)), C)),
        (
            "dropout",
            "ResNet drop_path_rate=0.5 trained without the dropout rng",
            lambda: jax.eval_shape(
                lambda v: ResNet(**tiny, drop_path_rate=0.5).apply(v, C, train=True, mutable=["batch_stats"]),
                jax.eval_shape(lambda: ResNet(**tiny).init(f.K, C)),
            ),
        ),
        ("zero_init_last_bn", lambda: R(zero_init_last_bn=True, block="preact_basic", stem="preact_cifar")),
        ("zero_init_last_bn", lambda: R(zero_init_last_bn=True, block="preact_bottleneck", stem="preact_cifar")),
        ("zero_init_last_bn", "ResNet preact subclass", lambda: R(block=MyPreAct, block_args=ZI)),
        ("drop_block_stages", lambda: create_model("cifar_resnet20", drop_block_rate=0.1)),
        ("scan_stages", "ResNet scan_stages with drop_path_rate", lambda: R(scan_stages=True, drop_path_rate=0.1)),
        ("x", "ESPCN 3-D x", lambda: init(ESPCN(), jnp.ones((8, 8, 1)))),
        ("stage_sizes", "scan_to_unrolled stage_sizes=(0,)", lambda: models.scan_to_unrolled({"params": {}}, (0,))),
        ("stage_sizes", "scan_to_unrolled missing stage", lambda: models.scan_to_unrolled(L2, (3,))),
        ("features", "create_model base_width 1", lambda: create_model("resnet50", widths=(8,) * 4, base_width=1)),
        ("x", "x empty batch in training", lambda: init(ResNet(**tiny), EMPTY, train=True)),
        ("x", "mbv2 x empty batch in training", lambda: init(MobileNetV2(10), EMPTY, train=True)),
        TypeError,
        ("groups", "ResNet groups=2 on a basic block", lambda: R(groups=2)),
        ("se_reduction", "ResNet se_reduction on a basic block", lambda: R(se_reduction=4)),
        ("variables", "scan_to_unrolled variables=5", lambda: models.scan_to_unrolled(5, (1, 1))),
    ]


@group("nnx")
def _nnx():
    from flax import nnx as fnnx

    from jaxcnn import nnx

    rngs = fnnx.Rngs(0)  # Rngs(0) compiles: built before the cases
    return [
        ValueError,
        ("name", "nnx.create_model unknown name", lambda: nnx.create_model("resnet7", rngs=rngs)),
        (call(nnx.create_model, "espcn", rngs=rngs), "input_shape", V((1, 8, 8), (1, 0, 8, 1), (1, 8, 8, 3))),
        ("num_classes", lambda: nnx.create_model("cifar_resnet20", rngs=fnnx.Rngs(0), num_classes=0)),
        TypeError,
        ("rngs", "nnx.create_model rngs=0", lambda: nnx.create_model("espcn", rngs=0)),
        ("module", "nnx.LinenModel module=5", lambda: nnx.LinenModel(5, (1, 8, 8, 1), rngs=fnnx.Rngs(0))),
        ("model", "nnx.load_variables model=5", lambda: nnx.load_variables(5, {"params": {}})),
        ("model", "nnx.linen_variables model=5", lambda: nnx.linen_variables(5)),
    ]


# ----------------------------------------------------------------------------- identities, analysis


@group("identities")
def _identities():
    from jaxcnn import identities as ids

    np = fx().np
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
    lin = lambda x: 2.0 * x  # noqa: E731
    CM, CF = call(ids.conv_matrix, k, in_hw=(6, 6)), call(ids.conv_transpose_closed_form, y, k)
    # valid by decision (not listed): conv_matrix in_hw=4 and insert_zeros stride=2 read an int as a
    # pair, like torch's _pair and every stride/padding argument here
    return [
        (CM, "stride dilation in_hw", INT_PAIR),
        (CM, "padding", NONNEG_INT),
        (CM, "in_hw", V((0, 4), (2, 2)) + T((4.5, 4), (4, 4, 4))),
        (CM, "groups", POS_INT, V(3)),
        (CM, "out_hw", V((0, 0), (9, 9))),
        ("kernel", lambda v: ids.conv_matrix(v, (6, 6)), V(np.ones((3, 3, 2))) + T("k")),
        (CF, "stride", INT_PAIR),
        (CF, "groups", POS_INT),
        (CF, "padding", NONNEG_INT, T((1, 1.5))),
        (CF, "output_padding", V(1)),
        ("y", lambda v: ids.conv_transpose_closed_form(v, k), V(y[0], np.ones((1, 0, 4, 4))) + T("y")),
        (call(ids.conv_transpose_matrix, y, k), "stride", INT_PAIR),
        (call(ids.conv_transpose_zero_insertion, y, k), "stride dilation", INT_PAIR),
        (call(ids.conv_transpose_lax, y, k), "stride", INT_PAIR),
        (call(ids.conv_transpose_torch, y, k), "stride", INT_PAIR),
        (call(ids.conv_transpose_torch, y, k), "dtype", V("float8")),
        ("stride", lambda v: ids.insert_zeros(y, v), INT_PAIR, V((0, 0)) + T((1.5, 1), (2, 2, 2))),
        ("y", lambda v: ids.insert_zeros(v, 2), V(y[0], np.ones((1, 0, 3, 1))) + T(["a"])),
        ("groups", lambda v: ids.grouped_to_branches(block, v), POS_INT, V(2, 3)),
        (call(ids.conv_transpose_forms, y, k), "include_torch", FLAG.but(None)),
        (call(ids.conv_transpose_forms, y, k, include_torch=False), "stride", INT_PAIR),
        ("linear_fn", lambda v: ids.adjoint_gap(v, np.ones(3), np.ones(3)), CALLABLE),
        ("linear_fn", lambda v: ids.transpose_of(v, np.ones(3)), CALLABLE, T("f")),
        ValueError,
        ("y", "conv_transpose_matrix y 3-D", lambda: ids.conv_transpose_matrix(y[0], k)),
        ("kernel", "closed_form kernel 3-D", lambda: ids.conv_transpose_closed_form(y, k[0])),
        ("y", "lax y 3-D", lambda: ids.conv_transpose_lax(y[0], k)),
        ("groups", "grouped_to_branches groups=0", lambda: ids.grouped_to_branches({"params": {}}, 0)),
        ("variables", lambda: ids.grouped_to_branches({"params": {"stem": {}}}, 2)),
        ("reference", "max_disagreement reference missing", lambda: ids.max_disagreement({"a": np.zeros(2)}, "vjp")),
        ("results", "max_disagreement results={}", lambda: ids.max_disagreement({}, "vjp")),
        ("results", lambda: ids.max_disagreement({"vjp": np.zeros((2, 2)), "a": np.zeros(2)})),
        ("y", "conv_transpose_forms y 3-D", lambda: ids.conv_transpose_forms(y[0], k, include_torch=False)),
        ("y", "adjoint_gap y of another shape", lambda: ids.adjoint_gap(lin, np.ones((2, 3)), np.ones((3, 2)))),
        TypeError,
        ("variables", "grouped_to_branches variables=5", lambda: ids.grouped_to_branches(5, 2)),
        ("reference", "max_disagreement reference=None", lambda: ids.max_disagreement({"vjp": np.zeros(2)}, None)),
        ("results", "max_disagreement results a list", lambda: ids.max_disagreement([np.zeros(2)], "vjp")),
        ("strides", lambda: ids.conv_transpose_forms(y, k, include_torch=False, strides=2)),
        ("x", "adjoint_gap x a str", lambda: ids.adjoint_gap(lin, "x", np.ones(3))),
        ("x_example", "transpose_of x_example=None", lambda: ids.transpose_of(lin, None)),
    ]


@group("analysis")
def _analysis():
    import jax

    from jaxcnn import analysis as an
    from jaxcnn.analysis import measured, receptive_field
    from jaxcnn.analysis.complexity import count_macs, model_complexity, xla_flops
    from jaxcnn.analysis.measured import measured_receptive_field, positive_variables
    from jaxcnn.models import ResNet

    f = fx()
    jnp, np = f.jnp, f.np
    fn = lambda x: x[:, 1:, 1:, :] + x[:, :-1, :-1, :]  # noqa: E731
    net = ResNet(stage_sizes=(1, 1), widths=(8, 16), stem="cifar", num_classes=10)
    S, S32 = (1, 8, 8, 1), (1, 32, 32, 3)
    WHILE = lambda x: jax.lax.while_loop(lambda c: c[1] < 3, lambda c: (2 * c[0], c[1] + 1), (x, 0))[0]  # noqa: E731
    VARS = {"params": {"conv": {"kernel": np.ones((3, 3, 1, 1)), "bias": np.ones(1)}}}
    MRF, ERF = call(measured_receptive_field, fn, S), call(measured.effective_receptive_field, fn, S)
    PV = call(positive_variables, {"params": {}})
    return [
        ("input_shape", lambda v: receptive_field(fn, v), V((8, 8), (1, 0, 8, 1)), T((1, 8.5, 8, 1), 8, (1, True))),
        ("f", lambda v: receptive_field(v, S), CALLABLE),
        ("f", lambda v: an.layerwise_receptive_fields(v, S), CALLABLE),
        ("input_shape", lambda v: model_complexity(net, v), V((32, 32, 3), (1, 0, 32, 3)) + T((1, 32.0, 32, 3))),
        (call(model_complexity, net, S32), "method", CHOICE.but(1), V("nope"), T(5)),
        ("model", lambda v: model_complexity(v, S32), T("resnet18", None)),
        ("f", lambda v: count_macs(v, jnp.ones(3)), CALLABLE),
        ("f", lambda v: xla_flops(v, jnp.ones(3)), CALLABLE),
        ("model", lambda v: an.model_receptive_fields(v), T("resnet18")),
        ("model", lambda v: an.model_function(v, S32), T(5)),
        (MRF, "num_samples", POS_INT),
        (MRF, "unit", V((99, 99)) + T((1.5, 2), 3)),
        ("input_shape", lambda v: measured_receptive_field(fn, v), V((2, 8, 8, 1)) + T((1, 8.5, 8, 1))),
        (MRF, "key", KEY.but(0), T(1.5)),
        (MRF, "dtype", DTYPE, T(jnp.int32, "nope")),
        ("f", lambda v: measured_receptive_field(v, S), CALLABLE),
        (ERF, "num_samples batch", POS_INT),
        (ERF, "key", KEY.but(0)),
        (ERF, "unit", V((0,))),
        ("f", lambda v: measured.input_gradient(v, jnp.ones(S)), CALLABLE),
        (PV, "bn_scale", POS_NUM, V(0), T("0.5")),
        (PV, "seed", NONNEG_INT),
        ValueError,
        ("f", "count_macs f with a while loop", lambda: count_macs(WHILE, jax.ShapeDtypeStruct((3,), jnp.float32))),
        ("f", "rf f with an fft", lambda: receptive_field(lambda x: jnp.fft.fft2(x).real, S)),
        ("input_shape", "layerwise input_shape=(1, 8, 8)", lambda: an.layerwise_receptive_fields(fn, (1, 8, 8))),
        ("method", lambda: an.model_receptive_fields(net, S32, method="nope")),
        ("input_shape", "model_receptive_fields 2-D input_shape", lambda: an.model_receptive_fields(net, (32, 32))),
        TypeError,
        ("method", lambda: an.model_function(net, S32, method=["features"])),
        ("unit", "input_gradient unit=(0.5, 0)", lambda: measured.input_gradient(fn, jnp.ones(S), unit=(0.5, 0))),
        ("variables", "positive_variables variables=5", lambda: positive_variables(5)),
        ("bn_scale", "positive bn_scale str", lambda: positive_variables(VARS, bn_scale="0.5")),
    ]


# ----------------------------------------------------------------------------- train


@group("train.data")
def _train_data():
    import numpy as np

    from jaxcnn.train import data as d
    from jaxcnn.train.data import Dataset, Split, load_dataset

    imgs = np.zeros((20, 8, 8, 3), np.uint8)
    labels = np.arange(20) % 4
    ds = Dataset("t", Split(imgs, labels), Split(imgs, labels), 4, (0.5, 0.5, 0.5), (0.25, 0.25, 0.25))
    M3, S3 = (0.5,) * 3, (0.2,) * 3
    BI = call(d.batch_indices, n=10, batch_size=2, step=0, seed=0)
    AU = call(d.augment, imgs, seed=0, step=0)
    SS = call(d.stratified_split, labels, n_train=4, n_test=4)
    TB = call(d.train_batch, ds, batch_size=4, step=0, seed=0)
    return [
        ("std", lambda v: d.normalize(imgs, M3, v), V((0.0,) * 3, (0.2, 0.2), (-0.2,) * 3)),
        ("mean", lambda v: d.normalize(imgs, v, S3), V((NAN,) * 3) + T("0.5")),
        ("images", lambda v: d.normalize(v, M3, S3), V(imgs[0]) + T(imgs.astype(np.float32))),
        (BI, "n batch_size", POS_INT),
        (BI, "batch_size", V(11)),
        (BI, "step seed", NONNEG_INT),
        (AU, "pad", NONNEG_INT, V(20, 8)),
        (AU, "seed step", NONNEG_INT),
        (SS, "n_train n_test seed", NONNEG_INT),
        ("name", lambda v: load_dataset(v), CHOICE, V("imagenet22k")),
        (TB, "batch_size", POS_INT, V(100)),
        (TB, "step", NONNEG_INT),
        (TB, "augmentation", FLAG),
        ("batch_size", lambda v: d.eval_batches(ds, v), POS_INT),
        ("batch_size", lambda v: list(d.eval_batches(ds, v)), V(0, -1)),
        ValueError,
        ("mean", lambda: d.normalize(np.zeros((2, 4, 4, 1), np.uint8), M3, S3)),
        (("n_train", "n_test"), "stratified_split more than available", lambda: d.stratified_split(labels, 15, 10)),
        ("labels", "stratified_split labels 2-D", lambda: d.stratified_split(labels[:, None], 4, 4)),
        (("data_dir", "/nonexistent"), lambda: load_dataset("cifar10", data_dir="/nonexistent")),
        ("data_dir", "load_dataset missing data_dir", lambda: load_dataset("mnist", "/nonexistent")),
        ("n_train", "load_dataset n_train=0 (would mean default)", lambda: load_dataset("mnist", "/tmp", n_train=0)),
        ("images", "augment images 3-D", lambda: d.augment(imgs[0], 0, 0)),
        ("images", "Split images 3-D", lambda: Split(imgs[0], labels)),
        (("images", "labels"), "Split length mismatch", lambda: Split(imgs, labels[:5])),
        ("num_classes", lambda: Dataset("t", Split(imgs, labels), Split(imgs, labels), 0, M3, S3)),
        ("mean", lambda: Dataset("t", Split(imgs, labels), Split(imgs, labels), 4, (0.5,), S3)),
        TypeError,
        ("ds", "eval_batches ds=None", lambda: d.eval_batches(None, 4)),
        ("n_test", "load_dataset n_test=2.5", lambda: load_dataset("mnist", "/tmp", n_test=2.5)),
        ("data_dir", "load_dataset data_dir=5", lambda: load_dataset("mnist", 5)),
        ("images", "normalize images list", lambda: d.normalize([[1]], (0.5,), (0.2,))),
        ("ds", "train_batch ds=dict", lambda: d.train_batch({"train": None}, 4, 0, 0)),
        ("train", "Dataset train=None", lambda: Dataset("t", None, Split(imgs, labels), 4, M3, S3)),
    ]


@group()
def _train():
    import numpy as np
    from jax.sharding import Mesh

    from jaxcnn import train
    from jaxcnn.train import classification_loss, make_eval_step, make_optimizer, make_train_step, regression_loss
    from jaxcnn.train import parallel as p

    _state()  # built (and compiled) once, before the cases
    f = fx()
    jnp, jit = f.jnp, f.jax.jit
    logits, L4 = jnp.zeros((4, 10)), jnp.zeros(4, jnp.int32)
    image, P = jnp.ones((2, 4, 4, 1)), jnp.zeros((2, 4, 4, 1))
    B21 = {"image": image, "label": jnp.zeros((2, 1), jnp.int32)}
    B2 = {"image": image, "label": jnp.zeros(2, jnp.int32)}
    TS, ES, O = make_train_step, make_eval_step, call(make_optimizer, learning_rate=0.1)
    CS = named("create_train_state", lambda **kw: _state(**kw))
    return [
        "train.steps",
        ("labels", lambda v: classification_loss(logits, v), V(jnp.zeros((4, 1), jnp.int32), jnp.zeros(3, jnp.int32))),
        ("labels", lambda v: classification_loss(logits, v), V(jnp.full(4, 12)) + T(jnp.zeros(4), [0, 1, 2, 3])),
        ("label_smoothing", lambda v: classification_loss(logits, L4, v), PROB, V(1.0)),
        (TS, "task", CHOICE, V("x")),
        (TS, "label_smoothing", PROB),
        (ES, "task", CHOICE),
        (TS, "compute_dtype", DTYPE, T("float77", jnp.int32)),
        (ES, "compute_dtype", DTYPE),
        (TS, "axis_name", AXIS),
        (TS, "loss_fn", CALLABLE.but(None)),
        (TS, "rng_streams", V(("a", "a")) + T("dropout")),
        (TS, "input_key", NAME),
        (ES, "input_key", NAME),
        ("num_classes", lambda v: train.count_bad_labels(L4, v), POS_INT),
        ("rng", lambda v: train.step_rngs(v, 0), KEY),
        ("axis_name", lambda v: train.step_rngs(f.K, 0, ("dropout",), v), AXIS),
        ValueError,
        ("mask", lambda: classification_loss(logits, L4, mask=jnp.ones(3))),
        ("logits", lambda: classification_loss(jnp.zeros(10), jnp.zeros((), jnp.int32))),
        ("target", lambda: regression_loss(P, jnp.zeros((2, 4, 4, 3)))),
        ("pred", "regression_loss pred 3-D", lambda: regression_loss(jnp.zeros((2, 4, 4)), jnp.zeros((2, 4, 4)))),
        ("mask", lambda: regression_loss(P, P, mask=jnp.ones(3))),
        ("label", "train_step batch without 'label'", lambda: TS()(_state(), {"image": image})),
        ("label", "jitted train_step batch without 'label'", lambda: jit(TS())(_state(), {"image": image})),
        ("target", lambda: TS("regress")(_state(), {"image": image})),
        ("label", "eval_step batch without 'label'", lambda: ES()(_state(), {"image": image})),
        ("image", "train_step input_key missing", lambda: TS(input_key="x")(_state(), B2)),
        ("batch", "jitted train_step batch without label", lambda: jit(TS())(_state(), {"image": image})),
        ("labels", "jitted train_step labels (B, 1)", lambda: jit(TS())(_state(), B21)),
        ("batch", "eval_step batch without label", lambda: jit(ES())(_state(), {"image": image})),
        TypeError,
        ("batch", "train_step batch a tuple", lambda: TS()(_state(), (image,))),
        ("target", "regression_loss target a list", lambda: regression_loss(P, [0.0])),
        ("streams", "step_rngs streams='dropout'", lambda: train.step_rngs(f.K, 0, "dropout")),
        "train.state",
        (O, "learning_rate", NONNEG_NUM, V(-0.1)),
        (O, "momentum", PROB, V(-0.5, 1.0)),
        (O, "weight_decay", NONNEG_NUM, T("0")),
        (O, "nesterov", FLAG),
        (CS, "key", KEY.but(None)),
        (CS, "tx model sample_input", T("sgd", [[1.0]])),
        ValueError,
        ("batch_size", "check_batch_size indivisible", lambda: p.check_batch_size(7, 2)),
        ("tree", "unreplicate a scalar leaf", lambda: p.unreplicate({"step": np.zeros(())})),
        "train.parallel",
        (("n", "devices"), lambda v: p.select_devices(v), POS_INT.but(None), V(99)),
        (call(p.check_batch_size, batch_size=8, num_devices=1), "batch_size num_devices", POS_INT),
        ("num_devices", lambda v: p.shard_batch({"image": np.zeros((4, 2))}, v), POS_INT),
        ("devices", lambda v: p.make_mesh(v), V([], f.jax.devices() * 2) + T(["cpu"], "cpu")),
        (call(p.pmap_step, devices=f.jax.devices()), "step_fn", CALLABLE),
        (call(p.pmap_step, lambda s, b: s, f.jax.devices()), "donate", FLAG),
        (call(p.mesh_step, mesh=p.make_mesh()), "step_fn", CALLABLE),
        (call(p.mesh_step, lambda s, b: s, p.make_mesh()), "donate", FLAG),
        ("mesh", lambda v: p.replicated(v), T(None)),
        ("mesh", lambda v: p.put_replicated({"a": np.zeros(2)}, v), T("x")),
        ValueError,
        (("batch", "num_devices"), "shard_batch 7 over 2", lambda: p.shard_batch({"image": np.zeros((7, 2))}, 2)),
        ("batch", "shard_batch a scalar leaf", lambda: p.shard_batch({"image": np.zeros(())}, 1)),
        ("devices", "replicate devices=[]", lambda: p.replicate({"a": np.zeros(2)}, [])),
        ("mesh", lambda: p.batch_sharding(Mesh(np.asarray(f.jax.devices()), ("data",)))),
        ("global_batch", "put_batch a scalar leaf", lambda: p.put_batch({"image": np.zeros(())}, p.make_mesh())),
    ]


@group("train.fit")
def _fit():
    """``fit``: every argument, checked before anything is built (cases that pass a model never init it)."""
    import numpy as np

    from jaxcnn.train import fit, make_mesh, make_optimizer

    tx = make_optimizer(0.1)
    data = lambda step: {"image": np.ones((2, 4, 4, 1), np.float32), "label": np.zeros(2, np.int32)}  # noqa: E731
    no_label = lambda step: {"image": np.ones((2, 4, 4, 1), np.float32)}  # noqa: E731
    ev = [data(0)]
    st, tiny = _state, _tiny_model()
    F = named("fit", lambda **kw: fit(st(), data, 1, **kw))
    FE = named("fit(eval_data)", lambda **kw: fit(st(), data, 4, eval_data=ev, **kw))
    return [
        ("steps", lambda v: fit(st(), data, v), NONNEG_INT),
        (F, "label_smoothing", PROB),
        (FE, "eval_every", POS_INT.but(None), V([0], [9]) + T([1.5])),
        (F, "ckpt_every", POS_INT.but(None)),
        (F, "keep max_skipped log_every", POS_INT),
        (F, "devices", V(0, 99, []) + T(True)),
        (F, "compute_dtype", DTYPE, T("float77")),
        (F, "input_key", NAME),
        (F, "loss_fn eval_fn on_step", CALLABLE.but(None)),
        (F, "progress resume", FLAG),
        (F, "desc out eval_data", T(5)),
        (F, "mesh", T("x")),
        (F, "rng_streams", T("dropout")),
        ("seed", lambda v: fit(_tiny_model(), data, 1, tx=tx, seed=v), NONNEG_INT.but(-1)),
        ValueError,
        ("tx", "tx None with a model", lambda: fit(_tiny_model(), data, 1)),
        ("tx", "tx with a TrainState (ignored)", lambda: F(tx=tx)),
        ("task", "task='x'", lambda: F(task="x")),
        (("eval_data", "eval_fn"), lambda: F(eval_data=ev, eval_fn=lambda s: {})),
        ("eval_every", "eval_every without eval_data/eval_fn", lambda: fit(st(), data, 4, eval_every=2)),
        ("resume", "resume without out", lambda: F(resume=True)),
        (("devices", "mesh"), "devices and mesh", lambda: F(devices=1, mesh=make_mesh())),
        ("train_data", "train_data batch without 'label'", lambda: fit(st(), no_label, 1, progress=False)),
        ("train_data", "train_data batch without input_key", lambda: F(input_key="x", progress=False)),
        ("train_data", "model batch without input_key", lambda: fit(tiny, data, 1, tx=tx, input_key="x")),
        TypeError,
        ("eval_data", "eval_data an iterator", lambda: F(eval_data=iter(ev))),
        ("model_or_state", "model_or_state='resnet18'", lambda: fit("resnet18", data, 1, tx=tx)),
        ("train_data", "train_data=5", lambda: fit(st(), 5, 1)),
        ("tx", "tx='sgd' with a model", lambda: fit(_tiny_model(), data, 1, tx="sgd")),
        ("train_data", "train_data neither a function nor an iterable", lambda: fit(_tiny_model(), 5, 1, tx=tx)),
        ("train_data", "train_data batch a tuple", lambda: fit(st(), lambda s: (1, 2), 1, progress=False)),
    ]


def _tiny_model():
    import flax.linen as nn

    class Tiny(nn.Module):
        @nn.compact
        def __call__(self, x, train: bool = False):
            return nn.Dense(3)(x.reshape(x.shape[0], -1))

    return Tiny()


def _state(key=None, tx=None, model=None, sample_input=None):
    args = (key, tx, model, sample_input)
    return _default_state() if args == (None,) * 4 else _make_state(*args)


@functools.cache
def _default_state():
    return _make_state()


def _make_state(key=None, tx=None, model=None, sample_input=None):
    import optax

    from jaxcnn.train import create_train_state

    f = fx()
    return create_train_state(
        _tiny_model() if model is None else model,
        f.K if key is None else key,
        f.jnp.ones((1, 4, 4, 1)) if sample_input is None else sample_input,
        optax.sgd(0.1) if tx is None else tx,
    )


@group()
def _train_io():
    import numpy as np

    from experiments import sr_data as sr
    from experiments.lstsq import conv_normal_equations, solve_conv_lstsq
    from jaxcnn.train.checkpoint import Checkpointer, restore_arrays

    tmp = tempfile.mkdtemp(prefix="jaxcnn_sweep_")
    d = Path(tempfile.mkdtemp(prefix="sweep_"))
    (d / "f").write_text("x")
    ck = lambda name, **kw: Checkpointer(os.path.join(tmp, name), **kw)  # noqa: E731
    feats, targets = np.ones((2, 6, 6, 3)), np.ones((2, 6, 6, 4))
    system = conv_normal_equations(feats, targets, 3)
    img = np.zeros((12, 12))
    pair = sr.SRPair("a", np.zeros((12, 12)), np.zeros((4, 4)))
    PB = call(sr.patch_batch, [pair], scale=3, lr_size=2, batch_size=2, seed=0, step=0)
    RM, MP = call(sr.resize_matrix, n_in=4, n_out=8, scale=2.0), call(sr.make_pair, name="a", y=img, scale=3)
    RP = call(sr.rescaled_pairs, [pair], factors=[0.5], scale=3)
    return [
        "train.checkpoint",
        ("every", lambda v: ck("a", every=v), POS_INT),
        ("keep", lambda v: ck("c", keep=v), POS_INT),
        ("step", lambda v: restore_arrays(tmp, step=v), NONNEG_INT, V(5)),
        ("step", lambda v: _ckpt(tmp, "i").restore(_state(), step=v), NONNEG_INT, V(3)),
        ("force", lambda v: _ckpt(tmp, "g").save(_state(), force=v), FLAG),
        ("directory", lambda v: restore_arrays(v), T(None)),
        ValueError,
        (("directory", "/nonexistent"), lambda: restore_arrays("/nonexistent/ckpt")),
        TypeError,
        ("directory", "Checkpointer directory=None", lambda: Checkpointer(None)),
        ("state", "Checkpointer.save state=dict", lambda: _ckpt(tmp, "f").save({"step": 1})),
        ("template", "Checkpointer.restore template=None", lambda: _ckpt(tmp, "h").restore(None)),
        "train.state",
        ValueError,
        ("directory", "directory a file", lambda: Checkpointer(d / "f")),
        ("directory", "restore_arrays missing directory", lambda: restore_arrays(d / "nope")),
        "experiments.lstsq",
        ("kernel_size", lambda v: conv_normal_equations(feats, targets, v), ODD),
        ("ridge", lambda v: solve_conv_lstsq(system, 3, ridge=v), NONNEG_NUM, T("0.1")),
        ("kernel_size", lambda v: solve_conv_lstsq(system, v), V(5) + T(2.5)),
        ValueError,
        (("features", "targets"), lambda: conv_normal_equations(feats, np.ones((2, 5, 6, 4)), 3)),
        ("features", "conv_normal_equations features 3-D", lambda: conv_normal_equations(feats[0], targets[0], 3)),
        ("mask", lambda: conv_normal_equations(feats, targets, 3, mask=np.ones((2, 3)))),
        ("targets", "conv_normal_equations targets 3-D", lambda: conv_normal_equations(feats, targets[0], 3)),
        TypeError,
        ("features", "conv_normal_equations features of str", lambda: conv_normal_equations([["a"]], targets, 3)),
        ("system", "solve_conv_lstsq system=None", lambda: solve_conv_lstsq(None, 3)),
        "experiments.sr_data",
        (RM, "n_in n_out", POS_INT),
        (RM, "n_in", T([4])),
        (RM, "scale", POS_NUM),
        (RM, "antialias", FLAG),
        ("scale", lambda v: sr.imresize(img, v), POS_NUM, V(-2.0, 1e9, 1e-9) + T("2")),
        ("image", lambda v: sr.imresize(v, 2.0), V(np.zeros(12), np.zeros((0, 4))) + T(img.astype(np.uint8), [["a"]])),
        ("antialias", lambda v: sr.imresize(img, 0.5, antialias=v), FLAG),
        ("scale", lambda v: sr.jax_resize(img, v, True), POS_INT, V(10**6)),
        ("up", lambda v: sr.jax_resize(img, 2, v), FLAG),
        ("k", lambda v: sr.dihedral(img, v), NONNEG_INT, V(8)),
        (MP, "scale", POS_INT),
        (MP, "resize", CHOICE),
        (MP, "name", NAME),
        ("y", lambda v: sr.make_pair("a", np.zeros(v), 3), V((12, 12, 3), 12, (2, 2))),
        (call(sr.mirror_padded, [pair], context=1, scale=3), "context", NONNEG_INT),
        (call(sr.mirror_padded, [pair], context=1, scale=3), "scale", POS_INT),
        (call(sr.mirror_padded, context=1, scale=3), "pairs", T(None)),
        (PB, "scale lr_size batch_size", POS_INT),
        (PB, "lr_size", V(10)),
        (PB, "seed step", NONNEG_INT),
        (PB, "augment", FLAG),
        (call(sr.patch_batch, scale=3, lr_size=2, batch_size=2, seed=0, step=0), "pairs", V([]) + T(None)),
        (call(sr.upscale_bicubic, np.zeros((4, 4)), scale=3), "scale", POS_INT),
        (call(sr.upscale_bicubic, np.zeros((4, 4)), scale=3), "resize", CHOICE),
        (call(sr.load_pairs, "/nonexistent", scale=3), "scale", POS_INT),
        (call(sr.load_pairs, "/nonexistent", scale=3), "limit", POS_INT.but(None)),
        (call(sr.load_pairs, "/nonexistent", scale=3), "resize", CHOICE),
        (RP, "factors", V([1.5], [NAN]) + T(0.5)),
        (RP, "scale", POS_INT),
        (call(sr.rescaled_pairs, factors=[0.5], scale=3), "pairs", T(None)),
        ValueError,
        (("folder", "/nonexistent"), "list_images missing folder", lambda: sr.list_images("/nonexistent")),
        ("n_out", "resize_matrix n_out=10**6, n_in=10**4 (huge)", lambda: sr.resize_matrix(10**4, 10**6, 100.0)),
        ("image", "jax_resize image 1-D", lambda: sr.jax_resize(np.zeros(12), 2, True)),
        ("scale", "jax_resize scale=20 shrinks to nothing", lambda: sr.jax_resize(img, 20, False)),
        ("image", "dihedral image 1-D", lambda: sr.dihedral(np.zeros(4), 1)),
        ("pairs", "patch_batch pair made at another scale", lambda: sr.patch_batch([pair], 2, 2, 2, 0, 0)),
        OSError,
        (("path", "/nonexistent"), "load_y missing file", lambda: sr.load_y("/nonexistent/a.png")),
    ]


def _ckpt(tmp, name):
    from jaxcnn.train.checkpoint import Checkpointer

    return Checkpointer(os.path.join(tmp, name), every=1)


# ----------------------------------------------------------------------------- interop, CLIs


@group()
def _interop():
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
        load_state_dict,
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
    d = Path(tmp)
    txt = os.path.join(tmp, "w.txt")
    Path(txt).write_text("x")
    sf = os.path.join(tmp, "a.safetensors")
    write_safetensors(sf, {"w": np.zeros(2)})
    r18 = create_model("resnet18")
    sd = {"conv1.weight": np.zeros((64, 3, 7, 7))}
    msg = os.path.join(tmp, "v.msgpack")
    out = os.path.join(tmp, "o.msgpack")

    def cut(path):
        write_safetensors(path, {"w": np.zeros((64, 64), np.float32)})
        path.write_bytes(path.read_bytes()[:100])
        return path

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

    return [
        "interop",
        ("name", lambda v: from_torchvision(v, sd), V("resnet7", None)),
        ("state_dict", lambda v: from_torchvision("resnet18", v), V({}) + T(None, [1])),
        ("check", lambda v: from_torchvision("resnet18", sd, check=v), FLAG),
        ValueError,
        ("state_dict", "from_torchvision mismatched state_dict", lambda: from_torchvision("resnet18", sd)),
        (("path", "/nonexistent"), "load_state_dict missing file", lambda: load_state_dict("/nonexistent/w.pth")),
        ("arch", "export_state_dict arch='espcn' (no torch layout)", lambda: export_state_dict({}, "espcn")),
        ("layout", "export_state_dict layout='x'", lambda: export_state_dict({}, "resnet18", layout="x")),
        ("path", "export_state_dict path='w.pth'", lambda: export_state_dict({}, "resnet18", "w.pth")),
        ("path", "export path .pth", lambda: export_state_dict({}, "resnet18", d / "w.pth")),
        ("path", "read_checkpoint truncated safetensors", lambda: read_checkpoint(cut(d / "w.safetensors"))),
        ("source", "pretrained source missing", lambda: jaxcnn.pretrained(str(d / "none.safetensors"))),
        TypeError,
        ("variables", "export_state_dict variables=None", lambda: export_state_dict(None, "resnet18")),
        ("arch", "export_state_dict arch=None", lambda: export_state_dict({}, None)),
        "interop.files",
        ValueError,
        (("path", tmp), "read_checkpoint a directory", lambda: read_checkpoint(tmp)),
        (("path", "w.txt"), "read_checkpoint suffix .txt", lambda: read_checkpoint(txt)),
        (("path", "/nonexistent"), "read_safetensors missing", lambda: read_safetensors("/nonexistent/a.safetensors")),
        ("path", "write_flax suffix .pkl", lambda: write_flax(os.path.join(tmp, "v.pkl"), {}, "resnet18")),
        (("path", "/nonexistent"), "read_msgpack missing", lambda: read_msgpack("/nonexistent/a.msgpack")),
        TypeError,
        ("path", "load_state_dict path=None", lambda: load_state_dict(None)),
        ("tensors", lambda: write_safetensors(os.path.join(tmp, "b.safetensors"), None)),
        ("metadata", lambda: write_safetensors(os.path.join(tmp, "c.safetensors"), {"w": np.zeros(2)}, {"n": 1})),
        ("path", "write_safetensors path=None", lambda: write_safetensors(None, {"w": np.zeros(2)})),
        ("arch", "write_flax arch=None", lambda: write_flax(msg, {}, None)),
        ("overrides", lambda: write_flax(msg, {}, "espcn", {"dtype": np.float32})),
        ("variables", "write_flax variables=None", lambda: write_flax(msg, None, "espcn")),
        ("extra_metadata", lambda: write_flax(msg, {}, "espcn", None, {"a": 1})),
        ("variables", "flatten_variables None", lambda: flatten_variables(None)),
        ("flat", "unflatten_variables int keys", lambda: unflatten_variables({1: np.zeros(2)})),
        "interop.keymaps",
        ("kind", lambda v: to_flax(np.zeros((2, 2)), v), V("x", "conv")),
        ("keys", lambda v: detect_layout(v), V([]) + T("conv1.weight", [1, 2])),
        ValueError,
        ("layout", "key_map layout='x'", lambda: key_map(r18, {}, "x")),
        ("kind", "to_flax conv1x1_linear 3x3", lambda: to_flax(np.zeros((2, 2, 3, 3)), "conv1x1_linear")),
        ("kind", "to_torch kind='x'", lambda: to_torch(np.zeros((2, 2)), "x")),
        ("layout", "infer_arch layout='x'", lambda: infer_arch(sd, "x")),
        TypeError,
        ("arch", "layouts_of None", lambda: layouts_of(None)),
        ("flax_shape", "torch_shape flax_shape='x'", lambda: torch_shape("x", "conv")),
        ("state_dict", "infer_arch state_dict=None", lambda: infer_arch(None, "timm")),
        "interop.state_dict",
        ValueError,
        ("layout", "from_state_dict layout='x'", lambda: from_state_dict(sd, r18, "x")),
        ("skip", lambda: from_state_dict(sd, r18, "timm", skip=("nope",))),
        ("layout", "to_state_dict layout='x'", lambda: to_state_dict({}, r18, "x")),
        TypeError,
        ("state_dict", "from_state_dict state_dict=None", lambda: from_state_dict(None, r18, "timm")),
        ("skip", "from_state_dict skip='fc'", lambda: from_state_dict(sd, r18, "timm", skip="fc")),
        ("model", "from_state_dict model='resnet18'", lambda: from_state_dict(sd, "resnet18", "timm")),
        ("variables", "to_state_dict variables=None", lambda: to_state_dict(None, r18, "timm")),
        ("variables", "check_variables variables=None", lambda: check_variables(None, r18)),
        ("model", "abstract_variables model=None", lambda: abstract_variables(None)),
        "interop.pretrained",
        ("num_classes", lambda v: jaxcnn.pretrained(sd, num_classes=v), POS_INT.but(None)),
        ("key", lambda v: jaxcnn.pretrained(sd, key=v), KEY.but(None)),
        ("source", lambda v: jaxcnn.pretrained(v), V({}) + T(5)),
        ValueError,
        (("source", "/nonexistent"), lambda: jaxcnn.pretrained("/nonexistent/w.safetensors")),
        ("source_format", "pretrained source_format='keras'", lambda: jaxcnn.pretrained(sd, source_format="keras")),
        ("arch", "pretrained arch='resnet7'", lambda: jaxcnn.pretrained(sd, arch="resnet7")),
        ("name", "model_card unknown name", lambda: model_card("nope")),
        TypeError,
        ("source", "resolve_source None", lambda: resolve_source(None)),
        "interop.convert",
        _ArgparseError,
        ("--arch", "convert --arch resnet7", lambda: cli([sf, out, "--arch", "resnet7"])),
        ("--num-classes", lambda v: cli([sf, out, "--num-classes", v]), "0", "2.5"),
        ("--source-format", lambda: cli([sf, out, "--source-format", "keras"])),
        (("src", "/nonexistent"), lambda: cli(["/nonexistent/a.safetensors", out])),
        ("DST", "convert dst .pkl", lambda: cli([sf, os.path.join(tmp, "o.pkl")])),
        ("dst", "convert dst is src", lambda: cli([sf, sf])),
        ("--to", "convert --to timm into .msgpack", lambda: cli([sf, out, "--to", "timm"])),
        ("--set", "convert --set foo (no =)", lambda: cli([sf, out, "--set", "foo"])),
    ]


def _argvs(text: str) -> list[list[str]]:
    return [shlex.split(argv) for argv in text.split(" ; ")]


# module: argv of each case, ';'-separated (shlex syntax); the flag is the first word. espcn_ship's
# positional RUN directory is given as ('run', argv).
CLI_CASES = {
    "classify": _argvs(
        "--steps -1 ; --steps 0 ; --batch-size 0 ; --lr -1 ; --lr nan ; --momentum 1.5 ; --weight-decay -1 ; "
        "--label-smoothing 1.5 ; --devices 0 ; --keep 0 ; --ckpt-every 0 ; --max-nonfinite 0 ; --model resnet7 ; "
        "--model-kw foo ; --model-kw num_classes=abc ; --model-kw nope=1 ; --dataset imagenet22k ; --steps 1.5 ; "
        "--schedule linear ; --lr inf ; --batch-size 1.5 ; --momentum -0.1 ; --devices 1.5 ; --seed -1 ; "
        "--seed x ; --data /nonexistent ; --model :make ; --model-kw scan_stages=1 ; "
        "--model-kw drop_path_rate=high ; --model-kw =3 ; --dtype float16 ; --parallel pmap ; "
        "--devices 2 --parallel none"
    ),
    "espcn_sr": _argvs(
        "--scale 0 ; --scale -3 ; --steps -1 ; --batch-size 0 ; --patch 0 ; --context -1 ; --lr -1 ; "
        "--lr-final -1 ; --last-layer-lr -1 ; --eval-every -1 ; --rescale -1 ; --rescale 0 ; --eval-only ; "
        "--train-dir /nonexistent ; --scale 1.5 ; --lr nan ; --lr-final 1 ; --rescale 1.5 ; --seed -1 ; "
        "--patch 2.5 ; --weights nope --eval-only ; --weights espcn_x3_t91 ; "
        "--refit-last --eval-only --weights espcn_x3_t91 ; --eval-dir /nonexistent ; --optimizer adamw ; "
        "--resize pil"
    ),
    "classification_study": _argvs(
        "--seeds 0 ; --steps -1 ; --mnist-steps -1 ; --batch-size 0 ; --lr -1 ; --evals 0 ; --arms nope ; "
        "--datasets imagenet ; --datasets , ; --arms '' ; --seeds 1.5 ; --lr nan ; --data /nonexistent"
    ),
    "gallery": _argvs(
        "--steps -1 ; --steps 1.5 ; --train-images 0 ; --image nope ; --data /nonexistent ; --espcn-weights nope"
    ),
    "receptive_fields": _argvs("--samples 0 ; --samples -1 ; --samples 1.5 ; --checkpoint /nonexistent"),
    "tradeoffs": _argvs(
        "--steps -1 ; --batch-size 0 ; --depths 0 ; --depths a,b ; --repeats 0 ; --warmup -1 ; --depths , ; "
        "--depths 1.5 ; --warmup 5 --steps 2 ; --conv-grad fast ; --data /nonexistent ; --steps 1.5"
    ),
    "report": _argvs(
        "--only nope ; --results nope ; --results gallery=/nonexistent ; --only '' ; --data /nonexistent ; "
        "--espcn-weights nope ; --quick --full"
    ),
    "demo": _argvs("--skip nope ; --data /nonexistent ; --espcn-weights nope"),
    "espcn_ship": [
        *_argvs("--name a/b . ; --name a/b /nonexistent ; --eval-dir /nonexistent ."),
        ("run", ["/nonexistent"]),
        ("run", ["."]),
    ],
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


@group()
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
                _ArgparseError,
            )


@group("validation")
def _validation():
    """The shared checks themselves (jaxcnn/validation.py)."""
    from jaxcnn import validation as c

    f = fx()
    np, jnp = f.np, f.jnp
    X = jnp.ones((1, 4, 4, 3))
    return [
        ("n", lambda v: c.check_int(v, "n"), T(2.0, True, np.bool_(True))),
        ("n", lambda v: c.check_int(v, "n", minimum=0, maximum=8), V(-1, 9)),
        ("size", lambda v: c.check_positive_int(v, "size"), POS_INT),
        ("kernel_size", lambda v: c.check_odd_kernel(v, "kernel_size"), ODD),
        ("stride", lambda v: c.check_int_pair(v, "stride", 1), INT_PAIR, T((1, 1.5), (1, 1, 1))),
        ("peak", lambda v: c.check_number(v, "peak", 0.0, min_inclusive=False), POS_NUM),
        ("momentum", lambda v: c.check_number(v, "momentum", maximum=1.0), V(2.0)),
        ("p", lambda v: c.check_probability(v, "p"), PROB, V(np.float32(NAN)) + T(jnp.array(1))),
        ("flag", lambda v: c.check_bool(v, "flag"), FLAG),
        ("flag", lambda v: c.check_bool(v, "flag", allow_none=True), T(1)),
        ("act", lambda v: c.check_callable(v, "act"), CALLABLE),
        ("rng_collection", lambda v: c.check_str(v, "rng_collection"), NAME, T(5)),
        ("mode", lambda v: c.check_choice(v, "mode", ("a", "b")), CHOICE, V("c", np.array(["a"]))),
        ("x", lambda v: c.check_floating(v, "x", "a rescale"), T(jnp.ones((1, 4, 4, 3), jnp.int32))),
        ("x", lambda v: c.check_nhwc(v, "x", channels=1, nonempty=True), V(X, jnp.ones((1, 0, 4, 1)))),
        ("scale_factor", lambda v: c.check_output_size(v, "scale_factor"), V((1, 2**20, 2**20, 3), (10**400, 1))),
    ]


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
            add(g.__name__.strip("_"), "-", "import / fixtures", functools.partial(_raise, e))
    counts = OrderedDict()
    rows = []
    t0 = time.time()
    for module, label, names, thunk, _ in CASES:
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
