"""The ``experiments`` command lines: every bad flag is an argparse error naming the flag, raised by
``parse_args`` (before jax work or data loading); valid command lines keep their parsed values."""

import argparse
import contextlib
import importlib
import io
from pathlib import Path

import pytest

from experiments import _cli


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
