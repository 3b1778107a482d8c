"""``jaxcnn.pretrained``: a registry model and its variables from a checkpoint, no torch needed.

    model, variables = jaxcnn.pretrained("resnet50_a1_in1k.safetensors", arch="resnet50")
    model, variables = jaxcnn.pretrained("seresnet50.safetensors", num_classes=10)   # new head
    model, variables = jaxcnn.pretrained("espcn_x3_t91")                             # shipped weights
    logits = model.apply(variables, images_nhwc, train=False)

Sources: a ``.safetensors`` file (read with numpy only) in timm, torchvision or jaxcnn's own layout;
a torch ``.pth``/``.pt``/``.bin`` (``torch.load(weights_only=True)``, needs torch); a ``.msgpack``
written by ``python -m jaxcnn.convert``; a state dict already in memory; or the name of a checkpoint
shipped in the package (``list_pretrained()``; each has a model card, ``model_card(name)``).
"""

from __future__ import annotations

import functools
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from jaxcnn.interop import files, keymaps
from jaxcnn.interop.state_dict import check_variables, from_state_dict
from jaxcnn.validation import ArgumentTypeError, check_choice, check_key, check_positive_int

WEIGHTS_DIR = Path(__file__).resolve().parent / "weights"
SOURCE_FORMATS = ("timm", "torchvision", "flax")


def list_pretrained() -> list[str]:
    """Names of the checkpoints shipped in the package."""
    return sorted(p.stem for p in WEIGHTS_DIR.glob("*.safetensors"))


def model_card(name: str) -> str:
    """The model card (data, recipe, command, measured figure) of a shipped checkpoint."""
    if not isinstance(name, str) or name not in list_pretrained():
        raise ValueError(
            f"name must be a shipped checkpoint: unknown shipped checkpoint {name!r}; shipped: {list_pretrained()}"
        )
    return (WEIGHTS_DIR / f"{name}.md").read_text()


def resolve_source(source: str | Path) -> Path:
    """A shipped checkpoint's file for its name, else ``source`` as a path that must exist."""
    if not isinstance(source, (str, Path)) and not hasattr(source, "__fspath__"):
        raise ArgumentTypeError(f"source must be a path, a shipped name or a state dict, got {type(source).__name__}")
    if isinstance(source, str) and source in list_pretrained():
        return WEIGHTS_DIR / f"{source}.safetensors"
    path = Path(source)
    if not path.is_file():
        raise ValueError(
            f"source {str(source)!r} is neither a file nor a shipped checkpoint; shipped: {list_pretrained()}"
        )
    return path


def pretrained(
    source: Any,
    *,
    arch: str | None = None,
    source_format: str | None = None,
    num_classes: int | None = None,
    key: jax.Array | None = None,
    **overrides,
) -> tuple[Any, dict]:
    """``(model, variables)`` for a checkpoint: ``model.apply(variables, x, train=False)`` runs it.

    Args:
      source: a checkpoint file (``.safetensors``, ``.msgpack``, torch ``.pth``/``.pt``/``.bin``), a state
        dict (mapping of key -> array), or a shipped name (``list_pretrained()``).
      arch: jaxcnn registry name; by default read from a jaxcnn file's metadata or inferred from the
        timm/torchvision keys and shapes (``jaxcnn.interop.keymaps.infer_arch``).
      source_format: ``'timm'``, ``'torchvision'`` or ``'flax'`` (jaxcnn's own); detected from the keys by default.
      num_classes: a head size different from the checkpoint's replaces the head (``fc`` or
        ``classifier``) by a freshly initialised one and loads everything else, as timm's
        ``create_model(..., num_classes=N)`` does; also gives a head to a checkpoint saved without one.
      key: PRNG key of the fresh head (default ``jax.random.key(0)``): same key, same head.
      **overrides: further fields of the model (``create_model(arch, **overrides)``), e.g. ``dtype``.

    Unknown keys, missing keys and shape mismatches raise one ValueError naming them.
    """
    from jaxcnn.models import create_model, list_models

    # every argument before any file is read
    if source_format is not None:
        check_choice(source_format, "source_format", SOURCE_FORMATS)
    if num_classes is not None:
        check_positive_int(num_classes, "num_classes")
    if arch is not None and (not isinstance(arch, str) or arch not in list_models()):
        raise ValueError(f"arch must be a jaxcnn registry name (jaxcnn.models.list_models()), got {arch!r}")
    if key is not None:
        check_key(key, "key")
    if isinstance(source, Mapping):
        if not source:
            raise ValueError("source is an empty state dict")
        state_dict, meta = {k: files._np(v) for k, v in source.items()}, {}
    else:
        state_dict, meta = files.read_checkpoint(resolve_source(source))
    layout = source_format or keymaps.detect_layout(state_dict)
    if arch is None:
        arch = meta.get("arch") if layout == "flax" else keymaps.infer_arch(state_dict, layout)
        if arch is None:
            raise ValueError("this jaxcnn checkpoint does not record its architecture; pass arch")
    if layout == "flax":
        overrides = {**json.loads(meta.get("overrides", "{}")), **overrides}
    elif layout not in keymaps.layouts_of(arch):
        raise ValueError(
            f"arch {arch!r} has no {layout} layout; it has {keymaps.layouts_of(arch) or 'none (flax only)'}"
        )

    head = keymaps.head_name(create_model(arch, **{k: v for k, v in overrides.items() if k != "num_classes"}))
    if num_classes is not None and head is None:
        raise ValueError(f"num_classes={num_classes} given but {arch} has no classifier head")
    # the head's bias (timm, torchvision or flax key) gives the checkpoint's class count
    bias_keys = (f"{head}.bias", f"{head}.1.bias", f"params/{head}/bias")
    ckpt_classes = next((int(np.size(state_dict[k])) for k in bias_keys if k in state_dict), None)
    if head is not None:
        overrides = {**overrides, "num_classes": num_classes or ckpt_classes or overrides.get("num_classes", 1000)}
    model = create_model(arch, **overrides)
    fresh_head = num_classes is not None and num_classes != ckpt_classes  # (num_classes implies a head)

    if layout == "flax":
        flat = {k: v for k, v in state_dict.items() if not (fresh_head and k.split("/")[1] == head)}
        variables = jax.tree.map(jnp.array, files.unflatten_variables(flat))  # a copy, never an alias
    else:
        variables = from_state_dict(state_dict, model, layout, arch=arch, skip=(head,) if fresh_head else ())
    if fresh_head:  # the head model.init(key, ...) would give
        head_params = _init_head(model, head, jax.random.key(0) if key is None else key)
        variables = {**variables, "params": {**variables.get("params", {}), head: head_params}}
    if layout == "flax":
        check_variables(variables, model, arch)
    return model, variables


@functools.partial(jax.jit, static_argnums=(0, 1))  # modules hash by value: one compile per model
def _init_head(model, head: str, key):
    """Only the head leaves the jitted init, so XLA computes nothing else."""
    x = jnp.zeros((1, 32, 32, getattr(model, "in_channels", 3)))
    return model.init(key, x, train=False)["params"][head]


__all__ = ["pretrained", "list_pretrained", "model_card", "resolve_source", "SOURCE_FORMATS", "WEIGHTS_DIR"]
