"""Where the studies find data: ``$JAXCNN_DATA``, else ``../shared/data`` beside the repository.

Kept free of jax imports so command-line modules can read it before setting XLA flags.
"""

import os
from pathlib import Path

DEFAULT_DATA = Path(os.environ.get("JAXCNN_DATA", Path(__file__).resolve().parents[1].parent / "shared" / "data"))
