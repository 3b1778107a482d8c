"""The ``experiments`` command lines: every bad flag is an argparse error naming the flag, raised by
``parse_args`` (before jax work or data loading); valid command lines keep their parsed values."""

import argparse
import contextlib
import importlib
import io
from pathlib import Path

import pytest

from experiments import _cli

NO = "/nonexistent"


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> Path:
    """A fake data tree: enough for the folder checks of parse_args (nothing is read)."""
    root = tmp_path_factory.mktemp("data")
    for sub in ("sr/Set5", "sr/T91", "run"):
        (root / sub).mkdir(parents=True)
    (root / "sr/Set5/butterfly.png").touch()
    (root / "run/params.npz").touch()
    return root


def _parse(module: str, argv: list[str]):
    """``experiments.<module>.parse_args(argv)``; argparse's exit becomes a ValueError carrying its message."""
    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        try:
            return importlib.import_module(f"experiments.{module}").parse_args(argv)
        except SystemExit as e:
            assert e.code == 2, e.code
            raise ValueError(err.getvalue().strip().splitlines()[-1]) from None


def _with(data, module):
    """Valid data folders for the flags a module checks on every parse."""
    return {
        "espcn_sr": ["--train-dir", str(data / "sr/T91"), "--eval-dir", str(data / "sr/Set5")],
        "gallery": ["--data", str(data)],
        "espcn_ship": ["--eval-dir", str(data / "sr/Set5")],
    }.get(module, [])


CASES = [
    ("classify", "--lr", ["--lr", "-1"]),
    ("classify", "--lr", ["--lr", "nan"]),
    ("classify", "--lr", ["--lr", "inf"]),
    ("classify", "--momentum", ["--momentum", "1.5"]),
    ("classify", "--weight-decay", ["--weight-decay", "-1"]),
    ("classify", "--label-smoothing", ["--label-smoothing", "1.5"]),
    ("classify", "--steps", ["--steps", "1.5"]),
    ("classify", "--steps", ["--steps", "0"]),
    ("classify", "--batch-size", ["--batch-size", "0"]),
    ("classify", "--max-nonfinite", ["--max-nonfinite", "0"]),
    ("classify", "--devices", ["--devices", "0"]),
    ("classify", "--keep", ["--keep", "0"]),
    ("classify", "--ckpt-every", ["--ckpt-every", "-1"]),
    ("classify", "--seed", ["--seed", "-1"]),
    ("classify", "--data", ["--data", NO]),
    ("classify", "--model", ["--model", "resnet7"]),
    ("classify", "--model", ["--model", ":make"]),
    ("classify", "--model-kw", ["--model-kw", "foo"]),
    ("classify", "--model-kw", ["--model-kw", "num_classes=abc"]),
    ("classify", "--model-kw", ["--model-kw", "nope=1"]),
    ("classify", "--model-kw", ["--model-kw", "scan_stages=1"]),
    ("classify", "--model-kw", ["--model-kw", "shortcut_type=E"]),
    ("classify", "--dataset", ["--dataset", "imagenet22k"]),
    ("classify", "--schedule", ["--schedule", "linear"]),
    ("espcn_sr", "--scale", ["--scale", "0"]),
    ("espcn_sr", "--scale", ["--scale", "1.5"]),
    ("espcn_sr", "--last-layer-lr", ["--last-layer-lr", "-1"]),
    ("espcn_sr", "--lr", ["--lr", "nan"]),
    ("espcn_sr", "--lr-final", ["--lr-final", "1"]),
    ("espcn_sr", "--rescale", ["--rescale", "0.9", "1.5"]),
    ("espcn_sr", "--context", ["--context", "-1"]),
    ("espcn_sr", "--eval-every", ["--eval-every", "-1"]),
    ("espcn_sr", "--patch", ["--patch", "2.5"]),
    ("espcn_sr", "--train-dir", ["--train-dir", NO]),
    ("espcn_sr", "--eval-dir", ["--eval-dir", NO]),
    ("espcn_sr", "--weights", ["--eval-only", "--weights", "nope"]),
    ("espcn_sr", "--checkpoint", ["--eval-only"]),
    ("classification_study", "--lr", ["--lr", "-1"]),
    ("classification_study", "--datasets", ["--datasets", "imagenet"]),
    ("classification_study", "--datasets", ["--datasets", ","]),
    ("classification_study", "--arms", ["--arms", "nope"]),
    ("classification_study", "--seeds", ["--seeds", "1.5"]),
    ("classification_study", "--data", ["--data", NO]),
    ("gallery", "--steps", ["--steps", "-1"]),
    ("gallery", "--train-images", ["--train-images", "0"]),
    ("gallery", "--image", ["--image", "nope"]),
    ("gallery", "--espcn-weights", ["--espcn-weights", "nope"]),
    ("receptive_fields", "--samples", ["--samples", "0"]),
    ("receptive_fields", "--samples", ["--samples", "-1"]),
    ("receptive_fields", "--checkpoint", ["--checkpoint", NO]),
    ("tradeoffs", "--depths", ["--depths", "0"]),
    ("tradeoffs", "--depths", ["--depths", "a,b"]),
    ("tradeoffs", "--depths", ["--depths", ","]),
    ("tradeoffs", "--warmup", ["--warmup", "5", "--steps", "2"]),
    ("tradeoffs", "--repeats", ["--repeats", "0"]),
    ("tradeoffs", "--steps", ["--steps", "-1"]),
    ("report", "--only", ["--only", "nope"]),
    ("report", "--results", ["--results", "nope"]),
    ("report", "--results", ["--results", "gallery=" + NO]),
    ("report", "--espcn-weights", ["--espcn-weights", "x"]),
    ("demo", "--skip", ["--skip", "params,nope"]),
    ("demo", "--data", ["--data", NO]),
    ("espcn_ship", "run", [NO]),
    ("espcn_ship", "--name", ["--name", "a/b", NO]),
]


@pytest.mark.parametrize("module,flag,argv", CASES, ids=[f"{m} {' '.join(a)}" for m, _, a in CASES])
def test_bad_flag(bad_input, data, module, flag, argv):
    bad_input(lambda: _parse(module, _with(data, module) + argv), ValueError, flag)


def test_espcn_ship_run_needs_params(bad_input, data):
    bad_input(lambda: _parse("espcn_ship", _with(data, "espcn_ship") + [str(data / "sr")]), ValueError, "run")


def test_defaults_and_valid_values_parse_unchanged(data):
    a = _parse(
        "classify",
        [
            "--model-kw",
            "drop_path_rate=0",
            "--model-kw",
            "stage_sizes=(1,1,1)",
            "--lr",
            "1e-3",
            "--momentum",
            "0",
            "--label-smoothing",
            "0.1",
            "--data",
            str(data),
        ],
    )
    assert a.model_kw == ["drop_path_rate=0", "stage_sizes=(1,1,1)"] and a.lr == 1e-3 and a.data == str(data)
    # block options reach the block through create_model (ResNet keeps them in block_args)
    b = _parse("classify", ["--model", "resnext50_32x4d", "--model-kw", "groups=8", "--data", str(data)])
    assert b.model_kw == ["groups=8"]
    assert (
        _parse("classify", ["--model", "train_tiny:make_tiny", "--model-kw", "anything=1"]).model
        == "train_tiny:make_tiny"
    )
    s = _parse("espcn_sr", _with(data, "espcn_sr") + ["--rescale", "0.9", "0.8", "--steps", "0"])
    assert s.rescale == [0.9, 0.8] and s.steps == 0 and isinstance(s.train_dir, str)
    # --eval-only does not read --train-dir, so its (missing) default is not checked
    assert _parse(
        "espcn_sr", ["--eval-only", "--weights", "espcn_x3_t91", "--eval-dir", str(data / "sr/Set5")]
    ).eval_only
    g = _parse("gallery", _with(data, "gallery") + ["--steps", "0"])  # 0 leaves the learned upsamplers out: valid
    assert g.steps == 0 and g.espcn_weights == "espcn_x3_t91" and isinstance(g.data_root, Path)
    assert _parse("tradeoffs", ["--depths", "1,2", "--warmup", "3", "--steps", "3"]).depths == [1, 2]
    assert _parse("classification_study", ["--datasets", "mnist", "--arms", "baseline"]).datasets == ["mnist"]
    assert _parse("demo", ["--skip", ""]).skip == ""
    assert _parse("report", ["--only", "gallery", "--results", f"gallery={data}"]).results == {"gallery": data}
    assert _parse("receptive_fields", ["--samples", "1"]).samples == 1


@pytest.mark.parametrize(
    "helper,good,bad",
    [
        (_cli.positive_int, [("1", 1), ("007", 7)], ["0", "-1", "1.5", "x", ""]),
        (_cli.nonnegative_int, [("0", 0)], ["-1", "2.0"]),
        (_cli.positive_float, [("1e-3", 1e-3)], ["0", "-1", "nan", "inf", "x"]),
        (_cli.nonnegative_float, [("0", 0.0)], ["-1e-9", "nan"]),
        (_cli.probability, [("0", 0.0), ("1", 1.0)], ["1.0001", "-0.1", "nan"]),
        (_cli.comma_ints, [("3,9", "3,9"), ("1,", "1,")], ["", ",", "0", "1.5", "a"]),
        (_cli.key_value, [("a=", "a="), ("x=1=2", "x=1=2")], ["a", "=1", "1a=2"]),
    ],
)
def test_helpers(helper, good, bad):
    for text, want in good:
        assert helper(text) == want
    for text in bad:
        with pytest.raises(argparse.ArgumentTypeError):
            helper(text)
