"""``python -m experiments.classify`` (a thin CLI over ``jaxcnn.train.fit``): SIGKILL mid-run then --resume is
bit-identical; bad input."""

import json
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
from train_helpers import REPO, worker_env

from experiments.classify import main
from jaxcnn.train.checkpoint import restore_arrays

STEPS = 60
ARGS = [
    "--model",
    "train_tiny:make_tiny",
    "--dataset",
    "mnist",
    "--steps",
    str(STEPS),
    "--batch-size",
    "64",
    "--ckpt-every",
    "7",
    "--keep",
    "2",
    "--augment",
    "--no-progress",
    "--seed",
    "3",
]


def _lines(out):
    return (out / "metrics.jsonl").read_text().splitlines()


def test_sigkill_then_resume_is_bit_identical(tmp_path, data_dir):
    ref, killed = tmp_path / "ref", tmp_path / "killed"
    main(ARGS + ["--out", str(ref), "--data", str(data_dir)])  # the uninterrupted run, in-process
    cmd = [sys.executable, "-m", "experiments.classify", *ARGS, "--out", str(killed), "--data", str(data_dir)]
    proc = subprocess.Popen(cmd, cwd=REPO, env=worker_env(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline and proc.poll() is None:
            if (killed / "metrics.jsonl").exists() and len(_lines(killed)) >= 20:
                proc.send_signal(signal.SIGKILL)
                break
            time.sleep(0.005)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == -signal.SIGKILL, "run finished before it could be killed"
    assert 20 <= len(_lines(killed)) < STEPS
    done = subprocess.run(cmd + ["--resume"], cwd=REPO, env=worker_env(), capture_output=True, text=True, timeout=90)
    assert done.returncode == 0, done.stderr[-3000:]
    summary = json.loads((killed / "summary.json").read_text())
    assert 0 < summary["resumed_from"] < STEPS
    assert _lines(killed) == _lines(ref)  # every step's loss, bit for bit
    a, b = restore_arrays(ref / "ckpt"), restore_arrays(killed / "ckpt")
    leaves = [(x, y) for x, y in zip(*map(lambda t: __import__("jax").tree.leaves(t), (a, b)))]
    assert int(a["step"]) == int(b["step"]) == STEPS and len(leaves) > 10
    assert all(np.array_equal(x, y) for x, y in leaves)


@pytest.mark.parametrize(
    "argv, match",
    [
        (["--model", "resnet9000"], "argument --model: unknown model 'resnet9000'"),
        (["--dataset", "svhn"], "argument --dataset: unknown dataset 'svhn'"),
    ],
)
def test_bad_names_are_argparse_errors(tmp_path, data_dir, argv, match, capsys):
    with pytest.raises(SystemExit):
        main(
            [
                "--steps",
                "1",
                "--out",
                str(tmp_path),
                "--data",
                str(data_dir),
                "--dataset",
                "mnist",
                "--no-progress",
                *argv,
            ]
        )
    assert match in capsys.readouterr().err


def test_too_many_devices(tmp_path, data_dir):
    with pytest.raises(ValueError, match="devices=64 requested but only"):
        main(
            [
                "--steps",
                "1",
                "--out",
                str(tmp_path),
                "--data",
                str(data_dir),
                "--dataset",
                "mnist",
                "--no-progress",
                "--parallel",
                "mesh",
                "--devices",
                "64",
            ]
        )


def test_resume_guards(tmp_path, data_dir):
    base = ARGS[:4] + [
        "--steps",
        "2",
        "--batch-size",
        "8",
        "--ckpt-every",
        "1",
        "--no-progress",
        "--out",
        str(tmp_path),
        "--data",
        str(data_dir),
    ]
    summary = main(base)
    assert summary["steps"] == 2 and 0 <= summary["test_accuracy"] <= 1 and summary["images_per_sec"] > 0
    with pytest.raises(ValueError, match="already holds checkpoints"):
        main(base)
    with pytest.raises(ValueError, match="incompatible"):
        main(base + ["--resume", "--model-kw", "width=4"])
