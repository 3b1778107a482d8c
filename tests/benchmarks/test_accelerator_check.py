"""benchmarks/accelerator_check.py cannot rot: its --smoke mode runs the device check's code paths
on the CPU (accelerator = CPU reference, tiny reduced models) and must write a well-formed
results.json whose correctness rows all pass. The fast test runs the cheap sections; the slow one
runs every section, as the device machine will."""

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "benchmarks" / "accelerator_check.py"


def _run(tmp_path, *extra, timeout=900):
    env = dict(os.environ, PYTHONPATH=str(ROOT), JAX_PLATFORMS="cpu")
    proc = subprocess.run(
        [sys.executable, str(SCRIPT), "--smoke", "--out", str(tmp_path), *extra],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]
    doc = json.loads((tmp_path / "results.json").read_text())
    return doc, proc.stdout


def _check_schema(doc):
    assert set(doc) == {"meta", "correctness", "throughput"}
    assert doc["meta"]["smoke"] is True
    for row in doc["correctness"]:
        assert {"name", "err", "tol", "ok"} <= set(row), row
        assert isinstance(row["name"], str) and isinstance(row["tol"], float)
        assert row["ok"] is True, row  # nothing skipped or failed in smoke mode
        assert math.isfinite(row["err"]) and row["err"] <= row["tol"], row
    for row in doc["throughput"]:
        assert {"name", "jax", "torch", "jax_over_torch", "unit"} <= set(row), row
        for k in ("jax", "torch", "jax_over_torch"):
            assert row[k] is None or (isinstance(row[k], float) and math.isfinite(row[k])), row
        if row["torch"] is None:  # a missing torch side is said, never silent
            assert row.get("note"), row
        if row["jax"] is not None and row["torch"]:
            assert row["jax_over_torch"] == pytest.approx(row["jax"] / row["torch"])
        assert "section not completed" not in row["name"], row


def test_accelerator_check_smoke_fast(tmp_path):
    doc, out = _run(tmp_path, "--only", "forms,models,regularizers,conv_transpose", "--models", "espcn")
    _check_schema(doc)
    names = [r["name"] for r in doc["correctness"]]
    assert any(n.startswith("conv_transpose 5 forms") for n in names)
    assert any(n.startswith("espcn train-mode") for n in names)
    assert any("sd 0.5 + dropblock" in n for n in names)
    assert any(r["name"].startswith("conv_transpose (vjp)") for r in doc["throughput"])
    assert "## correctness" in out and "## throughput" in out  # the printed table


@pytest.mark.slow
def test_accelerator_check_smoke_all_sections(tmp_path):
    doc, _ = _run(tmp_path)
    _check_schema(doc)
    names = " ".join(r["name"] for r in doc["correctness"] + doc["throughput"])
    for model in ("resnet50", "resnext50_32x4d", "se_resnet50", "mobilenet_v2", "preact_resnet18", "espcn"):
        assert model in names
    for what in ("bf16", "images/s", "FLOPs utilisation", "peak memory, remat", "stochastic depth"):
        assert what in names, what


def test_without_torch_rows_say_why(tmp_path):
    doc, _ = _run(tmp_path, "--only", "conv_transpose", "--no-torch")
    _check_schema(doc)
    rows = [r for r in doc["throughput"] if r["name"].startswith("conv_transpose (vjp)")]
    assert rows and all(r["torch"] is None and r["jax"] > 0 and "torch" in r["note"] for r in rows)


def test_bad_arguments_are_named():
    env = dict(os.environ, PYTHONPATH=str(ROOT), JAX_PLATFORMS="cpu")
    proc = subprocess.run(
        [sys.executable, str(SCRIPT), "--smoke", "--only", "nope"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 2 and "--only" in proc.stderr and "nope" in proc.stderr
