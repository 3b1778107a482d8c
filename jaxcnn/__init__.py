"""jaxcnn: convolutional building blocks for JAX/Flax, each proven against an independent oracle."""

from jaxcnn.utils import count_params

__version__ = "0.1.0"
__all__ = ["count_params", "__version__"]
