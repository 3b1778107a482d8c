"""Rematerialisation that XLA:CPU cannot undo: ``tied_checkpoint`` and its Flax form ``remat``
(``jaxcnn.xla_cpu.block_remat`` picks it on CPU only).

Why not ``jax.checkpoint`` / ``nn.remat``: they stop XLA from merging the backward pass's
recomputation with the forward computation (common-subexpression elimination) by wrapping it
in ``optimization_barrier``. XLA's CPU pipeline expands those barriers before CSE, so on CPU the
recomputation *is* merged and remat silently does nothing: measured on jax 0.10.2, a rematted
3-conv block compiles to the same number of convolutions as the plain one, and a resnet50 train
step (224 px, batch 8) has the same temp memory with ``nn.remat`` as without (``benchmarks/
bench_train.py remat``). Inside ``nn.scan`` it works, because a loop body cannot be merged with
code outside it.

``tied_checkpoint`` is a ``jax.custom_vjp``: the forward pass saves only the inputs; the backward
pass recomputes the function on inputs *tied to the incoming cotangent* -- ``x + min(|g0|, 0)``,
which is ``x`` exactly (``|g0| >= 0``), but XLA cannot prove it, so the recomputation is neither
merged with the forward pass nor scheduled before the cotangent exists. Gradients equal
``jax.grad`` of the plain function (tested against it). Costs: one elementwise add per tied
input, and no forward-mode differentiation (``custom_vjp``). A NaN cotangent entry makes the tie
NaN, as it would make the gradient NaN anyway.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from typing import Any

import jax
import jax.numpy as jnp
from flax.core import lift
from flax.linen import module as nn_module
from flax.linen import transforms as nn_transforms
from jax import lax

from jaxcnn.validation import ArgumentTypeError, check_callable, check_int, check_int_tuple

__all__ = ["tied_checkpoint", "remat", "platform_remat"]


def _inexact(x) -> bool:
    return hasattr(x, "dtype") and jnp.issubdtype(x.dtype, jnp.inexact)


def _argnums(value, name: str, minimum: int = 0) -> tuple[int, ...]:
    """An int or a tuple of ints >= ``minimum`` (a float or a negative index would silently match nothing)."""
    if isinstance(value, (list, tuple)):
        return check_int_tuple(value, name, minimum=minimum, min_length=0)
    return (check_int(value, name, minimum=minimum),)


def _check_in_range(argnums, name: str, count: int) -> None:
    bad = [i for i in argnums if i >= count]
    if bad:
        raise ValueError(
            f"{name} {tuple(argnums)} refers to argument(s) {bad}, but the function was called with {count} positional argument(s)"
        )


def tied_checkpoint(fun: Callable, static_argnums: int | Sequence[int] = (), tie_argnums: Sequence[int] | None = None):
    """``jax.checkpoint(fun)`` whose recomputation survives XLA:CPU (see the module docstring).

    ``static_argnums``: positional arguments passed through as Python values (not traced).
    ``tie_argnums``: the arguments whose floating-point leaves are tied to the cotangent (default:
    all non-static ones); tying the activations alone is enough to keep the recomputation apart.
    Both are non-negative ints (or tuples of them); on each call they must be below the number of
    positional arguments, and a tied argument cannot be static.
    """
    check_callable(fun, "fun")
    static = set(_argnums(static_argnums, "static_argnums"))
    ties = None if tie_argnums is None else _argnums(tie_argnums, "tie_argnums")
    if ties is not None and static & set(ties):
        raise ValueError(
            f"tie_argnums {ties} and static_argnums {tuple(sorted(static))} overlap: a static argument cannot be tied"
        )

    @functools.wraps(fun)
    def wrapped(*args):
        _check_in_range(sorted(static), "static_argnums", len(args))
        if ties is not None:
            _check_in_range(ties, "tie_argnums", len(args))
        dyn_idx = [i for i in range(len(args)) if i not in static]
        leaves, treedef = jax.tree.flatten([args[i] for i in dyn_idx])
        counts = [len(jax.tree.leaves(args[i])) for i in dyn_idx]
        tied_args = set(dyn_idx if ties is None else ties)
        owner = [i for i, c in zip(dyn_idx, counts) for _ in range(c)]
        diff = [k for k, leaf in enumerate(leaves) if _inexact(leaf)]
        tie = [k for k in diff if owner[k] in tied_args]

        def call(flat):
            dyn = treedef.unflatten(flat)
            full = list(args)
            for i, v in zip(dyn_idx, dyn):
                full[i] = v
            return fun(*full)

        @jax.custom_vjp
        def run(*flat):
            return call(list(flat))

        def fwd(*flat):
            return call(list(flat)), flat

        def bwd(flat, ct):
            g0 = next((c for c in jax.tree.leaves(ct) if _inexact(c) and c.size), None)
            t = jnp.minimum(jnp.abs(g0.ravel()[0]), 0) if g0 is not None else 0.0

            def f_diff(*d):
                full = list(flat)
                for k, v in zip(diff, d):
                    full[k] = v
                return call(full)

            primals = [flat[k] + jnp.asarray(t, flat[k].dtype) if k in tie else flat[k] for k in diff]
            grads = jax.vjp(f_diff, *primals)[1](ct)
            out: list[Any] = [None] * len(flat)
            for k, g in zip(diff, grads):
                out[k] = g
            return tuple(out)

        run.defvjp(fwd, bwd)
        return run(*leaves)

    return wrapped


def _lift_tied_checkpoint(fn, variables=True, rngs=True, static_argnums=()):
    """``flax.core.lift.checkpoint`` with :func:`tied_checkpoint` in place of ``jax.checkpoint``."""
    static = (static_argnums,) if isinstance(static_argnums, int) else tuple(static_argnums)

    def inner(scope_fn, repack_fn, variable_groups, rng_groups, *args):
        def rematted(variable_groups, rng_groups, *args):
            scope = scope_fn(variable_groups, rng_groups)
            return fn(scope, *args), repack_fn(scope)

        # Arguments 0, 1 are the variable and rng groups; tie the activations (2, 3, ...) only.
        n = len(args) + 2
        ties = [i for i in range(2, n) if i - 2 not in static]
        return tied_checkpoint(rematted, static_argnums=tuple(s + 2 for s in static), tie_argnums=ties)(
            variable_groups, rng_groups, *args
        )

    return lift.pack(inner, (variables,), (variables,), (rngs,), name="remat")


def _check_remat_args(target, static_argnums) -> tuple[int, ...]:
    """``target`` a Module class or callable, ``static_argnums`` ints >= 1; returned as a tuple."""
    check_callable(target, "target")
    if isinstance(target, type) and not issubclass(target, nn_module.Module):
        raise ArgumentTypeError(
            f"target must be a flax.linen Module class (or a function taking a module first), got class {target.__name__}"
        )
    return _argnums(static_argnums, "static_argnums", minimum=1)


def remat(target, static_argnums: int | Sequence[int] = ()):
    """``nn.remat`` that also saves memory on XLA:CPU. ``static_argnums`` count ``self`` as 0,
    as ``nn.remat``'s do (``remat(Block, static_argnums=(2,))`` for ``Block()(x, train)``).
    ``target`` must be a Module class (or a function taking a module first); ``static_argnums``
    are ints >= 1 (``self`` cannot be static)."""
    static = _check_remat_args(target, static_argnums)
    return nn_transforms.lift_transform(
        _lift_tied_checkpoint, target, variables=True, rngs=True, static_argnums=tuple(s - 1 for s in static)
    )


def _lift_platform_checkpoint(fn, variables=True, rngs=True, static_argnums=()):
    """One lifted checkpoint, two lowerings: :func:`tied_checkpoint` where the computation is lowered for
    CPU, ``jax.checkpoint(prevent_cse=True)`` (``nn.remat``'s) for any other platform."""
    static = (static_argnums,) if isinstance(static_argnums, int) else tuple(static_argnums)

    def inner(scope_fn, repack_fn, variable_groups, rng_groups, *args):
        dyn_idx = [i for i in range(len(args)) if i not in static]

        def rematted(variable_groups, rng_groups, *dyn):
            full = list(args)
            for i, v in zip(dyn_idx, dyn):
                full[i] = v
            scope = scope_fn(variable_groups, rng_groups)
            return fn(scope, *full), repack_fn(scope)

        # Arguments 0, 1 are the variable and rng groups; tie the activations (2, 3, ...) only.
        cpu = tied_checkpoint(rematted, tie_argnums=tuple(range(2, 2 + len(dyn_idx))))
        other = jax.checkpoint(rematted, prevent_cse=True)
        return lax.platform_dependent(variable_groups, rng_groups, *[args[i] for i in dyn_idx], cpu=cpu, default=other)

    return lift.pack(inner, (variables,), (variables,), (rngs,), name="remat")


def platform_remat(target, static_argnums: int | Sequence[int] = ()):
    """:func:`remat` when lowered for CPU, ``nn.remat`` (``jax.checkpoint``) for other platforms, from
    one module: the choice is made by ``jax.lax.platform_dependent`` at lowering. Same arguments as
    :func:`remat`; the non-static arguments must be arrays (or pytrees of them)."""
    static = _check_remat_args(target, static_argnums)
    return nn_transforms.lift_transform(
        _lift_platform_checkpoint, target, variables=True, rngs=True, static_argnums=tuple(s - 1 for s in static)
    )
