"""torch-layout state dicts (timm or torchvision names) <-> Flax variables, both checked leaf by leaf.

Running variance is copied unchanged: torch updates it with the unbiased batch variance, Flax with the
biased one, but both read the stored value the same way at eval time, so eval outputs match (further
train-mode updates differ by n / (n - 1) on each new batch's term). ``num_batches_tracked`` is ignored
on load and written as 0 on export. Every other tensor must be floating point: an integer or bool
weight (a wrong file, a quantised checkpoint) is refused by name rather than cast to float.
"""

from __future__ import annotations

from collections.abc import Mapping

import jax
import jax.numpy as jnp
import numpy as np

from jaxcnn.interop import keymaps
from jaxcnn.interop.files import _check_mapping, _np
from jaxcnn.interop.keymaps import _paths
from jaxcnn.validation import ArgumentTypeError, check_choice, check_str

__all__ = ["abstract_variables", "mismatch_error", "from_state_dict", "to_state_dict", "check_variables"]

_SHOW = 12  # entries listed per kind of mismatch


def abstract_variables(model):
    """``model.init``'s tree as shapes only (``jax.eval_shape``: nothing is computed)."""
    import flax.linen as nn

    if not isinstance(model, nn.Module):
        raise ArgumentTypeError(
            f"model must be a jaxcnn (flax.linen) Module, e.g. create_model('resnet50'), "
            f"got {model!r:.80} ({type(model).__name__})"
        )
    channels = getattr(model, "in_channels", None) or getattr(model, "channels", 3)
    # shapes in, shapes out: neither the input nor the key is materialised (nothing compiles)
    x = jax.ShapeDtypeStruct((1, 64, 64, channels), jnp.float32)
    return jax.eval_shape(lambda x: model.init(jax.random.key(0), x, train=False), x)


def mismatch_error(what: str, unknown, missing, bad, wrong_dtype=()) -> ValueError:
    """One ValueError listing unknown keys, missing keys, shape and dtype mismatches."""
    parts = []
    for label, items in (
        ("unknown keys", sorted(unknown)),
        ("missing keys", sorted(missing)),
        ("shape mismatches", bad),
        ("dtype mismatches", wrong_dtype),
    ):
        if items:
            more = f" (+{len(items) - _SHOW} more)" if len(items) > _SHOW else ""
            parts.append(f"{len(items)} {label}: {list(items)[:_SHOW]}{more}")
    return ValueError(f"{what}: " + "; ".join(parts))


def from_state_dict(
    state_dict: Mapping[str, np.ndarray], model, layout: str, *, arch: str = "model", skip: tuple[str, ...] = ()
) -> dict:
    """Flax variables of ``model`` from a timm/torchvision ``state_dict`` (numpy or torch tensors).

    ``skip`` names top-level modules (e.g. the head ``'fc'``) left out on both sides: their
    checkpoint entries are ignored and the result lacks them. Unknown keys, missing keys and shape
    mismatches, and integer or bool tensors where the model has floats, raise one ValueError naming
    them; leaves take the model's (floating) dtypes.
    """
    _check_mapping(state_dict, "state_dict")
    check_choice(layout, "layout", keymaps.LAYOUTS)
    check_str(arch, "arch")
    if isinstance(skip, str) or not isinstance(skip, (tuple, list)) or not all(isinstance(s, str) for s in skip):
        raise ArgumentTypeError(f"skip must be a tuple of top-level module names (e.g. ('fc',)), got {skip!r}")
    abstract = abstract_variables(model)
    shapes = _paths(abstract)
    tops = {p[1] for p in shapes}
    unknown_skip = [s for s in skip if s not in tops]
    if unknown_skip:  # nothing would be skipped, silently
        raise ValueError(f"skip names {unknown_skip} that are not top-level modules of {arch}; it has {sorted(tops)}")
    full = keymaps.key_map(model, abstract, layout)
    kmap = {p: v for p, v in full.items() if p[1] not in skip}
    skipped = tuple({key.rsplit(".", 1)[0] + "." for p, (key, _) in full.items() if p[1] in skip})  # torch modules
    wanted = {key for key, _ in kmap.values()}
    known = wanted | set(keymaps.bn_count_keys(wanted))
    unknown = [k for k in state_dict if k not in known and not (k + ".").startswith(skipped)]
    missing = [key for key, _ in kmap.values() if key not in state_dict]
    bad, wrong_dtype, flat = [], [], {}
    for path, (key, kind) in kmap.items():
        if key not in state_dict:
            continue
        arr = _np(state_dict[key])
        want = keymaps.torch_shape(shapes[path].shape, kind)
        if arr.shape != want:
            bad.append(f"{key}: checkpoint {tuple(arr.shape)}, expected {want}")
            continue
        if not jnp.issubdtype(arr.dtype, jnp.floating):  # weights and statistics: an int cast would hide a mix-up
            wrong_dtype.append(f"{key}: checkpoint dtype {arr.dtype}, expected floating point")
            continue
        # jnp.array copies: on CPU jnp.asarray can alias the caller's (e.g. a live torch model's) buffers
        flat[path] = jnp.array(keymaps.to_flax(arr, kind), dtype=shapes[path].dtype)
    if unknown or missing or bad or wrong_dtype:
        raise mismatch_error(
            f"state_dict does not match jaxcnn {arch} ({layout} layout)", unknown, missing, bad, wrong_dtype
        )
    from flax import traverse_util

    return traverse_util.unflatten_dict(flat)


def to_state_dict(variables: Mapping, model, layout: str) -> dict[str, np.ndarray]:
    """A torch-layout state dict (numpy arrays, ``num_batches_tracked`` = 0) of Flax ``variables``,
    loadable into the timm/torchvision model with ``load_state_dict(..., strict=True)``."""
    _check_mapping(variables, "variables")
    check_choice(layout, "layout", keymaps.LAYOUTS)
    abstract = abstract_variables(model)
    got = _check_leaves(variables, abstract, f"model {type(model).__name__}")
    kmap = keymaps.key_map(model, abstract, layout)
    out = {key: np.ascontiguousarray(keymaps.to_torch(np.asarray(got[p]), kind)) for p, (key, kind) in kmap.items()}
    for key in keymaps.bn_count_keys(out):
        out[key] = np.zeros((), np.int64)
    return out


def check_variables(variables: Mapping, model, arch: str = "model") -> None:
    """Raise a ValueError listing leaves of ``variables`` that are unknown, missing or misshapen for ``model``."""
    _check_mapping(variables, "variables")
    _check_leaves(variables, abstract_variables(model), arch)


def _check_leaves(variables: Mapping, abstract, what: str) -> dict:
    """The leaves of ``variables`` by path, checked to be those of ``abstract`` with their shapes."""
    want, got = _paths(abstract), _paths(variables)
    bad = [
        f"{'/'.join(p)}: checkpoint {tuple(np.shape(got[p]))}, expected {tuple(want[p].shape)}"
        for p in want.keys() & got.keys()
        if tuple(np.shape(got[p])) != tuple(want[p].shape)
    ]
    unknown = ["/".join(p) for p in got.keys() - want.keys()]
    missing = ["/".join(p) for p in want.keys() - got.keys()]
    if unknown or missing or bad:
        raise mismatch_error(f"variables do not match jaxcnn {what}", unknown, missing, sorted(bad))
    return got
