"""Make the helper modules beside these tests importable (the suite runs with --import-mode=importlib);
subprocess workers import them the same way via PYTHONPATH."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
