"""``jaxcnn.interop``, ``jaxcnn.pretrained`` and the ``python -m jaxcnn.convert`` CLI: bad arguments
named (paths included) before any file is read or any model traced."""

import jax
import numpy as np
import pytest

from jaxcnn import convert
from jaxcnn.interop import (
    layouts_of,
    load_state_dict,
    read_checkpoint,
    write_safetensors,
)
from jaxcnn.interop.keymaps import to_flax, to_torch, torch_shape
from jaxcnn.interop.state_dict import abstract_variables
from jaxcnn.models import create_model

R18 = create_model("resnet18")
Z2, Z22, Z2233 = np.zeros(2), np.zeros((2, 2)), np.zeros((2, 2, 3, 3))


def _cut(path):
    write_safetensors(path, {"w": np.zeros((64, 64), np.float32)})
    path.write_bytes(path.read_bytes()[:100])
    return path


def test_missing_and_truncated_files_are_named(tmp_path):
    with pytest.raises(ValueError, match=f"path '{tmp_path}/w.pth' is not a file"):
        load_state_dict(tmp_path / "w.pth")
    with pytest.raises(ValueError, match=f"path '{tmp_path}/w.safetensors' is not a readable safetensors file"):
        read_checkpoint(_cut(tmp_path / "w.safetensors"))


def test_truncated_msgpack_and_npz_are_named(tmp_path):
    """The readers' own errors (msgpack's, zipfile's BadZipFile) name neither file nor argument."""
    from jaxcnn.interop.files import write_flax

    write_flax(tmp_path / "w.msgpack", {"params": {"w": np.zeros((64, 64), np.float32)}}, "resnet18")
    np.savez(tmp_path / "w.npz", w=np.zeros((64, 64), np.float32))
    for name, what in (("w.msgpack", "msgpack"), ("w.npz", "npz")):
        path = tmp_path / name
        path.write_bytes(path.read_bytes()[:100])
        with pytest.raises(ValueError, match=f"path '{path}' is not a readable {what} file"):
            read_checkpoint(path)


@pytest.fixture
def src(tmp_path):
    path = tmp_path / "a.safetensors"
    write_safetensors(path, {"w": Z2})
    return str(path)


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
