"""Make the helper modules beside these tests importable (the suite runs with --import-mode=importlib)."""

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from data_helpers import write_folder  # noqa: E402


@pytest.fixture
def folder(tmp_path):
    root = tmp_path / "imgs"
    return root, write_folder(root)
