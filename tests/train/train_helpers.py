"""Subprocess helpers for the training-engine tests (bounded time, explicit device counts)."""

import os
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]


def worker_env(devices: int | None = None) -> dict:
    """The environment of a worker: repo and tests/train importable, ``devices`` host devices."""
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(REPO), str(HERE)]))
    env.pop("XLA_FLAGS", None)
    if devices:
        env["XLA_FLAGS"] = f"--xla_force_host_platform_device_count={devices}"
    return env


def run_python(args, devices=None, timeout=120, check=True) -> subprocess.CompletedProcess:
    """Run ``python ARGS`` in tests/train; killed (TimeoutExpired) after ``timeout`` seconds."""
    proc = subprocess.run(
        [sys.executable, *args], cwd=HERE, env=worker_env(devices), capture_output=True, text=True, timeout=timeout
    )
    if check:
        assert proc.returncode == 0, proc.stderr[-3000:]
    return proc
