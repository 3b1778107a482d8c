"""Weight interop without pickle: timm/torchvision state dicts <-> Flax variables, safetensors I/O.

Reading ``.safetensors`` needs numpy only; torch is imported lazily, only for ``.pth``/``.bin`` files.
``jaxcnn.pretrained`` is the one-call front end; this package holds the pieces.
"""

from jaxcnn.interop.files import read_checkpoint, read_safetensors, write_flax, write_safetensors
from jaxcnn.interop.keymaps import LAYOUTS, TIMM_NAMES, TORCHVISION_NAMES, detect_layout, infer_arch, layouts_of
from jaxcnn.interop.state_dict import from_state_dict, to_state_dict
from jaxcnn.interop.torch import TORCHVISION_MODELS, export_state_dict, from_torchvision, load_state_dict

__all__ = [
    "LAYOUTS",
    "TIMM_NAMES",
    "TORCHVISION_MODELS",
    "TORCHVISION_NAMES",
    "detect_layout",
    "export_state_dict",
    "from_state_dict",
    "from_torchvision",
    "infer_arch",
    "layouts_of",
    "load_state_dict",
    "read_checkpoint",
    "read_safetensors",
    "to_state_dict",
    "write_flax",
    "write_safetensors",
]
