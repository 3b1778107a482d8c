"""Model-name front ends over ``jaxcnn.interop.state_dict``: ``from_torchvision`` (torchvision state
dict -> Flax variables), ``export_state_dict`` (Flax variables -> torch-layout safetensors) and
``load_state_dict``. torch is imported lazily, only to read ``.pth``/``.bin`` files.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from jaxcnn.interop import keymaps
from jaxcnn.interop.files import _check_mapping, _np, read_checkpoint, write_safetensors
from jaxcnn.interop.state_dict import from_state_dict, to_state_dict
from jaxcnn.validation import check_bool

__all__ = ["TORCHVISION_MODELS", "from_torchvision", "export_state_dict", "load_state_dict"]

TORCHVISION_MODELS = tuple(keymaps.TORCHVISION_NAMES)


def from_torchvision(name: str, state_dict: Mapping[str, Any], check: bool = True) -> dict:
    """Convert a torchvision ``state_dict`` of model ``name`` into ``{'params', 'batch_stats'}``.

    Every key must map and every model leaf must be present with its shape, else a ValueError lists
    the differences. ``check=False`` is accepted for compatibility and changes nothing; to load a
    checkpoint with a different head use ``jaxcnn.pretrained(..., num_classes=N)``.
    """
    from jaxcnn.models import create_model

    if not isinstance(name, str) or name not in TORCHVISION_MODELS:
        raise ValueError(f"name must be a model from_torchvision supports, one of {TORCHVISION_MODELS}, got {name!r}")
    _check_mapping(state_dict, "state_dict")
    if not state_dict:
        raise ValueError(f"state_dict is empty: expected the {name} tensors")
    check_bool(check, "check")
    state_dict = {k: _np(v) for k, v in state_dict.items()}
    model = create_model(name)
    bias = state_dict.get("fc.bias", state_dict.get("classifier.1.bias"))
    if bias is not None and np.size(bias) != model.num_classes:
        model = create_model(name, num_classes=int(np.size(bias)))
    return from_state_dict(state_dict, model, "torchvision", arch=name)


def export_state_dict(
    variables: Mapping, arch: str, path: str | Path | None = None, layout: str = "torchvision", **overrides
) -> dict[str, np.ndarray]:
    """Flax ``variables`` of registry model ``arch`` as a ``layout`` (``'torchvision'`` or ``'timm'``) state dict
    of numpy arrays, written to ``path`` as safetensors when given. The head size is read from the
    variables. Load it in PyTorch with ``model.load_state_dict({k: torch.from_numpy(v) ...}, strict=True)``
    or ``safetensors.torch.load_file(path)``."""
    from jaxcnn.models import create_model

    _check_mapping(variables, "variables")
    if not keymaps.layouts_of(arch):
        raise ValueError(
            f"arch must be an architecture with a torch layout, one of {sorted(keymaps.TIMM_NAMES)}, got {arch!r}"
        )
    if layout not in keymaps.layouts_of(arch):
        raise ValueError(f"layout must be one of {keymaps.layouts_of(arch)} for arch {arch!r}, got {layout!r}")
    if path is not None and not str(path).endswith(".safetensors"):  # the file is safetensors whatever its name
        raise ValueError(f"path must end in .safetensors, got {str(path)!r}")
    model = create_model(arch, **overrides)
    head = keymaps.head_name(model)
    if head is not None and head in variables.get("params", {}):
        overrides["num_classes"] = int(np.shape(variables["params"][head]["kernel"])[-1])
        model = create_model(arch, **overrides)
    sd = to_state_dict(variables, model, layout)
    if path is not None:
        write_safetensors(path, sd, {"format": "pt", "source": f"jaxcnn {arch}", "layout": layout})
    return sd


def load_state_dict(path: str) -> dict:
    """Load a checkpoint safely: safetensors (numpy), or ``torch.load(weights_only=True)`` (never plain pickle).
    ``path`` must be an existing file."""
    return read_checkpoint(path)[0]
