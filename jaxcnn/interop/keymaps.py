"""Key maps between jaxcnn variable paths and PyTorch state-dict keys (torchvision and timm layouts).

A map renames every leaf of the model's own ``init`` tree (shapes only) to the other library's key,
so it is a bijection by construction and works both ways (load and export).

Layouts (``layouts_of(arch)``): ``'torchvision'``, whose keys timm's plain ResNets, ResNeXts and Wide
ResNets share; ``'timm'`` where timm differs: ResNet-D's deep stem and ``downsample.{1,2}``, SE-ResNet's
``se.fc1``/``se.fc2`` 1x1 convs and timm's EfficientNet-style ``mobilenetv2_100``.

Leaf kinds: ``'conv'`` (OIHW <-> HWIO), ``'linear'`` ((out, in) <-> (in, out)), ``'conv1x1_linear'``
(a torch 1x1 conv held as a Dense: the SE gates) and ``'vector'`` (copied).
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Mapping

import numpy as np

from jaxcnn.interop.files import _check_mapping
from jaxcnn.validation import ArgumentTypeError, check_choice, check_int_tuple, check_str

__all__ = [
    "LAYOUTS",
    "KINDS",
    "TIMM_NAMES",
    "TORCHVISION_NAMES",
    "layouts_of",
    "head_name",
    "key_map",
    "bn_count_keys",
    "to_flax",
    "to_torch",
    "torch_shape",
    "detect_layout",
    "infer_arch",
]

LAYOUTS = ("torchvision", "timm")

# jaxcnn registry name -> the name of the same network in timm / torchvision (None: not there).
_RENAMED = {"se_resnet50": "seresnet50", "mobilenet_v2": "mobilenetv2_100"}
TIMM_NAMES = {
    k: _RENAMED.get(k, k)
    for k in ("resnet18", "resnet34", "resnet50", "resnet101", "resnet152", "resnet50d", "se_resnet50")
    + ("resnext50_32x4d", "resnext101_32x8d", "wide_resnet50_2", "wide_resnet101_2", "mobilenet_v2")
}
TORCHVISION_NAMES = {k: k for k in TIMM_NAMES if k not in ("resnet50d", "se_resnet50")}

_HEADS = {"ResNet": "fc", "MobileNetV2": "classifier"}
# each leaf kind: (torch -> flax, flax -> torch)
_CONVERT = {
    "conv": (lambda a: a.transpose(2, 3, 1, 0), lambda a: a.transpose(3, 2, 0, 1)),  # OIHW <-> HWIO
    "linear": (lambda a: a.T, lambda a: a.T),
    "conv1x1_linear": (lambda a: a[:, :, 0, 0].T, lambda a: a.T[:, :, None, None]),
    "vector": (lambda a: a, lambda a: a),
}
KINDS = tuple(_CONVERT)
# rank of each kind's leaf: (torch layout, flax layout); None: any rank
_KIND_NDIM = {"conv": (4, 4), "linear": (2, 2), "conv1x1_linear": (4, 2), "vector": (None, None)}
_BN_LEAVES = {"scale": "weight", "bias": "bias", "mean": "running_mean", "var": "running_var"}


def layouts_of(arch: str) -> tuple[str, ...]:
    """The state-dict layouts ``arch`` can be read from and written to (empty: none)."""
    check_str(arch, "arch")
    return tuple(lay for lay, names in (("torchvision", TORCHVISION_NAMES), ("timm", TIMM_NAMES)) if arch in names)


def head_name(model) -> str | None:
    """Name of the classifier submodule (``'fc'`` or ``'classifier'``), None for a model without one."""
    return _HEADS.get(type(model).__name__)


# -- module renames --------------------------------------------------------------------------------


def _paths(tree) -> dict[tuple[str, ...], object]:
    """``{(collection, module..., leaf): leaf}`` of a variables tree."""
    import jax

    return {tuple(getattr(k, "key", k) for k in p): v for p, v in jax.tree_util.tree_leaves_with_path(tree)}


def _resnet_module(names: list[str], model) -> str:
    stem = re.fullmatch(r"(conv|bn)1_(\d)", names[0])
    if stem:  # ResNet-D deep stem, timm's Sequential: conv, bn, act per layer
        return f"conv1.{3 * int(stem.group(2)) + (stem.group(1) == 'bn')}"
    if names == ["conv1"]:
        return "conv1.6" if model.stem == "deep" else "conv1"
    m = re.fullmatch(r"layer(\d+)_(\d+)", names[0])
    if m is None:
        if names[0].endswith("_rest"):
            raise ValueError(
                "scan_stages=True layouts are not mapped; load the unrolled model and apply "
                "jaxcnn.models.unrolled_to_scan"
            )
        return ".".join(names)  # bn1, fc
    first = 1 if model.shortcut == "D" else 0  # timm's ResNet-D puts its AvgPool at downsample.0
    rest = {"conv_proj": f"downsample.{first}", "norm_proj": f"downsample.{first + 1}"}.get(names[1], names[1])
    return ".".join([f"layer{m.group(1)}.{m.group(2)}", rest, *names[2:]])


def _mobilenet_module(names: list[str], tv: bool, model, expanded: set[str]) -> str:
    n_blocks = sum(s[2] for s in model.settings)
    top = {
        "stem_conv": ("features.0.0", "conv_stem"),
        "stem_bn": ("features.0.1", "bn1"),
        "head_conv": (f"features.{n_blocks + 1}.0", "conv_head"),
        "head_bn": (f"features.{n_blocks + 1}.1", "bn2"),
        "classifier": ("classifier.1", "classifier"),
    }
    if names[0] in top:
        return top[names[0]][0 if tv else 1]
    k = int(names[0][len("block") :])
    expand = names[0] in expanded
    layer, part = names[1].rsplit("_", 1)  # e.g. ("dw", "conv"), ("project", "bn")
    i = (["expand", "dw", "project"] if expand else ["dw", "project"]).index(layer)
    bn = int(part == "bn")
    if tv:  # ConvBNReLU Sequentials (conv.i.0, conv.i.1), then the bare project conv and bn
        return f"features.{k + 1}.conv." + (f"{i + bn}" if layer == "project" else f"{i}.{bn}")
    starts = np.cumsum([0] + [s[2] for s in model.settings])
    stage = int(np.searchsorted(starts, k, side="right")) - 1  # timm: blocks.{row of Table 2}.{index in row}
    conv = {"expand": "conv_pw", "dw": "conv_dw", "project": "conv_pwl" if expand else "conv_pw"}[layer]
    return f"blocks.{stage}.{k - starts[stage]}." + (f"bn{i + 1}" if bn else conv)


# -- the map ---------------------------------------------------------------------------------------


def key_map(model, abstract_variables: Mapping, layout: str) -> dict[tuple[str, ...], tuple[str, str]]:
    """``{flax path (collection, module..., leaf): (torch key, kind)}`` for every leaf of the model.

    ``abstract_variables`` is the model's ``init`` tree (shapes suffice, e.g. from ``jax.eval_shape``).
    """
    check_choice(layout, "layout", LAYOUTS)
    family = type(model).__name__
    if family not in _HEADS:
        raise ValueError(f"no torch key map for {family}; mapped families: {sorted(_HEADS)}")
    shapes = _paths(abstract_variables)
    expanded = {p[1] for p in shapes if p[2:3] == ("expand_conv",)}
    out = {}
    for path, leaf_value in shapes.items():
        col, names, leaf = path[0], list(path[1:-1]), path[-1]
        if family == "ResNet":
            module = _resnet_module(names, model)
        else:
            module = _mobilenet_module(names, layout == "torchvision", model, expanded)
        if leaf == "kernel":
            ndim = len(leaf_value.shape)
            kind = "conv" if ndim == 4 else ("conv1x1_linear" if names[-2:-1] == ["se"] else "linear")
            out[path] = (f"{module}.weight", kind)
        elif col == "batch_stats" or (col == "params" and leaf == "scale"):
            out[path] = (f"{module}.{_BN_LEAVES[leaf]}", "vector")
        elif leaf == "bias":
            out[path] = (f"{module}.bias", "vector")
        else:
            raise ValueError(f"no torch name for variable {'/'.join(path)}")
    dup = sorted(k for k, n in Counter(k for k, _ in out.values()).items() if n > 1)
    if dup:  # a broken rename would silently overwrite; make it loud
        raise AssertionError(f"key map of {family} ({layout}) is not one-to-one: {dup[:5]}")
    return out


def bn_count_keys(torch_keys: Iterable[str]) -> list[str]:
    """``num_batches_tracked`` keys that go with the BN ``running_mean`` keys (torch state dicts carry them)."""
    torch_keys = _str_keys(torch_keys, "torch_keys")
    return [k[: -len("running_mean")] + "num_batches_tracked" for k in torch_keys if k.endswith(".running_mean")]


def _str_keys(keys, name: str) -> list[str]:
    if isinstance(keys, (str, bytes)) or not hasattr(keys, "__iter__"):
        raise ArgumentTypeError(f"{name} must be an iterable of str keys, got {keys!r:.80}")
    keys = list(keys)
    if not all(isinstance(k, str) for k in keys):
        raise ArgumentTypeError(f"{name} must hold str keys, got {[k for k in keys if not isinstance(k, str)][:3]!r}")
    return keys


def _check_leaf(array, kind: str, side: int) -> np.ndarray:
    """``array`` as numpy, checked to have the rank of ``kind`` (``side`` 0: torch layout, 1: Flax layout)."""
    check_choice(kind, "kind", KINDS)
    array = np.asarray(array)
    ndim = _KIND_NDIM[kind][side]
    if ndim is not None and array.ndim != ndim:
        raise ValueError(
            f"array of kind {kind!r} must be {ndim}-D in the {('torch', 'Flax')[side]} layout, got shape {array.shape}"
        )
    if side == 0 and kind == "conv1x1_linear" and array.shape[2:] != (1, 1):
        raise ValueError(f"array of kind 'conv1x1_linear' must be a 1x1 conv (out, in, 1, 1), got shape {array.shape}")
    return array


def to_flax(array: np.ndarray, kind: str) -> np.ndarray:
    """A torch-layout tensor as the Flax leaf of ``kind`` (one of :data:`KINDS`)."""
    array = _check_leaf(array, kind, 0)  # kind first: _CONVERT[kind] would be a bare KeyError
    return _CONVERT[kind][0](array)


def to_torch(array: np.ndarray, kind: str) -> np.ndarray:
    """A Flax leaf of ``kind`` as the torch-layout tensor (inverse of ``to_flax``)."""
    array = _check_leaf(array, kind, 1)  # kind first: _CONVERT[kind] would be a bare KeyError
    return _CONVERT[kind][1](array)


def torch_shape(flax_shape: tuple, kind: str) -> tuple:
    """The torch shape a Flax leaf of ``flax_shape`` and ``kind`` has in a state dict."""
    flax_shape = check_int_tuple(flax_shape, "flax_shape", minimum=0, min_length=0)
    return tuple(to_torch(np.empty(flax_shape, np.bool_), kind).shape)


# -- detection -------------------------------------------------------------------------------------


def detect_layout(keys: Iterable[str]) -> str:
    """``'flax'`` (jaxcnn's own ``collection/module/leaf`` keys), ``'timm'`` or ``'torchvision'`` from the key
    names; raises ValueError when none fits."""
    keys = _str_keys(keys, "keys")
    if not keys:
        raise ValueError("keys is empty (an empty checkpoint): no keys to detect a layout from")
    if all("/" in k for k in keys):
        return "flax"
    ks = set(keys)
    if "conv_stem.weight" in ks or any(k.startswith("blocks.") for k in ks):
        return "timm"
    if "features.0.0.weight" in ks:
        return "torchvision"
    if "conv1.0.weight" in ks or any(".downsample.2." in k or ".se.fc1." in k for k in ks):
        return "timm"
    if "conv1.weight" in ks and any(k.startswith("layer1.") for k in ks):
        return "torchvision"  # also timm's plain ResNets: the same keys
    raise ValueError(
        f"cannot tell the layout (timm, torchvision or jaxcnn flax) from keys like {sorted(ks)[:6]}; pass source_format"
    )


def infer_arch(state_dict: Mapping[str, np.ndarray], layout: str) -> str:
    """The jaxcnn registry name of a timm/torchvision checkpoint, from its block counts and shapes."""
    _check_mapping(state_dict, "state_dict")
    check_choice(layout, "layout", LAYOUTS)
    keys = set(state_dict)
    if "conv_stem.weight" in keys or "features.0.0.weight" in keys:
        return "mobilenet_v2"
    counts = {}  # blocks per stage
    for m in filter(None, (re.match(r"layer(\d+)\.(\d+)\.", k) for k in keys)):
        counts[int(m[1])] = max(counts.get(int(m[1]), 0), int(m[2]) + 1)
    if not counts:
        raise ValueError(f"cannot infer the architecture from state_dict keys like {sorted(keys)[:6]}; pass arch")
    sizes = tuple(counts[s] for s in sorted(counts))
    bottleneck = "layer1.0.conv3.weight" in keys
    w2 = np.shape(state_dict["layer1.0.conv2.weight"])  # (width, width / groups, 3, 3)
    groups = w2[0] // w2[1]
    config = dict(
        stage_sizes=sizes,
        block="bottleneck" if bottleneck else "basic",
        stem="deep" if "conv1.0.weight" in keys else "imagenet",
        se=any(".se." in k for k in keys),
        groups=groups,
        base_width=w2[0] // groups if bottleneck else 64,
    )
    from jaxcnn.models import create_model

    for name in TIMM_NAMES:
        m = create_model(name)
        if type(m).__name__ == "ResNet" and tuple(config.values()) == (  # the fields of config, in its order
            (tuple(m.stage_sizes), m.block, m.stem, m.se_reduction is not None, m.groups, m.base_width)
        ):
            return name
    raise ValueError(f"no mapped jaxcnn architecture has this checkpoint's structure {config}; pass arch")
