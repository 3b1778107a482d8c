"""The CIFAR-10 ResNet-20 weights shipped in the package: they load by name as the paper's network, and
the eval-only command reproduces, over the 10,000 test JPEGs, the test accuracy the training run
recorded (with its own conv, in another process) and wrote into the file's metadata."""

import json

import pytest

import jaxcnn
from jaxcnn.interop import read_safetensors
from jaxcnn.pretrained import WEIGHTS_DIR, model_card

NAME = "cifar10_resnet20"


def recorded_accuracy() -> float:
    return float(read_safetensors(WEIGHTS_DIR / f"{NAME}.safetensors")[1]["test_accuracy"])


def test_loads_by_name_as_the_papers_resnet20():
    assert NAME in jaxcnn.list_pretrained()
    model, variables = jaxcnn.pretrained(NAME)
    assert type(model).__name__ == "ResNet" and model.num_classes == 10 and model.stage_sizes == (3, 3, 3)
    assert model.block_args["shortcut_type"] == "A"
    # He et al. 2016, Table 6: 0.27M parameters; the PyTorch twin in benchmarks/ counts 269,722
    assert jaxcnn.count_params(variables["params"]) == 269_722


def test_model_card_states_recipe_data_accuracy_and_commands():
    card = model_card(NAME)
    assert f"{100 * recorded_accuracy():.2f} %" in card
    for needed in (
        "python -m experiments.recipes cifar10_resnet20",
        "benchmarks/torch_cifar_reference.py",
        "PyTorch reference",
        "cifar10-full",
        "--eval-only --weights cifar10_resnet20",
        "wall time",
    ):
        assert needed in card, needed


def test_eval_only_reproduces_the_recorded_test_accuracy(tmp_path, data_dir):
    from experiments.classify import main

    folder = data_dir / "cifar10-full"
    if not folder.is_dir():
        pytest.skip(f"{folder} not found")
    summary = main(["--eval-only", "--weights", NAME, "--data", str(folder), "--out", str(tmp_path), "--workers", "2"])
    written = json.loads((tmp_path / "summary.json").read_text())
    assert written["test_examples"] == 10_000
    assert written["test_accuracy"] == summary["test_accuracy"]
    assert summary["test_accuracy"] == pytest.approx(recorded_accuracy(), abs=5e-4)


def test_eval_only_needs_weights_and_weights_need_eval_only(capsys):
    from experiments.classify import parse_args

    for argv in (["--eval-only"], ["--weights", NAME]):
        with pytest.raises(SystemExit):
            parse_args(argv)
        assert "--eval-only and --weights go together" in capsys.readouterr().err
