"""``experiments.classify --data DIR`` with an ImageFolder root (train/ and test/)."""

import json

import pytest
from data_helpers import write_folder
from PIL import Image

from experiments.classify import main


def test_trains_on_an_image_folder_and_prints_the_test_accuracy(tmp_path, capsys):
    write_folder(tmp_path / "d" / "train", per_class=(4, 4, 4), size=(8, 8))
    write_folder(tmp_path / "d" / "test", per_class=(2, 1, 2), size=(8, 8), seed=1)
    out = tmp_path / "out"
    summary = main(
        [
            "--model",
            "data_helpers:make_tiny",
            "--data",
            str(tmp_path / "d"),
            "--steps",
            "3",
            "--batch-size",
            "4",
            "--workers",
            "0",
            "--augment",
            "--out",
            str(out),
            "--no-progress",
        ]
    )
    assert summary["image_folder"] and 0.0 <= summary["test_accuracy"] <= 1.0
    assert json.loads((out / "summary.json").read_text())["test_accuracy"] == summary["test_accuracy"]
    assert capsys.readouterr().out.strip().splitlines()[-1] == f"test accuracy: {summary['test_accuracy']:.4f}"


def test_class_mismatch_and_imagenet_without_a_folder(tmp_path, capsys):
    write_folder(tmp_path / "d" / "train")
    write_folder(tmp_path / "d" / "test")
    (tmp_path / "d" / "test" / "fox").mkdir()
    Image.new("RGB", (6, 5)).save(tmp_path / "d" / "test" / "fox" / "a.png")
    with pytest.raises(ValueError, match="different classes"):
        main(
            [
                "--model",
                "data_helpers:make_tiny",
                "--data",
                str(tmp_path / "d"),
                "--steps",
                "1",
                "--workers",
                "0",
                "--out",
                str(tmp_path / "o"),
                "--no-progress",
            ]
        )
    with pytest.raises(SystemExit):
        main(["--dataset", "imagenet", "--data", str(tmp_path), "--out", str(tmp_path / "o")])
    assert "needs an ImageFolder root" in capsys.readouterr().err
