"""Input pipeline on grain: image sources, per-example transforms in worker processes, and a
checkpointable, per-process sharded loader that ``jaxcnn.train.fit`` consumes.

    from jaxcnn.data import ImageFolder, loader, transforms
    train = ImageFolder("data/cifar10-full/train")
    batches = loader(train, 128, transform=transforms.compose(transforms.cifar_train(),
                     transforms.normalize("cifar10")), seed=0, worker_count=2)

An optional part of the library: ``pip install jaxcnn[data]`` (grain and pillow). ``import jaxcnn``
never imports grain.
"""

try:
    import grain  # noqa: F401
    from PIL import Image  # noqa: F401
except ImportError as e:  # pragma: no cover - exercised only without the extra
    raise ImportError(f"jaxcnn.data needs grain and pillow: pip install jaxcnn[data] ({e})") from e

from jaxcnn.data import transforms
from jaxcnn.data.loader import Loader, LoaderIterator, loader
from jaxcnn.data.sources import (
    IMAGE_EXTENSIONS,
    ArraySource,
    ImageFolder,
    check_same_classes,
    dataset_source,
    image_folder_splits,
)

__all__ = [
    "IMAGE_EXTENSIONS",
    "ArraySource",
    "ImageFolder",
    "Loader",
    "LoaderIterator",
    "check_same_classes",
    "dataset_source",
    "image_folder_splits",
    "loader",
    "transforms",
]
