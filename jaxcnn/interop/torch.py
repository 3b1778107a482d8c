"""torchvision ``state_dict`` -> Flax variables for the models torchvision has.

torch is imported lazily; this module works on anything with ``.detach().cpu().numpy()`` or
plain numpy arrays, so converting needs torch only to *load* a checkpoint.

Conversions: conv weights OIHW -> HWIO; ``fc``/``classifier`` weight (out, in) -> kernel
(in, out); BN ``weight``/``bias`` -> ``params`` ``scale``/``bias``; ``running_mean`` /
``running_var`` -> ``batch_stats`` ``mean``/``var``; ``num_batches_tracked`` is dropped.

Running variance: torch *updates* it with the unbiased batch variance (divides by n - 1), Flax
with the biased one (divides by n). The stored value is an estimate of the population variance
that both use identically at eval time, so it is copied unchanged; eval outputs match exactly.
Only further train-mode updates differ, by the factor n / (n - 1) on each new batch's term
(n = batch * height * width per channel), which is below 1% for n > 100.
"""

from __future__ import annotations

import re
from typing import Any, Mapping

import jax
import jax.numpy as jnp
import numpy as np

TORCHVISION_MODELS = (
    "resnet18", "resnet34", "resnet50", "resnet101", "resnet152",
    "resnext50_32x4d", "resnext101_32x8d", "wide_resnet50_2", "wide_resnet101_2", "mobilenet_v2",
)

_BN_FIELDS = {"weight": ("params", "scale"), "bias": ("params", "bias"),
              "running_mean": ("batch_stats", "mean"), "running_var": ("batch_stats", "var")}


def _np(t) -> np.ndarray:
    return t.detach().cpu().numpy() if hasattr(t, "detach") else np.asarray(t)


def _resnet_module(path: str) -> str:
    """torchvision ResNet module path -> jaxcnn module name."""
    m = re.fullmatch(r"layer(\d+)\.(\d+)\.(.+)", path)
    if not m:
        return path  # conv1, bn1, fc
    stage, idx, rest = m.groups()
    rest = {"downsample.0": "conv_proj", "downsample.1": "norm_proj"}.get(rest, rest)
    return f"layer{stage}_{idx}/{rest}"


def _mobilenet_module(path: str) -> str:
    """torchvision MobileNetV2 module path -> jaxcnn module name."""
    if path == "classifier.1":
        return "classifier"
    m = re.fullmatch(r"features\.(\d+)(?:\.(.+))?", path)
    if not m:
        raise ValueError(f"unexpected mobilenet_v2 module {path!r}")
    k, rest = int(m.group(1)), m.group(2)
    if k == 0:
        return {"0": "stem_conv", "1": "stem_bn"}[rest]
    if k == 18:
        return {"0": "head_conv", "1": "head_bn"}[rest]
    if k == 1:  # t = 1: no expansion conv
        names = {"conv.0.0": "dw_conv", "conv.0.1": "dw_bn", "conv.1": "project_conv", "conv.2": "project_bn"}
    else:
        names = {"conv.0.0": "expand_conv", "conv.0.1": "expand_bn", "conv.1.0": "dw_conv",
                 "conv.1.1": "dw_bn", "conv.2": "project_conv", "conv.3": "project_bn"}
    return f"block{k - 1}/{names[rest]}"


def _set(tree: dict, path: list[str], value) -> None:
    for p in path[:-1]:
        tree = tree.setdefault(p, {})
    tree[path[-1]] = value


def from_torchvision(name: str, state_dict: Mapping[str, Any], check: bool = True) -> dict:
    """Convert a torchvision ``state_dict`` of model ``name`` into ``{'params', 'batch_stats'}``.

    With ``check=True`` the result is compared, leaf by leaf, with the structure and shapes
    of ``jaxcnn.models.create_model(name)`` and any missing, extra or misshapen entry raises.
    """
    if name not in TORCHVISION_MODELS:
        raise ValueError(f"from_torchvision supports {TORCHVISION_MODELS}, got {name!r}")
    rename = _mobilenet_module if name == "mobilenet_v2" else _resnet_module
    variables: dict = {"params": {}, "batch_stats": {}}
    for key, tensor in state_dict.items():
        module, _, field = key.rpartition(".")
        if field == "num_batches_tracked":
            continue
        arr = _np(tensor)
        target = rename(module).split("/")
        if arr.ndim == 4:  # conv weight
            _set(variables["params"], target + ["kernel"], jnp.asarray(arr.transpose(2, 3, 1, 0)))
        elif arr.ndim == 2:  # linear weight
            _set(variables["params"], target + ["kernel"], jnp.asarray(arr.T))
        elif module in ("fc", "classifier.1"):
            _set(variables["params"], target + ["bias"], jnp.asarray(arr))
        elif field in _BN_FIELDS:
            col, leaf = _BN_FIELDS[field]
            _set(variables[col], target + [leaf], jnp.asarray(arr))
        else:
            raise ValueError(f"cannot convert state_dict entry {key!r} of shape {arr.shape}")
    if check:
        _check_against_model(name, variables)
    return variables


def _check_against_model(name: str, variables: dict) -> None:
    from jaxcnn.models import create_model

    model = create_model(name)
    expected = jax.eval_shape(lambda: model.init(jax.random.key(0), jnp.zeros((1, 64, 64, 3)), train=False))
    flat_e = {jax.tree_util.keystr(k): v.shape for k, v in jax.tree_util.tree_leaves_with_path(expected)}
    flat_g = {jax.tree_util.keystr(k): v.shape for k, v in jax.tree_util.tree_leaves_with_path(variables)}
    missing, extra = sorted(set(flat_e) - set(flat_g)), sorted(set(flat_g) - set(flat_e))
    bad = [f"{k}: got {flat_g[k]}, expected {flat_e[k]}" for k in flat_e.keys() & flat_g.keys() if flat_e[k] != flat_g[k]]
    if missing or extra or bad:
        raise ValueError(
            f"state_dict does not match jaxcnn {name}: missing {missing[:5]}, unexpected {extra[:5]}, "
            f"shape mismatches {bad[:5]}"
        )


def load_state_dict(path: str) -> dict:
    """Load a checkpoint safely: safetensors, or ``torch.load(weights_only=True)`` (never plain pickle)."""
    if str(path).endswith(".safetensors"):
        from safetensors.numpy import load_file

        return load_file(path)
    import torch

    sd = torch.load(path, map_location="cpu", weights_only=True)
    return sd.get("state_dict", sd) if isinstance(sd, dict) else sd
