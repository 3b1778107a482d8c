import os
from pathlib import Path

import pytest

# Data lives beside the repo in ../shared/data; JAXCNN_DATA overrides it.
DATA_DIR = Path(os.environ.get("JAXCNN_DATA", Path(__file__).resolve().parents[1].parent / "shared" / "data"))


@pytest.fixture(scope="session")
def data_dir() -> Path:
    if not DATA_DIR.is_dir():
        pytest.skip(f"shared data not found at {DATA_DIR} (set JAXCNN_DATA)")
    return DATA_DIR
