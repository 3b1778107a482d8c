"""Parameter and multiply-accumulate counts, per model and per stage, from the jaxpr.

A ``conv_general_dilated`` costs out_elements * (in_channels / groups) * kernel_area (divided by
the lhs dilation: a transposed conv does not multiply the inserted zeros), a ``dot_general`` the
product of its batch, free and contracted sizes. The jaxpr, not XLA's ``cost_analysis()``
(``xla_flops``, a cross-check): no compile, cost attributed to chosen outputs (stages), and
torchvision's convention (conv and linear MACs only).
"""

from __future__ import annotations

import dataclasses
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax.extend import core as xcore

from jaxcnn.analysis._interpret import UnsupportedPrimitive
from jaxcnn.analysis.receptive_field import AUTO, INTERMEDIATES, _check_shape, model_function, resolve_method
from jaxcnn.validation import check_callable
from jaxcnn.xla_cpu.onednn import xla_jaxpr

__all__ = ["Complexity", "count_macs", "model_complexity", "xla_flops"]

_SUBJAXPRS = ("jaxpr", "call_jaxpr", "fun_jaxpr")


@dataclasses.dataclass(frozen=True)
class Complexity:
    """Totals and an ordered per-stage breakdown ``{name: (params, macs)}`` (stages sum to the totals)."""

    params: int
    macs: int
    stages: OrderedDict[str, tuple]


def _eqn_macs(eqn) -> int:
    name = eqn.primitive.name
    if name == "conv_general_dilated":
        rhs = eqn.invars[1].aval.shape
        _, rhs_spec, _ = eqn.params["dimension_numbers"]
        kernel = int(np.prod([rhs[d] for d in rhs_spec[2:]]))
        out = int(np.prod(eqn.outvars[0].aval.shape))
        return out * rhs[rhs_spec[1]] * kernel // int(np.prod(eqn.params["lhs_dilation"]))
    if name == "dot_general":
        (lc, _), _ = eqn.params["dimension_numbers"]
        lhs = eqn.invars[0].aval.shape
        out = int(np.prod(eqn.outvars[0].aval.shape))
        return out * int(np.prod([lhs[d] for d in lc]))
    return 0


def _jaxpr_of(obj):
    return obj.jaxpr if hasattr(obj, "consts") else obj


def _live_eqns(jaxpr, wanted: set) -> tuple:
    """(indices of the equations ``wanted`` outputs depend on, indices of the invars they use)."""
    live = set(v for v in wanted if not isinstance(v, xcore.Literal))
    eqns = set()
    for k in range(len(jaxpr.eqns) - 1, -1, -1):
        eqn = jaxpr.eqns[k]
        if not any(v in live for v in eqn.outvars):
            continue
        eqns.add(k)
        live.update(v for v in eqn.invars if not isinstance(v, xcore.Literal))
    used = {k for k, v in enumerate(jaxpr.invars) if v in live}
    return eqns, used


def _eqns_macs(jaxpr, eqns) -> int:
    return sum(_eqn_macs(jaxpr.eqns[k]) + _nested_macs(jaxpr.eqns[k]) for k in eqns)


def _macs(jaxpr) -> int:
    """MACs of the equations a (closed or open) jaxpr's outputs depend on."""
    jaxpr = _jaxpr_of(jaxpr)
    return _eqns_macs(jaxpr, _live_eqns(jaxpr, set(jaxpr.outvars))[0])


def _nested_macs(eqn) -> int:
    p = eqn.params
    if eqn.primitive.name == "scan":
        return p["length"] * _macs(p["jaxpr"])
    if (sub := xla_jaxpr(eqn)) is not None:  # a custom-call conv (OneDNNConv): as XLA computes it
        return _macs(sub)
    if eqn.primitive.name == "cond":  # the most expensive branch (an upper bound)
        return max(_macs(b) for b in p["branches"])
    for key in _SUBJAXPRS:
        if key in p and hasattr(_jaxpr_of(p[key]), "eqns"):
            return _macs(p[key])
    if any(hasattr(_jaxpr_of(v), "eqns") for v in p.values()):  # e.g. a while loop: no static trip count
        raise UnsupportedPrimitive(
            f"f: primitive {eqn.primitive.name!r} is unsupported by count_macs (its "
            f"sub-computation has no static number of runs)"
        )
    return 0


def count_macs(f: Callable, *args: Any) -> int:
    """Multiply-accumulates of ``f(*args)`` (arrays or ShapeDtypeStructs), from its jaxpr."""
    check_callable(f, "f")
    return _macs(jax.make_jaxpr(f)(*args))


def model_complexity(model, input_shape: Sequence[int] = (1, 224, 224, 3), method: str | None = AUTO) -> Complexity:
    """Parameters and MACs of a flax module, total and per stage.

    Stages are the model's named features in order ('stem', 'stage1', ..., 'final') -- or, for
    a module without a ``features`` method, its top-level named submodules' outputs in call order
    -- plus 'head' ('(rest)' if a submodule is called 'head'): what the ``__call__`` output needs
    beyond them. Each stage costs the equations and parameters its output needs that no earlier
    stage needed, so stages sum to the totals. Parameters count the 'params' collection only.
    """
    feat_fn, variables = model_function(model, input_shape, method)  # checks model, shape and method
    logit_fn, _ = model_function(model, input_shape, None)
    method, shape = resolve_method(model, method), _check_shape(input_shape)
    x = jax.ShapeDtypeStruct(shape, jnp.float32)
    feats_tree = jax.eval_shape(feat_fn, x, variables)
    if not isinstance(feats_tree, Mapping):
        raise ValueError(
            f"method={method!r}: model_complexity needs a method returning a dict of named features "
            f"('auto', 'features' or 'intermediates'), got {type(feats_tree).__name__}"
        )
    names = [k for k in feats_tree if method != INTERMEDIATES or "/" not in k]

    def both(x, v):
        feats = feat_fn(x, v)  # one trace: stages share their equations
        return [feats[k] for k in names], logit_fn(x, v)

    closed = jax.make_jaxpr(both)(x, variables)
    jaxpr = closed.jaxpr
    # parameters per invar: invar 0 is x, then the leaves of variables ('params' collection only)
    leaves = jax.tree_util.tree_flatten_with_path(variables)[0]
    sizes = [0] + [int(np.prod(l.shape)) if str(getattr(p[0], "key", "")) == "params" else 0 for p, l in leaves]
    outvars = jaxpr.outvars

    stages = OrderedDict()
    seen_eqns, seen_vars = set(), set()
    for name, var in zip(names, outvars[: len(names)]):
        eqns, used = _live_eqns(jaxpr, {var})
        stages[name] = (sum(sizes[k] for k in used - seen_vars), _eqns_macs(jaxpr, eqns - seen_eqns))
        seen_eqns |= eqns
        seen_vars |= used
    # the __call__ output is a separate trace of the same network: its MACs are the total, and
    # the head is what it needs beyond the stages
    eqns, used = _live_eqns(jaxpr, set(outvars[len(names) :]))
    macs = _eqns_macs(jaxpr, eqns)
    rest = (sum(sizes[k] for k in used - seen_vars), macs - sum(m for _, m in stages.values()))
    stages["head" if "head" not in stages else "(rest)"] = rest
    return Complexity(sum(sizes), macs, stages)


def xla_flops(f: Callable, *args: Any) -> float:
    """XLA's own flop estimate for ``f(*args)`` (compiles it; counts elementwise ops too)."""
    check_callable(f, "f")
    analysis = jax.jit(f).lower(*args).compile().cost_analysis()
    analysis = analysis[0] if isinstance(analysis, (list, tuple)) else analysis
    return float(analysis["flops"])
