"""Where the commands find data: ``$JAXCNN_DATA``, else ``../shared/data`` beside the repository (``--data``).

Kept free of jax imports so command-line modules can read it before setting XLA flags.
"""

import os
from pathlib import Path

DEFAULT_DATA = Path(os.environ.get("JAXCNN_DATA", Path(__file__).resolve().parents[1].parent / "shared" / "data"))


def is_image_folder(data) -> bool:
    """``data`` holds ``train/`` and ``test/`` (an ImageFolder root), not the in-memory subsets."""
    return (Path(data) / "train").is_dir() and (Path(data) / "test").is_dir()
