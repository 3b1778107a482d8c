"""Rematerialisation that XLA:CPU cannot undo: ``tied_checkpoint`` and its Flax form ``remat``
(``jaxcnn.xla_cpu.block_remat`` picks it on CPU only).

Why: ``jax.checkpoint`` / ``nn.remat`` keep the recomputation apart from the forward pass with
``optimization_barrier``, which XLA's CPU pipeline expands before CSE, so on CPU the recomputation
is merged back and remat saves nothing (``benchmarks/bench_train.py remat``); inside ``nn.scan`` it
works, as a loop body cannot be merged with code outside it.

``tied_checkpoint`` is a ``jax.custom_vjp`` that saves only the inputs and recomputes the function
on inputs *tied to the incoming cotangent*, ``x + min(|g0|, 0)``: exactly ``x``, but XLA cannot
prove it, so the recomputation is neither merged nor scheduled before the cotangent exists.
Gradients equal ``jax.grad``'s; costs one add per tied input and forward-mode differentiation.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence

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


def _put(base, idx, values) -> list:
    """A copy of ``base`` with ``values`` at the indices ``idx``."""
    out = list(base)
    for i, v in zip(idx, values):
        out[i] = v
    return out


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
        tied_args = set(dyn_idx if ties is None else ties)
        owner = [i for i in dyn_idx for _ in jax.tree.leaves(args[i])]  # the argument of each leaf
        diff = [k for k, leaf in enumerate(leaves) if _inexact(leaf)]
        tie = [k for k in diff if owner[k] in tied_args]

        def call(flat):
            return fun(*_put(args, dyn_idx, treedef.unflatten(flat)))

        @jax.custom_vjp
        def run(*flat):
            return call(flat)

        def fwd(*flat):
            return call(flat), flat

        def bwd(flat, ct):
            g0 = next((c for c in jax.tree.leaves(ct) if _inexact(c) and c.size), None)
            t = jnp.minimum(jnp.abs(g0.ravel()[0]), 0) if g0 is not None else 0.0
            primals = [flat[k] + jnp.asarray(t, flat[k].dtype) if k in tie else flat[k] for k in diff]
            grads = jax.vjp(lambda *d: call(_put(flat, diff, d)), *primals)[1](ct)
            return tuple(_put([None] * len(flat), diff, grads))

        run.defvjp(fwd, bwd)
        return run(*leaves)

    return wrapped


def _lift_tied_checkpoint(fn, variables=True, rngs=True, static_argnums=(), platform=False):
    """``flax.core.lift.checkpoint`` with :func:`tied_checkpoint` in place of ``jax.checkpoint``; with
    ``platform``, only where lowered for CPU (``nn.remat``'s ``jax.checkpoint(prevent_cse=True)`` elsewhere)."""
    static = (static_argnums,) if isinstance(static_argnums, int) else tuple(static_argnums)

    def inner(scope_fn, repack_fn, variable_groups, rng_groups, *args):
        # static_argnums count the module (argument 0 of the user's method) as 0 here too
        _check_in_range([s + 1 for s in static], "static_argnums", len(args) + 1)
        dyn_idx = [i for i in range(len(args)) if i not in static]

        def rematted(variable_groups, rng_groups, *dyn):
            scope = scope_fn(variable_groups, rng_groups)
            return fn(scope, *_put(args, dyn_idx, dyn)), repack_fn(scope)

        # Arguments 0, 1 are the variable and rng groups; tie the activations (2, 3, ...) only.
        cpu = tied_checkpoint(rematted, tie_argnums=tuple(range(2, 2 + len(dyn_idx))))
        operands = (variable_groups, rng_groups, *[args[i] for i in dyn_idx])
        if not platform:
            return cpu(*operands)
        return lax.platform_dependent(*operands, cpu=cpu, default=jax.checkpoint(rematted, prevent_cse=True))

    return lift.pack(inner, (variables,), (variables,), (rngs,), name="remat")


def _lift_platform_checkpoint(fn, variables=True, rngs=True, static_argnums=()):
    # its own name: flax names the lifted class, and so auto-named submodules, after the transform
    return _lift_tied_checkpoint(fn, variables, rngs, static_argnums, platform=True)


def _check_remat_args(target, static_argnums) -> tuple[int, ...]:
    """``target`` a Module class or callable, ``static_argnums`` ints >= 1; returned as a tuple."""
    check_callable(target, "target")
    if isinstance(target, type) and not issubclass(target, nn_module.Module):
        raise ArgumentTypeError(
            f"target must be a flax.linen Module class (or a function taking a module first), got class {target.__name__}"
        )
    return _argnums(static_argnums, "static_argnums", minimum=1)


def _lifted(transform, target, static_argnums):
    static = _check_remat_args(target, static_argnums)
    return nn_transforms.lift_transform(transform, target, static_argnums=tuple(s - 1 for s in static))


def remat(target, static_argnums: int | Sequence[int] = ()):
    """``nn.remat`` that also saves memory on XLA:CPU. ``static_argnums`` count ``self`` as 0,
    as ``nn.remat``'s do (``remat(Block, static_argnums=(2,))`` for ``Block()(x, train)``).
    ``target`` must be a Module class (or a function taking a module first); ``static_argnums``
    are ints >= 1 (``self`` cannot be static)."""
    return _lifted(_lift_tied_checkpoint, target, static_argnums)


def platform_remat(target, static_argnums: int | Sequence[int] = ()):
    """:func:`remat` when lowered for CPU, ``nn.remat`` (``jax.checkpoint``) for other platforms, from
    one module: the choice is made by ``jax.lax.platform_dependent`` at lowering. Same arguments as
    :func:`remat`; the non-static arguments must be arrays (or pytrees of them)."""
    return _lifted(_lift_platform_checkpoint, target, static_argnums)
