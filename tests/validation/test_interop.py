"""``jaxcnn.interop``, ``jaxcnn.pretrained`` and the ``python -m jaxcnn.convert`` CLI: bad arguments
named (paths included) before any file is read or any model traced."""

import jax
import numpy as np
import pytest

import jaxcnn
from jaxcnn import convert
from jaxcnn.interop import (
    detect_layout,
    export_state_dict,
    from_state_dict,
    from_torchvision,
    infer_arch,
    layouts_of,
    load_state_dict,
    read_checkpoint,
    to_state_dict,
    write_flax,
    write_safetensors,
)
from jaxcnn.interop.files import flatten_variables, unflatten_variables
from jaxcnn.interop.keymaps import to_flax, to_torch, torch_shape
from jaxcnn.interop.state_dict import abstract_variables, check_variables
from jaxcnn.models import create_model
from jaxcnn.pretrained import model_card, resolve_source

R18 = create_model("resnet18")
SD = {"conv1.weight": np.zeros((64, 3, 7, 7))}
Z2, Z22, Z2233 = np.zeros(2), np.zeros((2, 2)), np.zeros((2, 2, 3, 3))

CASES = [
    ("from_torchvision unknown name", lambda d: from_torchvision("resnet7", SD), ValueError, "name"),
    ("from_torchvision state_dict None", lambda d: from_torchvision("resnet18", None), TypeError, "state_dict"),
    ("from_torchvision state_dict empty", lambda d: from_torchvision("resnet18", {}), ValueError, "state_dict"),
    ("from_torchvision check str", lambda d: from_torchvision("resnet18", SD, check="yes"), TypeError, "check"),
    ("export arch without torch layout", lambda d: export_state_dict({}, "espcn"), ValueError, "arch"),
    ("export path .pth", lambda d: export_state_dict({}, "resnet18", d / "w.pth"), ValueError, "path"),
    ("export variables None", lambda d: export_state_dict(None, "resnet18"), TypeError, "variables"),
    ("load_state_dict missing", lambda d: load_state_dict(d / "w.pth"), ValueError, "path"),
    ("read_checkpoint a directory", lambda d: read_checkpoint(d), ValueError, "path"),
    ("read_checkpoint suffix", lambda d: read_checkpoint(_file(d / "w.txt")), ValueError, "path"),
    ("read_checkpoint truncated safetensors", lambda d: read_checkpoint(_cut(d / "w.safetensors")), ValueError, "path"),
    ("write_safetensors tensors None", lambda d: write_safetensors(d / "a.safetensors", None), TypeError, "tensors"),
    (
        "write_safetensors metadata int",
        lambda d: write_safetensors(d / "a.safetensors", {"w": Z2}, {"n": 1}),
        TypeError,
        "metadata",
    ),
    ("write_safetensors path None", lambda d: write_safetensors(None, {"w": Z2}), TypeError, "path"),
    ("write_flax suffix .pkl", lambda d: write_flax(d / "v.pkl", {}, "espcn"), ValueError, "path"),
    ("write_flax arch None", lambda d: write_flax(d / "v.msgpack", {}, None), TypeError, "arch"),
    (
        "write_flax overrides not JSON",
        lambda d: write_flax(d / "v.msgpack", {}, "espcn", {"dtype": np.float32}),
        TypeError,
        "overrides",
    ),
    ("flatten_variables None", lambda d: flatten_variables(None), TypeError, "variables"),
    ("unflatten_variables int keys", lambda d: unflatten_variables({1: Z2}), TypeError, "flat"),
    ("layouts_of None", lambda d: layouts_of(None), TypeError, "arch"),
    ("to_flax unknown kind (was copied)", lambda d: to_flax(Z22, "x"), ValueError, "kind"),
    ("to_flax conv of 2-D", lambda d: to_flax(Z22, "conv"), ValueError, "kind"),
    ("torch_shape str", lambda d: torch_shape("x", "conv"), TypeError, "flax_shape"),
    ("detect_layout []", lambda d: detect_layout([]), ValueError, "keys"),
    ("detect_layout a str", lambda d: detect_layout("conv1.weight"), TypeError, "keys"),
    ("infer_arch state_dict None", lambda d: infer_arch(None, "timm"), TypeError, "state_dict"),
    ("from_state_dict state_dict None", lambda d: from_state_dict(None, R18, "timm"), TypeError, "state_dict"),
    ("from_state_dict layout", lambda d: from_state_dict(SD, R18, "x"), ValueError, "layout"),
    (
        "from_state_dict skip unknown (skipped nothing)",
        lambda d: from_state_dict(SD, R18, "timm", skip=("nope",)),
        ValueError,
        "skip",
    ),
    ("from_state_dict model str", lambda d: from_state_dict(SD, "resnet18", "timm"), TypeError, "model"),
    ("to_state_dict variables None", lambda d: to_state_dict(None, R18, "timm"), TypeError, "variables"),
    ("check_variables variables None", lambda d: check_variables(None, R18), TypeError, "variables"),
    ("abstract_variables model None", lambda d: abstract_variables(None), TypeError, "model"),
    ("pretrained source int", lambda d: jaxcnn.pretrained(5), TypeError, "source"),
    ("pretrained source missing", lambda d: jaxcnn.pretrained(str(d / "w.safetensors")), ValueError, "source"),
    ("pretrained source {}", lambda d: jaxcnn.pretrained({}), ValueError, "source"),
    ("pretrained source_format", lambda d: jaxcnn.pretrained(SD, source_format="keras"), ValueError, "source_format"),
    ("pretrained num_classes 0", lambda d: jaxcnn.pretrained(SD, num_classes=0), ValueError, "num_classes"),
    ("pretrained arch unknown", lambda d: jaxcnn.pretrained(SD, arch="resnet7"), ValueError, "arch"),
    ("pretrained key int", lambda d: jaxcnn.pretrained(SD, key=0), TypeError, "key"),
    ("model_card unknown", lambda d: model_card("nope"), ValueError, "name"),
    ("resolve_source None", lambda d: resolve_source(None), TypeError, "source"),
]


def _file(path):
    path.write_text("x")
    return path


def _cut(path):
    write_safetensors(path, {"w": np.zeros((64, 64), np.float32)})
    path.write_bytes(path.read_bytes()[:100])
    return path


@pytest.mark.parametrize("name,call,exc,argument", CASES, ids=[c[0] for c in CASES])
def test_bad_input(bad_input, tmp_path, name, call, exc, argument):
    bad_input(lambda: call(tmp_path), exc, argument)


def test_missing_and_truncated_files_are_named(tmp_path):
    with pytest.raises(ValueError, match=f"path '{tmp_path}/w.pth' is not a file"):
        load_state_dict(tmp_path / "w.pth")
    with pytest.raises(ValueError, match=f"path '{tmp_path}/w.safetensors' is not a readable safetensors file"):
        read_checkpoint(_cut(tmp_path / "w.safetensors"))


@pytest.fixture
def src(tmp_path):
    path = tmp_path / "a.safetensors"
    write_safetensors(path, {"w": Z2})
    return str(path)


CLI_CASES = [
    ("--arch unknown", ["--arch", "resnet7"], "--arch"),
    ("--num-classes 0", ["--num-classes", "0"], "--num-classes"),
    ("--num-classes 2.5", ["--num-classes", "2.5"], "--num-classes"),
    ("--source-format", ["--source-format", "keras"], "--source-format"),
    ("--to timm into msgpack", ["--to", "timm"], "--to"),
    ("--set without =", ["--set", "foo"], "--set"),
]


@pytest.mark.parametrize("name,extra,flag", CLI_CASES, ids=[c[0] for c in CLI_CASES])
def test_cli_flags_are_named(tmp_path, src, capsys, name, extra, flag):
    with pytest.raises(SystemExit):
        convert.main([src, str(tmp_path / "o.msgpack"), *extra])
    assert flag in capsys.readouterr().err


def test_cli_paths_are_named(tmp_path, src, capsys):
    with pytest.raises(SystemExit):
        convert.main([src, src])  # would overwrite its input
    assert "dst" in capsys.readouterr().err
    missing = str(tmp_path / "none.safetensors")
    assert convert.main([missing, str(tmp_path / "o.msgpack")]) == 1
    assert f"src {missing!r} is neither a file" in capsys.readouterr().err


def test_valid_edges_are_accepted(tmp_path):
    assert layouts_of("espcn") == ()  # flax only: an answer, not an error
    assert to_flax(Z2, "vector") is not None and to_torch(np.zeros(()), "vector").shape == ()
    assert torch_shape((3, 3, 2, 4), "conv") == (4, 2, 3, 3)
    variables = jax.eval_shape(lambda: R18.init(jax.random.key(0), np.zeros((1, 32, 32, 3)), train=False))
    assert set(abstract_variables(R18)) == set(variables)
