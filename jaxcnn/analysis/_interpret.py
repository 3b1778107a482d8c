"""Abstract interpretation of a jaxpr: which input rows/columns each array element can see.

Every jaxpr variable gets a ``Dep`` (or ``None`` when it does not depend on the input image):
one ``AxisField`` per array axis that indexes an input spatial axis, and a fixed interval for
each input spatial axis that was reduced away (a global pool, a squeeze). Primitives are
handled by family below; one that touches the input and is not listed raises
``UnsupportedPrimitive`` naming it, so the analyser never guesses.
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
from collections.abc import Callable

import numpy as np
from jax.extend import core as xcore

from jaxcnn.analysis._field import AxisField, FieldError, _hull, fit_periodic, merge_outer, union, window
from jaxcnn.xla_cpu.onednn import xla_jaxpr


class UnsupportedPrimitive(ValueError, NotImplementedError):
    """The function ``f`` applies a primitive the analysers have no rule for: a ValueError about the
    argument ``f`` (and a NotImplementedError, which it was first)."""


@dataclasses.dataclass(frozen=True)
class Dep:
    axes: tuple  # per array axis: AxisField | None
    fixed: tuple  # sorted ((src, (lo, hi)), ...) for input axes not indexed by any array axis


def _mk(axes, fixed: dict) -> Dep:
    return Dep(tuple(axes), tuple(sorted(fixed.items())))


ELEMENTWISE = set(
    """abs acos acosh add and asin asinh atan atan2 atanh cbrt ceil clamp conj convert_element_type copy copy_p cos
    cosh digamma div eq erf erf_inv erfc exp exp2 expm1 floor ge gt igamma imag integer_pow is_finite le lgamma log
    log1p logistic lt max min mul ne neg nextafter not or polygamma pow real reduce_precision rem round rsqrt
    select_n shift_left shift_right_arithmetic shift_right_logical sign sin sinh sqrt square sub tan tanh xor
    population_count clz stop_gradient""".split()
)
PASSTHROUGH = {"device_put", "optimization_barrier", "sharding_constraint", "mesh_cast", "reshard", "name"}
REDUCTIONS = set("reduce_sum reduce_max reduce_min reduce_prod reduce_and reduce_or reduce_xor argmax argmin".split())
CUMULATIVE = {"cumsum", "cumprod", "cummax", "cummin", "cumlogsumexp"}
WINDOWED = {"reduce_window_sum", "reduce_window_max", "reduce_window_min", "reduce_window"}
# call-like primitive -> the param holding its body (None: no body to read)
CALLS = dict.fromkeys(("pjit", "jit", "checkpoint", "remat", "remat2"), "jaxpr")
CALLS |= dict.fromkeys(("closed_call", "core_call", "custom_jvp_call", "custom_vjp_call"), "call_jaxpr")
CALLS |= {"custom_vjp_call_jaxpr": "fun_jaxpr", "custom_lin": None}
_CONCRETE_LIMIT = 1 << 16  # elements: evaluate small input-free subgraphs (resize matrices), nothing big


def combine(deps, shape, where: str) -> Dep | None:
    """Elementwise combination of operands of one shape: per-axis union of their fields."""
    deps = [d for d in deps if d is not None]
    if not deps:
        return None
    axes = [None] * len(shape)
    fixed: dict = {}
    for d in deps:
        if len(d.axes) == len(shape):
            for k, f in enumerate(d.axes):
                axes[k] = union(axes[k], f, shape[k], where)
        elif len(d.axes) != 0:
            raise FieldError(f"{where}: operand of rank {len(d.axes)} in an elementwise op of rank {len(shape)}")
        for s, iv in d.fixed:
            fixed[s] = _hull([fixed.get(s), iv])
    srcs = [f.src for f in axes if f is not None]
    if len(set(srcs)) < len(srcs):
        raise FieldError(f"{where}: one input axis indexes two array axes (their input axes: {srcs})")
    for k, f in enumerate(axes):
        if f is not None and f.src in fixed:  # a reduced (global) path meets a spatial one: SE gate * map
            axes[k] = union(f, AxisField.constant(f.src, fixed.pop(f.src)), shape[k], where)
    return _mk(axes, fixed)


def collapse(d: Dep | None, dims, shape) -> Dep | None:
    """Remove array axes ``dims`` (a reduction or squeeze): spatial ones become fixed hulls."""
    if d is None:
        return None
    fixed = dict(d.fixed)
    axes = []
    for k, f in enumerate(d.axes):
        if k in dims:
            if f is not None:
                fixed[f.src] = _hull([fixed.get(f.src), f.hull(shape[k])])
        else:
            axes.append(f)
    return _mk(axes, fixed)


class Interpreter:
    """Runs a jaxpr on ``Dep`` values; ``on_layer(eqn, dep, shape)`` sees every conv/pool output."""

    def __init__(self, on_layer: Callable | None = None):
        self._platform_cond = False
        self.on_layer = on_layer

    # -- driver ------------------------------------------------------------------------------

    def run(self, jaxpr, consts, in_deps, in_vals=None):
        """Returns (out_deps, out_concrete_values) of an open jaxpr."""
        env = dict(zip(jaxpr.invars, in_deps))  # a variable not in env does not depend on the input
        val = dict(zip(jaxpr.constvars, consts))
        val.update((v, c) for v, c in zip(jaxpr.invars, in_vals or ()) if c is not None)

        def read(a):
            return None if isinstance(a, xcore.Literal) else env.get(a)

        def read_val(a):
            return np.asarray(a.val) if isinstance(a, xcore.Literal) else val.get(a)

        platform = set()  # variables computed from lax.platform_dependent's platform index
        for eqn in jaxpr.eqns:
            deps = [read(a) for a in eqn.invars]
            vals = [read_val(a) for a in eqn.invars]
            on_platform = [isinstance(a, xcore.Var) and a in platform for a in eqn.invars]
            if eqn.primitive.name == "platform_index" or (eqn.primitive.name != "cond" and any(on_platform)):
                platform.update(eqn.outvars)
            self._platform_cond = eqn.primitive.name == "cond" and on_platform[0]
            if all(d is None for d in deps):
                outs = [None] * len(eqn.outvars)
                val.update(zip(eqn.outvars, self._concrete(eqn, vals)))
            else:
                outs = self.eqn(eqn, deps, vals)
            for v, d in zip(eqn.outvars, outs):
                if d is not None and any(f is not None and n == 0 for f, n in zip(d.axes, v.aval.shape)):
                    raise ValueError(
                        f"the input is smaller than a kernel: {eqn.primitive.name} at "
                        f"{eqn.source_info.name_stack} gives an empty map of shape {v.aval.shape}"
                    )
                env[v] = d
        return [read(a) for a in jaxpr.outvars], [read_val(a) for a in jaxpr.outvars]

    def run_closed(self, closed, in_deps, in_vals=None):
        return self.run(closed.jaxpr, closed.consts, in_deps, in_vals)

    @staticmethod
    def _concrete(eqn, vals):
        """Values of an input-free equation's outputs when small and computable, else []."""
        if any(v is None for v in vals) or any(np.prod(o.aval.shape, dtype=int) > _CONCRETE_LIMIT for o in eqn.outvars):
            return []
        try:
            bound = eqn.primitive.get_bind_params(eqn.params)
            subfuns, params = bound if isinstance(bound, tuple) else ((), bound)
            outs = eqn.primitive.bind(*subfuns, *vals, **params)
        except Exception:  # noqa: BLE001 - best effort; a missing value only disables the resize rule
            return []
        outs = outs if eqn.primitive.multiple_results else [outs]
        return [np.asarray(o) for o in outs]

    # -- one equation --------------------------------------------------------------------------

    def eqn(self, eqn, deps, vals):
        name = eqn.primitive.name
        p = eqn.params
        where = f"{name} at {eqn.source_info.name_stack}" if str(eqn.source_info.name_stack) else name
        shapes = [getattr(a.aval, "shape", ()) for a in eqn.invars]
        out_shape = eqn.outvars[0].aval.shape if eqn.outvars else ()
        if name in ELEMENTWISE:
            return [combine(deps, out_shape, where)]
        if name in PASSTHROUGH:
            return list(deps[: len(eqn.outvars)])
        if name in CALLS:
            return self._call(eqn, deps, vals, name)
        if (sub := xla_jaxpr(eqn)) is not None:  # a custom-call conv: read as XLA computes it
            return self.run_closed(sub, deps, vals)[0]
        if name == "conv_general_dilated":
            out = [self._conv(eqn, deps, shapes, where)]
        elif name in WINDOWED:
            out = self._reduce_window(eqn, deps, where)
        elif name in REDUCTIONS:
            return [collapse(deps[0], set(p["axes"]), shapes[0])]
        elif name == "pad":
            return [self._pad(p, deps, shapes, where)]
        elif name == "slice":
            return [self._slice(p, deps[0], shapes[0])]
        elif name == "squeeze":
            return [collapse(deps[0], set(d % len(shapes[0]) for d in p["dimensions"]), shapes[0])]
        elif name == "broadcast_in_dim":
            return [self._broadcast(p, deps[0], shapes[0], out_shape)]
        elif name == "reshape":
            return [self._reshape(deps[0], shapes[0], tuple(p["new_sizes"]), where)]
        elif name == "transpose":
            return [Dep(tuple(deps[0].axes[i] for i in p["permutation"]), deps[0].fixed)]
        elif name == "rev":
            self._require_nonspatial(deps[0], p["dimensions"], where, "reversal")
            return [deps[0]]
        elif name in CUMULATIVE:
            self._require_nonspatial(deps[0], [p["axis"]], where, "a cumulative scan")
            return [deps[0]]
        elif name == "concatenate":
            for d in deps:
                self._require_nonspatial(d, [p["dimension"]], where, "concatenation")
            return [combine(deps, tuple(out_shape), where)]
        elif name == "split":
            return self._split(eqn, deps[0], shapes[0], where)
        elif name == "dot_general":
            return [self._dot_general(eqn, deps, vals, shapes, out_shape, where)]
        elif name == "cond":
            return self._cond(eqn, deps, vals, where)
        elif name == "scan":
            return self._scan(eqn, deps, vals, where)
        elif name == "sort":
            self._require_nonspatial(deps[0] or deps[-1], [p["dimension"]], where, "a sort")
            d = combine(deps, shapes[0], where)
            return [d] * len(eqn.outvars)
        else:
            raise UnsupportedPrimitive(
                f"f applies primitive {name!r} ({where}) to input-dependent data; it is unsupported by "
                "receptive_field, which raises instead of guessing. Supported: convolutions, reduce_window, pad, "
                "slice, reshape/transpose/broadcast, reductions, elementwise ops, dot_general, concatenate, "
                "jit/custom_jvp/custom_vjp/remat/cond/scan."
            )
        if self.on_layer is not None:
            for v, d in zip(eqn.outvars, out):
                if d is not None:
                    self.on_layer(eqn, d, v.aval.shape)
        return out

    @staticmethod
    def _require_nonspatial(d, dims, where, what):
        if d is not None and any(d.axes[k] is not None for k in dims):
            raise UnsupportedPrimitive(
                f"f: unsupported {where}: {what} along a spatial axis has no receptive-field rule"
            )

    # -- families ------------------------------------------------------------------------------

    def _call(self, eqn, deps, vals, name):
        key = CALLS[name]
        if key is None:
            raise UnsupportedPrimitive(f"f: primitive {name!r} is unsupported by receptive_field")
        sub = eqn.params[key]  # a ClosedJaxpr; checkpoint carries an open Jaxpr
        return self.run(getattr(sub, "jaxpr", sub), getattr(sub, "consts", ()), deps, vals)[0]

    def _conv(self, eqn, deps, shapes, where):
        p = eqn.params
        if deps[1] is not None:
            raise UnsupportedPrimitive(
                f"f: unsupported {where}: the conv kernel depends on the input (dynamic filters)"
            )
        lhs, (lhs_spec, rhs_spec, out_spec) = deps[0], p["dimension_numbers"]
        if lhs.axes[lhs_spec[0]] is not None or lhs.axes[lhs_spec[1]] is not None:
            raise FieldError(f"{where}: a spatial input axis is used as the conv's batch or feature axis")
        axes = [None] * len(lhs.axes)
        for k, (ld, od) in enumerate(zip(lhs_spec[2:], out_spec[2:])):
            f = lhs.axes[ld]
            if f is not None:
                s, dil, L = (p[key][k] for key in ("window_strides", "rhs_dilation", "lhs_dilation"))
                axes[od] = _win(where, f, shapes[1][rhs_spec[2 + k]], s, dil, p["padding"][k][0], L)
        return Dep(tuple(axes), lhs.fixed)

    def _reduce_window(self, eqn, deps, where):
        p = eqn.params
        n = len(eqn.outvars)
        d = combine(deps[:n], eqn.invars[0].aval.shape, where)
        if d is None:
            return [None] * n
        axes = list(d.axes)
        for k, f in enumerate(d.axes):
            if f is not None:
                w, s, dil = (p[key][k] for key in ("window_dimensions", "window_strides", "window_dilation"))
                axes[k] = _win(where, f, w, s, dil, p["padding"][k][0], p["base_dilation"][k])
        return [Dep(tuple(axes), d.fixed)] * n

    def _pad(self, p, deps, shapes, where):
        d = combine([deps[0]], shapes[0], where)
        if deps[1] is not None:  # an input-dependent padding value reaches every padded unit
            d = combine([d, Dep((), deps[1].fixed)], shapes[0], where)
        axes = list(d.axes)
        for k, (lo, _, interior) in enumerate(p["padding_config"]):
            if d.axes[k] is not None:
                axes[k] = _win(where, d.axes[k], 1, 1, 1, lo, interior + 1)
        return Dep(tuple(axes), d.fixed)

    def _slice(self, p, d, shape):
        strides = p["strides"] or (1,) * len(shape)
        fields = zip(d.axes, strides, p["start_indices"])
        axes = [None if f is None else window(f, 1, int(s), 1, -int(st)) for f, s, st in fields]
        return Dep(tuple(axes), d.fixed)

    def _broadcast(self, p, d, in_shape, out_shape):
        axes = [None] * len(out_shape)
        for k, od in enumerate(p["broadcast_dimensions"]):
            f = d.axes[k]
            if f is not None and in_shape[k] == 1 and out_shape[od] != 1:
                f = AxisField.constant(f.src, f.at(0))  # one unit copied everywhere
            axes[od] = f
        return Dep(tuple(axes), d.fixed)

    def _reshape(self, d, in_shape, out_shape, where):
        fixed = dict(d.fixed)
        axes = [None] * len(out_shape)
        for ins, outs in _reshape_groups(in_shape, out_shape):
            spatial = [k for k in ins if d.axes[k] is not None]
            if not spatial:
                continue
            if len(ins) == 1 and len(outs) == 1:
                axes[outs[0]] = d.axes[ins[0]]
                continue
            big_in = [k for k in ins if in_shape[k] > 1]
            big_out = [k for k in outs if out_shape[k] > 1]
            f = d.axes[spatial[0]]
            if len(spatial) == 1 and big_in and big_in[0] == spatial[0] and len(big_out) == 1:
                inner = int(np.prod([in_shape[k] for k in ins if k > spatial[0]], dtype=int))
                axes[big_out[0]] = merge_outer(f, inner)  # pixel shuffle: (h, r) -> h*r
            elif len(spatial) == 1 and big_in == [spatial[0]] and big_out:
                block = int(np.prod([out_shape[k] for k in outs if k > big_out[0]], dtype=int))
                axes[big_out[0]] = window(f, block, block, 1, 0)  # space-to-depth: outer axis sees whole blocks
            else:  # the array axis now mixes positions: keep only the hull of what it sees
                for k in spatial:
                    g = d.axes[k]
                    fixed[g.src] = _hull([fixed.get(g.src), g.hull(in_shape[k])])
        return _mk(axes, fixed)

    def _split(self, eqn, d, shape, where):
        axis = eqn.params["axis"]
        f = d.axes[axis]
        outs, start = [], 0
        for size in eqn.params["sizes"]:
            axes = list(d.axes)
            if f is not None:
                axes[axis] = window(f, 1, 1, 1, -start)
            outs.append(Dep(tuple(axes), d.fixed))
            start += size
        return outs

    def _dot_general(self, eqn, deps, vals, shapes, out_shape, where):
        (lc, rc), (lb, rb) = eqn.params["dimension_numbers"]
        specs = [(lc, lb), (rc, rb)]
        for side in (0, 1):
            other = 1 - side
            d, (c, b) = deps[side], specs[side]
            if d is not None and deps[other] is None and vals[other] is not None:
                spatial_c = [k for k in c if d.axes[k] is not None]
                if len(spatial_c) == 1:  # a constant matrix along one spatial axis: resize / interpolation
                    return self._resize_matrix(eqn, side, d, spatial_c[0], vals[other], shapes, out_shape, where)
        # generic: each side laid out as the output (batch, lhs free, rhs free axes), contracted
        # spatial axes become hulls; the two sides then combine
        n_free = [len(s) - len(c) - len(b) for s, (c, b) in zip(shapes, specs)]
        aligned = []
        for side, (d, (c, b)) in enumerate(zip(deps, specs)):
            if d is not None:
                free = [d.axes[k] for k in range(len(shapes[side])) if k not in c and k not in b]
                pad = [None] * n_free[1 - side]
                axes = [d.axes[k] for k in b] + (free + pad if side == 0 else pad + free)
                aligned.append(Dep(tuple(axes), collapse(d, set(c), shapes[side]).fixed))
        return combine(aligned, tuple(out_shape), where)

    def _resize_matrix(self, eqn, side, d, k_sp, mat, shapes, out_shape, where):
        (lc, rc), (lb, rb) = eqn.params["dimension_numbers"]
        c_self, c_other = (lc, rc) if side == 0 else (rc, lc)
        if lb or rb:
            raise UnsupportedPrimitive(f"f: unsupported {where}: batched dot_general with a constant spatial matrix")
        m_axis = c_other[list(c_self).index(k_sp)]
        m_free = [k for k in range(mat.ndim) if k not in c_other]
        if len(m_free) != 1:
            raise UnsupportedPrimitive(
                f"f: unsupported {where}: constant matrix along a spatial axis must have one free axis"
            )
        nz = np.moveaxis(mat != 0, (m_axis, m_free[0]), (0, 1))
        nz = nz.reshape(*nz.shape[:2], -1).any(-1)  # nz[k, o]: output o reads input unit k
        f, n_in = d.axes[k_sp], nz.shape[0]
        fields, interior = [], []
        for o in range(nz.shape[1]):
            ks = np.flatnonzero(nz[:, o])
            fields.append(_hull([f.at(int(k)) for k in ks]))
            interior.append(len(ks) > 0 and ks[0] > 0 and ks[-1] < n_in - 1)
        g = fit_periodic(f.src, fields, interior)
        fixed = collapse(d, set(c_self) - {k_sp}, shapes[side]).fixed
        rest = [d.axes[k] for k in range(len(shapes[side])) if k not in c_self]
        return Dep(tuple(rest + [g] if side == 0 else [g] + rest), fixed)

    def _cond(self, eqn, deps, vals, where):
        idx, ops, branches = deps[0], deps[1:], eqn.params["branches"]
        if self._platform_cond:  # lax.platform_dependent: every branch computes the same function
            for br in branches[:-1]:  # e.g. a CPU custom call, then XLA's own ops
                with contextlib.suppress(UnsupportedPrimitive):
                    return self.run_closed(br, ops, vals[1:])[0]
            return self.run_closed(branches[-1], ops, vals[1:])[0]
        shapes = [v.aval.shape for v in eqn.outvars]
        outs = None
        for br in branches:
            outs = _join(outs, self.run_closed(br, ops, vals[1:])[0], shapes, where)
        if idx is not None:  # the branch taken depends on the input: every output sees the predicate
            outs = [combine([o, Dep((), idx.fixed)], v.aval.shape, where) for o, v in zip(outs, eqn.outvars)]
        return outs

    def _scan(self, eqn, deps, vals, where):
        p = eqn.params
        nc, ncar, length = p["num_consts"], p["num_carry"], p["length"]
        consts, carry, xs = deps[:nc], deps[nc : nc + ncar], deps[nc + ncar :]
        for x in xs:
            self._require_nonspatial(x, [0], where, "a scan")
        x_slices = [None if x is None else Dep(x.axes[1:], x.fixed) for x in xs]
        ys = None
        for _ in range(length):  # unrolled abstract execution: fields grow with every step
            outs, _ = self.run_closed(p["jaxpr"], list(consts) + list(carry) + x_slices)
            new_carry = outs[:ncar]
            ys = _join(ys, outs[ncar:], [v.aval.shape[1:] for v in eqn.outvars[ncar:]], where)
            if new_carry == list(carry):
                break  # fixed point: later steps see the same carry and change nothing
            carry = new_carry
        ys = ys or [None] * (len(eqn.outvars) - ncar)
        return list(carry) + [None if y is None else Dep((None,) + y.axes, y.fixed) for y in ys]


def _join(acc, deps, shapes, where):
    """Per-output union of two paths' results (``deps`` alone when ``acc`` is None)."""
    return deps if acc is None else [combine([a, b], s, where) for a, b, s in zip(acc, deps, shapes)]


def _win(where, f, *args):
    """``window(f, kernel, stride, dilation, pad_lo, lhs_dilation)``, refusing a field that sees nothing."""
    g = window(f, *map(int, args))
    if g is None:
        raise FieldError(
            f"{where}: no output unit sees any input along this axis (kernel smaller than the input dilation)"
        )
    return g


def _reshape_groups(in_shape, out_shape):
    """Pair runs of input and output axes with equal products (size-1 axes join a neighbour)."""
    groups, i, j = [], 0, 0
    n, m = len(in_shape), len(out_shape)
    while i < n or j < m:
        ins, outs = [i] if i < n else [], [j] if j < m else []  # one axis of each side, then
        i, j = i + len(ins), j + len(outs)  # the side with the smaller product until they match
        while True:
            a, b = math.prod(in_shape[k] for k in ins), math.prod(out_shape[k] for k in outs)
            if i < n and (a < b or (j >= m and (a != b or in_shape[i] == 1))):
                ins.append(i)
                i += 1
            elif j < m and (a != b or (i >= n and out_shape[j] == 1)):
                outs.append(j)
                j += 1
            else:
                break
        groups.append((ins, outs))
    return groups
