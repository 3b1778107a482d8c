"""The CIFAR-10 recipe and its PyTorch twin: the recipe is the paper's setting it claims, and the twin
shares with jaxcnn the network size, the augmentation and the epoch order it claims (the twin is
plain torch + numpy, no jaxcnn code), and runs, checkpoints and resumes end to end on a tiny folder."""

import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest

from experiments import classify
from experiments.recipes import EPOCH_STEPS, RECIPES, main, recipe_argv

TWIN = Path(__file__).resolve().parents[2] / "benchmarks" / "torch_cifar_reference.py"


def twin():
    pytest.importorskip("torch")
    spec = importlib.util.spec_from_file_location("torch_cifar_reference", TWIN)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_recipe_is_he_et_al_resnet20_with_sgd_on_full_epochs(tmp_path):
    args = classify.parse_args(recipe_argv("cifar10_resnet20", ["--data", str(tmp_path)]))
    assert (args.model, args.batch_size, args.lr, args.momentum, args.nesterov) == (
        "cifar_resnet20",
        128,
        0.1,
        0.9,
        False,
    )
    assert args.weight_decay == 5e-4 and args.augment and args.schedule == "cosine" and args.seed == 0
    assert EPOCH_STEPS == 390 and args.steps == 30 * 390 and args.ckpt_every == 390
    assert args.conv == "onednn"
    # flags after the name win
    assert classify.parse_args(recipe_argv("cifar10_resnet20", ["--data", str(tmp_path), "--seed", "3"])).seed == 3
    with pytest.raises(ValueError, match="unknown recipe"):
        recipe_argv("cifar10_resnet2", [])


def test_list_prints_every_recipe(capsys):
    assert main(["--list"]) is None
    out = capsys.readouterr().out
    assert all(f"{name}: python -m experiments.classify" in out for name in RECIPES)


def test_twin_has_jaxcnns_parameter_count():
    import jaxcnn
    from jaxcnn.models import create_model

    R = twin()
    model = create_model("cifar_resnet20")
    variables = model.init(__import__("jax").random.key(0), np.zeros((1, 32, 32, 3), np.float32))
    assert sum(p.numel() for p in R.ResNet20().parameters()) == jaxcnn.count_params(variables["params"]) == 269_722


def test_twin_augments_and_orders_like_the_loader():
    from jaxcnn.data import ArraySource, loader
    from jaxcnn.data.transforms import cifar_train

    R = twin()
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (300, 32, 32, 3), dtype=np.uint8)
    for index in (0, 7, 12_345):
        expected = cifar_train()({"image": images[0], "label": 0}, 5, index)["image"]
        np.testing.assert_array_equal(R.augment(images[0], 5, index), expected)
    # epoch 1 of the loader (batch 100 of 300): rows in the order default_rng([seed, 0, epoch]).permutation(n)
    batches = iter(loader(ArraySource(images, np.arange(300)), 100, seed=5, worker_count=0))
    labels = np.concatenate([next(batches)["label"] for _ in range(6)])[300:]
    np.testing.assert_array_equal(labels, np.random.default_rng([5, 0, 1]).permutation(300))


def test_twin_trains_checkpoints_and_resumes(tmp_path):
    from PIL import Image

    R = twin()
    root = tmp_path / "data"
    rng = np.random.default_rng(1)
    for split, n in (("train", 64), ("test", 8)):
        for c in ("a", "b"):
            (root / split / c).mkdir(parents=True)
            for i in range(n):
                Image.fromarray(rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)).save(root / split / c / f"{i}.png")
    out = tmp_path / "out"
    first = R.main(["--data", str(root), "--out", str(out), "--epochs", "1", "--threads", "1"])
    rows = [json.loads(r) for r in (out / "metrics.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in rows] == [1] and 0 <= first["test_accuracy"] <= 1 and (out / "ckpt.pt").is_file()
    second = R.main(["--data", str(root), "--out", str(out), "--epochs", "2", "--threads", "1", "--resume"])
    rows = [json.loads(r) for r in (out / "metrics.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in rows] == [1, 2] and second["epochs"] == 2 and second["steps"] == 2
