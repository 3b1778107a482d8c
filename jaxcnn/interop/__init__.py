"""Weight interop with PyTorch/torchvision (torch is imported lazily, only when loading)."""

from jaxcnn.interop.torch import TORCHVISION_MODELS, from_torchvision, load_state_dict

__all__ = ["TORCHVISION_MODELS", "from_torchvision", "load_state_dict"]
