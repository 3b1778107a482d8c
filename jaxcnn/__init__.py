"""jaxcnn: convolutional building blocks for JAX/Flax, each proven against an independent oracle."""

from jaxcnn.pretrained import list_pretrained, pretrained  # noqa: E402  (the function shadows its module name)
from jaxcnn.utils import count_params

__version__ = "0.1.0"
__all__ = ["count_params", "list_pretrained", "pretrained", "__version__"]
