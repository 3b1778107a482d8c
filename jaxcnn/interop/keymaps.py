"""Key maps between jaxcnn variable paths and PyTorch state-dict keys (torchvision and timm layouts).

A map is built from the jaxcnn model itself: every leaf of ``model.init``'s tree (by
``jax.eval_shape``, so nothing is computed) is renamed to the key the other library uses. The map is
therefore a bijection by construction and works in both directions (load and export).

Layouts (``layouts_of(arch)`` lists which an architecture has):

* ``'torchvision'``: torchvision's names. timm's plain ResNets, ResNeXts and Wide ResNets use the
  *same* keys, so a timm ``resnet50`` checkpoint is detected as ``'torchvision'`` and loads unchanged.
* ``'timm'``: the names where timm differs: the deep stem and ``downsample.{1,2}`` of ResNet-D
  (``resnet50d``), ``se.fc1``/``se.fc2`` 1x1 convs of SE-ResNet (``seresnet50``), and timm's
  EfficientNet-style ``mobilenetv2_100`` (``conv_stem``, ``blocks.{stage}.{block}``, ``conv_pw``...).

Leaf kinds: ``'conv'`` (torch OIHW <-> Flax HWIO), ``'linear'`` ((out, in) <-> (in, out)),
``'conv1x1_linear'`` (a torch 1x1 conv (out, in, 1, 1) that jaxcnn holds as a Dense (in, out): the
SE gates) and ``'vector'`` (copied).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping

import numpy as np

from jaxcnn.validation import ArgumentTypeError, check_choice, check_str

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
TIMM_NAMES = {
    "resnet18": "resnet18",
    "resnet34": "resnet34",
    "resnet50": "resnet50",
    "resnet101": "resnet101",
    "resnet152": "resnet152",
    "resnet50d": "resnet50d",
    "se_resnet50": "seresnet50",
    "resnext50_32x4d": "resnext50_32x4d",
    "resnext101_32x8d": "resnext101_32x8d",
    "wide_resnet50_2": "wide_resnet50_2",
    "wide_resnet101_2": "wide_resnet101_2",
    "mobilenet_v2": "mobilenetv2_100",
}
TORCHVISION_NAMES = {k: k for k in TIMM_NAMES if k not in ("resnet50d", "se_resnet50")}

_HEADS = {"ResNet": "fc", "MobileNetV2": "classifier"}
KINDS = ("conv", "linear", "conv1x1_linear", "vector")
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


def _resnet_module(names: list[str], layout: str, model) -> str:
    deep = model.stem == "deep"
    if names[0] in ("conv1_0", "bn1_0", "conv1_1", "bn1_1"):  # ResNet-D deep stem, timm's Sequential
        return "conv1." + {"conv1_0": "0", "bn1_0": "1", "conv1_1": "3", "bn1_1": "4"}[names[0]]
    if names == ["conv1"]:
        return "conv1.6" if deep else "conv1"
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


_TV_MB = {
    True: {"dw_conv": "conv.0.0", "dw_bn": "conv.0.1", "project_conv": "conv.1", "project_bn": "conv.2"},
    False: {
        "expand_conv": "conv.0.0",
        "expand_bn": "conv.0.1",
        "dw_conv": "conv.1.0",
        "dw_bn": "conv.1.1",
        "project_conv": "conv.2",
        "project_bn": "conv.3",
    },
}
_TIMM_MB = {
    True: {"dw_conv": "conv_dw", "dw_bn": "bn1", "project_conv": "conv_pw", "project_bn": "bn2"},
    False: {
        "expand_conv": "conv_pw",
        "expand_bn": "bn1",
        "dw_conv": "conv_dw",
        "dw_bn": "bn2",
        "project_conv": "conv_pwl",
        "project_bn": "bn3",
    },
}


def _mobilenet_module(names: list[str], layout: str, model, no_expand: set[int]) -> str:
    n_blocks = sum(s[2] for s in model.settings)
    tv = layout == "torchvision"
    top = {
        "stem_conv": ("features.0.0", "conv_stem"),
        "stem_bn": ("features.0.1", "bn1"),
        "head_conv": (f"features.{n_blocks + 1}.0", "conv_head"),
        "head_bn": (f"features.{n_blocks + 1}.1", "bn2"),
        "classifier": ("classifier.1", "classifier"),
    }
    if names[0] in top:
        return top[names[0]][0 if tv else 1]
    k = int(re.fullmatch(r"block(\d+)", names[0]).group(1))
    t1 = k in no_expand
    if tv:
        return f"features.{k + 1}.{_TV_MB[t1][names[1]]}"
    starts = np.cumsum([0] + [s[2] for s in model.settings])
    stage = int(np.searchsorted(starts, k, side="right")) - 1  # timm: blocks.{row of Table 2}.{index in row}
    return f"blocks.{stage}.{k - starts[stage]}.{_TIMM_MB[t1][names[1]]}"


# -- the map ---------------------------------------------------------------------------------------


def key_map(model, abstract_variables: Mapping, layout: str) -> dict[tuple[str, ...], tuple[str, str]]:
    """``{flax path (collection, module..., leaf): (torch key, kind)}`` for every leaf of the model.

    ``abstract_variables`` is the model's ``init`` tree (shapes suffice, e.g. from ``jax.eval_shape``).
    """
    import jax

    if layout not in LAYOUTS:
        raise ValueError(f"layout must be one of {LAYOUTS}, got {layout!r}")
    family = type(model).__name__
    if family not in _HEADS:
        raise ValueError(f"no torch key map for {family}; mapped families: {sorted(_HEADS)}")
    shapes = {
        tuple(getattr(k, "key", k) for k in p): v.shape
        for p, v in jax.tree_util.tree_leaves_with_path(abstract_variables)
    }
    paths = list(shapes)
    no_expand = {int(p[1][5:]) for p in paths if p[1].startswith("block")} - {
        int(p[1][5:]) for p in paths if p[1].startswith("block") and p[2] == "expand_conv"
    }
    out = {}
    for path in paths:
        col, names, leaf = path[0], list(path[1:-1]), path[-1]
        if family == "ResNet":
            module = _resnet_module(names, layout, model)
        else:
            module = _mobilenet_module(names, layout, model, no_expand)
        ndim = len(shapes[path])
        if leaf == "kernel":
            kind = "conv" if ndim == 4 else ("conv1x1_linear" if names[-2:-1] == ["se"] else "linear")
            out[path] = (f"{module}.weight", kind)
        elif col == "batch_stats" or (col == "params" and leaf == "scale"):
            out[path] = (f"{module}.{_BN_LEAVES[leaf]}", "vector")
        elif leaf == "bias":
            out[path] = (f"{module}.bias", "vector")
        else:
            raise ValueError(f"no torch name for variable {'/'.join(path)}")
    keys = [k for k, _ in out.values()]
    if len(set(keys)) != len(keys):  # a broken rename would silently overwrite; make it loud
        dup = sorted({k for k in keys if keys.count(k) > 1})
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
    """``kind`` is one of :data:`KINDS` (an unknown one would silently copy the array) and ``array`` has
    its rank (``side`` 0: torch layout, 1: Flax layout)."""
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
    array = _check_leaf(array, kind, 0)
    if kind == "conv":
        return array.transpose(2, 3, 1, 0)
    if kind == "linear":
        return array.T
    if kind == "conv1x1_linear":
        return array.reshape(array.shape[0], array.shape[1]).T
    return array


def to_torch(array: np.ndarray, kind: str) -> np.ndarray:
    """A Flax leaf of ``kind`` as the torch-layout tensor (inverse of ``to_flax``)."""
    array = _check_leaf(array, kind, 1)
    if kind == "conv":
        return array.transpose(3, 2, 0, 1)
    if kind == "linear":
        return array.T
    if kind == "conv1x1_linear":
        return array.T[:, :, None, None]
    return array


def torch_shape(flax_shape: tuple, kind: str) -> tuple:
    """The torch shape a Flax leaf of ``flax_shape`` and ``kind`` has in a state dict."""
    if not isinstance(flax_shape, (tuple, list)) or not all(
        isinstance(d, (int, np.integer)) and d >= 0 for d in flax_shape
    ):
        raise ArgumentTypeError(f"flax_shape must be a tuple of non-negative ints, got {flax_shape!r}")
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
    if not isinstance(state_dict, Mapping):
        raise ArgumentTypeError(f"state_dict must be a mapping of key -> array, got {type(state_dict).__name__}")
    check_choice(layout, "layout", LAYOUTS)
    keys = set(state_dict)
    if "conv_stem.weight" in keys or "features.0.0.weight" in keys:
        return "mobilenet_v2"
    counts = {}
    for k in keys:
        m = re.match(r"layer(\d+)\.(\d+)\.", k)
        if m:
            s, i = int(m.group(1)), int(m.group(2))
            counts[s] = max(counts.get(s, 0), i + 1)
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
        if type(m).__name__ != "ResNet":
            continue
        have = dict(
            stage_sizes=tuple(m.stage_sizes),
            block=m.block,
            stem=m.stem,
            se=m.se_reduction is not None,
            groups=m.groups,
            base_width=m.base_width,
        )
        if have == config:
            return name
    raise ValueError(f"no mapped jaxcnn architecture has this checkpoint's structure {config}; pass arch")
