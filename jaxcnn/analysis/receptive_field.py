"""Analytic receptive fields of any JAX function from an NHWC image to NHWC feature maps.

``receptive_field(f, input_shape)`` traces ``f`` to a jaxpr (no FLOPs are spent: the input and
any extra arguments may be ``jax.ShapeDtypeStruct``) and propagates, per spatial axis, which
input rows/columns each output unit can see. For a plain chain of convs and pools this is the
Araujo-Norris-Sim recurrence (Distill 2019):

    r_0 = 1 + sum_l (k_l - 1) prod_{i<l} s_i,   k_l -> d_l (k_l - 1) + 1 for dilation,
    jump = prod_l s_l,   padding (start of unit 0's field, negated) = sum_l p_l prod_{i<l} s_i,

but on the jaxpr itself: residual sums and concatenations take the union of their paths' fields,
global gates (squeeze-and-excitation) make the field global (stride 0), upsampling gives fractional
strides. Padding counts as virtual input, as in google-research/receptive_field.
"""

from __future__ import annotations

import dataclasses
import inspect
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from fractions import Fraction
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

from jaxcnn.analysis._field import AxisField, FieldError
from jaxcnn.analysis._interpret import Dep, Interpreter, UnsupportedPrimitive
from jaxcnn.validation import ArgumentTypeError, check_callable, check_int_tuple

__all__ = [
    "ReceptiveField",
    "LayerField",
    "FieldError",
    "UnsupportedPrimitive",
    "receptive_field",
    "layerwise_receptive_fields",
    "model_function",
    "model_receptive_fields",
    "resolve_method",
]


@dataclasses.dataclass(frozen=True)
class ReceptiveField:
    """Receptive field of an NHWC output, per spatial axis (H, W).

    size: largest field (in input pixels) of any output unit (for a global field, the real
    input pixels every unit sees); stride: input pixels per output
    unit (``Fraction`` below 1 after upsampling, 0 for a global field); padding: how far unit 0's
    field starts before input pixel 0 (google-research/receptive_field's "effective padding");
    centred: every unit's field is centred on input pixel ``i * stride`` (odd kernels with
    symmetric padding give this; VGG's 2x2 pools do not).
    """

    size: tuple
    stride: tuple
    padding: tuple
    centred: bool
    output_shape: tuple
    axes: tuple = dataclasses.field(repr=False, compare=False, default=())

    @property
    def is_global(self) -> bool:
        """Every output unit sees the same region (a global pool or gate reached the output)."""
        return all(s == 0 for s in self.stride)

    def field_of(self, i: int, j: int) -> tuple:
        """Input interval ``((h_lo, h_hi), (w_lo, w_hi))``, inclusive and unclipped, of output unit (i, j)."""
        return self.axes[0].at(i), self.axes[1].at(j)


@dataclasses.dataclass(frozen=True)
class LayerField:
    """Field after one conv or pooling equation (in program order), for growth plots."""

    index: int
    name: str
    primitive: str
    size: tuple
    stride: tuple


def _as_int(x: Fraction):
    return int(x) if x.denominator == 1 else x


def _summary(f: AxisField, n_in: int) -> tuple:
    if f.jump == 0:  # global: report the real input pixels every unit sees
        lo, hi = max(f.lo[0], 0), min(f.hi[0], n_in - 1)
        return hi - lo + 1, 0, -lo
    return max(f.sizes()), _as_int(f.rate), -f.at(0)[0] if f.at(0) is not None else None


def _centred(f: AxisField) -> bool:
    return all(f.lo[r] is None or f.lo[r] + f.hi[r] == 2 * r * f.rate for r in range(f.period)) and f.jump != 0


def _check_shape(input_shape) -> tuple:
    """(N, H, W, C) of positive ints: a float such as 8.5 is refused, not truncated."""
    return check_int_tuple(input_shape, "input_shape", minimum=1, length=4)


def _check_model(model) -> None:
    if isinstance(model, str):
        raise ArgumentTypeError(
            f"model must be a flax.linen Module, got the string {model!r}; build it first, "
            f"e.g. jaxcnn.models.create_model({model!r})"
        )
    if not isinstance(model, nn.Module):
        raise ArgumentTypeError(f"model must be a flax.linen Module, got {type(model).__name__}")


def _check_method(model, method) -> None:
    """``None``, ``'auto'``, ``'intermediates'`` or the name of one of the model's methods."""
    if method is None or method in (AUTO, INTERMEDIATES):
        return
    if not isinstance(method, str):
        raise ArgumentTypeError(f"method must be a method name, None, {AUTO!r} or {INTERMEDIATES!r}, got {method!r}")
    if not callable(getattr(type(model), method, None)):
        raise ValueError(
            f"method {method!r}: model {type(model).__name__} has no such method (use None for __call__, "
            f"{AUTO!r} or {INTERMEDIATES!r})"
        )


def _trace(f: Callable, input_shape, args, dtype):
    shape = _check_shape(input_shape)
    check_callable(f, "f")
    x = jax.ShapeDtypeStruct(shape, dtype)
    try:
        closed, out_tree = jax.make_jaxpr(f, return_shape=True)(x, *args)
    except (TypeError, ValueError) as e:
        raise ValueError(
            f"f could not be traced at input shape {shape} (is the input smaller than a kernel?): {e}"
        ) from e
    return closed, out_tree, shape


def _run(closed, on_layer=None) -> list:
    # the image: unit h of axis 1 sees input row h, unit w of axis 2 sees column w; other inputs nothing
    image = Dep((None, AxisField(0, 1, 1, (0,), (0,)), AxisField(1, 1, 1, (0,), (0,)), None), ())
    return Interpreter(on_layer).run_closed(closed, [image] + [None] * (len(closed.jaxpr.invars) - 1))[0]


def _result(dep: Dep | None, out_shape, name: str, in_shape) -> ReceptiveField:
    if len(out_shape) != 4:
        raise ValueError(f"{name} must be a 4-D NHWC feature map, got shape {tuple(out_shape)}")
    if dep is None:
        raise ValueError(f"{name} does not depend on the input image")
    if dep.axes[1] is None or dep.axes[2] is None:
        raise ValueError(
            f"{name} (shape {tuple(out_shape)}) has no spatial axes that index the input's H and W "
            "(it was pooled or flattened); pass a function returning a feature map, e.g. method='features'"
        )
    if (dep.axes[1].src, dep.axes[2].src) != (0, 1):
        raise ValueError(
            f"{name}: output axes 1 and 2 index input axes {dep.axes[1].src} and {dep.axes[2].src}, not H and W"
        )
    if dep.axes[0] is not None or dep.axes[3] is not None:
        raise ValueError(f"{name}: a spatial input axis ended up in the batch or channel axis")
    h, w = dep.axes[1:3]
    size, stride, padding = zip(_summary(h, in_shape[1]), _summary(w, in_shape[2]))
    return ReceptiveField(size, stride, padding, _centred(h) and _centred(w), tuple(out_shape), (h, w))


def receptive_field(f: Callable, input_shape: Sequence[int], *args: Any, dtype=jnp.float32):
    """Analytic receptive field of ``f(x, *args)`` for an NHWC ``x`` of ``input_shape``.

    ``args`` (e.g. model variables) may be arrays or ``jax.ShapeDtypeStruct`` pytrees; they are
    treated as input-independent. Returns a ``ReceptiveField`` when ``f`` returns one array, or
    a dict ``{key: ReceptiveField}`` when it returns a mapping (e.g. a model's named features).

    Raises ``ValueError`` for an output that is not a 4-D spatial map or an input too small to
    trace, ``UnsupportedPrimitive`` naming a primitive the analyser does not understand.
    """
    closed, out_tree, shape = _trace(f, input_shape, args, dtype)
    outs = _run(closed)
    if isinstance(out_tree, Mapping):
        names = list(out_tree)
        leaves = jax.tree_util.tree_leaves(out_tree)
        if len(leaves) != len(names):
            raise TypeError("f must return an array or a flat mapping of arrays")
        return {k: _result(d, leaf.shape, f"output {k!r}", shape) for k, d, leaf in zip(names, outs, leaves)}
    if not hasattr(out_tree, "shape"):
        raise TypeError(f"f must return an array or a mapping of arrays, got {type(out_tree).__name__}")
    return _result(outs[0], out_tree.shape, "the output of f", shape)


def layerwise_receptive_fields(f: Callable, input_shape: Sequence[int], *args: Any, dtype=jnp.float32) -> list:
    """Field after every conv / pooling equation of ``f`` in program order (``LayerField``s)."""
    closed, _, _ = _trace(f, input_shape, args, dtype)
    layers: list = []

    def record(eqn, dep, shape):
        spatial = {fld.src: fld for fld in dep.axes if fld is not None}
        if set(spatial) != {0, 1}:
            return
        name = str(eqn.source_info.name_stack) or eqn.primitive.name
        size = tuple(max(spatial[s].sizes()) for s in (0, 1))
        stride = tuple(_as_int(spatial[s].rate) for s in (0, 1))
        layers.append(LayerField(len(layers), name, eqn.primitive.name, size, stride))

    _run(closed, record)
    return layers


AUTO = "auto"
INTERMEDIATES = "intermediates"


def _accepts(fn, name: str) -> bool:
    try:
        return name in inspect.signature(fn).parameters
    except (TypeError, ValueError):
        return False


def resolve_method(model, method: str | None) -> str | None:
    """``'auto'`` -> ``'features'`` where the module has such a method, else ``'intermediates'``
    (every named submodule's output); any other value unchanged."""
    if method == AUTO:
        return "features" if callable(getattr(model, "features", None)) else INTERMEDIATES
    return method


def _submodule_outputs(tree, prefix: str = "") -> list:
    """``[(path, output)]`` from a ``capture_intermediates`` tree, in insertion (call) order; the
    root's own output is left out."""
    out = []
    for key, value in tree.items():
        if key == "__call__":
            if prefix:
                leaves = jax.tree_util.tree_leaves(value)
                if len(leaves) == 1:  # a submodule returning one array (most layers)
                    out.append((prefix, leaves[0]))
            continue
        if isinstance(value, Mapping):
            out.extend(_submodule_outputs(value, f"{prefix}/{key}" if prefix else key))
    return out


def model_function(model, input_shape: Sequence[int], method: str | None = "features", **apply_kwargs):
    """``(fn, variables)`` with ``fn(x, variables) = model.apply(variables, x, train=False, method=...)``
    and abstract ``variables`` from ``jax.eval_shape`` of ``model.init`` (no parameters are made).

    Works for any flax module: ``train=False`` is passed only where ``__call__`` (or ``method``)
    takes ``train``. ``method``: a method name, ``None`` (``__call__``), ``'auto'`` (see
    ``resolve_method``) or ``'intermediates'``: an ordered dict ``{submodule path: output}`` of
    every named submodule's array output (``capture_intermediates``), paths like ``'block1/conv'``.
    """
    _check_model(model)
    _check_method(model, method)
    method = resolve_method(model, method)
    x = jax.ShapeDtypeStruct(_check_shape(input_shape), jnp.float32)
    init_kw = {"train": False} if _accepts(type(model).__call__, "train") else {}
    variables = jax.eval_shape(lambda x: model.init(jax.random.key(0), x, **init_kw), x)
    kwargs = dict(apply_kwargs)
    if method == INTERMEDIATES:
        kwargs.update(init_kw)

        def fn(x, variables):
            _, state = model.apply(variables, x, capture_intermediates=True, mutable=[INTERMEDIATES], **kwargs)
            return OrderedDict(_submodule_outputs(state[INTERMEDIATES]))

        return fn, variables
    if _accepts(getattr(type(model), method or "__call__", None), "train"):
        kwargs.setdefault("train", False)
    if method is not None:
        kwargs["method"] = method

    def fn(x, variables):
        return model.apply(variables, x, **kwargs)

    return fn, variables


def model_receptive_fields(model, input_shape: Sequence[int] = (1, 224, 224, 3), method: str | None = AUTO) -> dict:
    """``{name: ReceptiveField}`` of a flax module's named feature maps.

    A jaxcnn model's ``features`` ('stem', 'stage1', ..., 'final'); for any other module
    (``method='auto'`` finds no ``features``) every named submodule's 4-D output, keyed by
    its path (``'conv1'``, ``'block1/conv2'``), in call order. ``method=None`` analyses the
    ``__call__`` output itself.
    """
    fn, variables = model_function(model, input_shape, method)
    if resolve_method(model, method) != INTERMEDIATES:
        return receptive_field(fn, input_shape, variables)

    def maps(x, v):  # the 4-D outputs only
        return OrderedDict((k, o) for k, o in fn(x, v).items() if o.ndim == 4)

    fields = receptive_field(maps, input_shape, variables)
    if not fields:
        raise ValueError(f"no named submodule of {type(model).__name__} returns a 4-D NHWC map")
    return fields
