"""grain is optional: the core library imports without it, and jaxcnn.data says how to get it."""

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]

CODE = """
import sys
import jaxcnn, jaxcnn.train, jaxcnn.train.fit
assert "grain" not in sys.modules, "import jaxcnn imported grain"
sys.modules["grain"] = None  # as if not installed
try:
    import jaxcnn.data
except ImportError as e:
    print("IMPORT-ERROR:", e)
"""


def test_core_imports_without_grain_and_data_names_the_extra():
    out = subprocess.run(
        [sys.executable, "-c", CODE],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
        env={"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin"},
    )
    assert out.returncode == 0, out.stderr[-2000:]
    assert "IMPORT-ERROR:" in out.stdout and "pip install jaxcnn[data]" in out.stdout
