"""``python -m jaxcnn.convert``: torch layout -> Flax file -> torch layout gives back the very tensors."""

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from jaxcnn.convert import main
from jaxcnn.interop import read_safetensors

ROOT = Path(__file__).resolve().parents[2]


def test_help_runs_as_a_module():
    out = subprocess.run([sys.executable, "-m", "jaxcnn.convert", "--help"], capture_output=True, text=True, cwd=ROOT)
    assert out.returncode == 0 and "--arch" in out.stdout and "--to" in out.stdout


@pytest.mark.torch
@pytest.mark.parametrize("fmt", ["msgpack", "safetensors"])
def test_round_trip_through_flax_file_is_exact(tmp_path, capsys, fmt):
    torch = pytest.importorskip("torch", reason="torchvision makes the checkpoint; install [torch]")
    torchvision = pytest.importorskip("torchvision")
    from safetensors.torch import save_file

    torch.manual_seed(0)
    sd = {k: v.contiguous() for k, v in torchvision.models.resnet18().state_dict().items()}
    src, mid, back = tmp_path / "r18.safetensors", tmp_path / f"r18_flax.{fmt}", tmp_path / "back.safetensors"
    save_file(sd, str(src))
    assert main([str(src), str(mid), "--arch", "resnet18"]) == 0
    out = capsys.readouterr().out
    n = len([k for k in sd if not k.endswith("num_batches_tracked")])  # 62 params + 40 BN statistics
    assert f"mapped {n} tensors" in out and "layer2.0.downsample.0.weight -> params/layer2_0/conv_proj/kernel" in out
    assert main([str(mid), str(back), "--to", "torchvision", "--quiet"]) == 0  # arch from the file's metadata
    got, _ = read_safetensors(back)
    assert set(got) == set(sd)
    for k, v in sd.items():
        if not k.endswith("num_batches_tracked"):
            np.testing.assert_array_equal(got[k], v.numpy(), err_msg=k)


def test_bad_destination_and_missing_source(tmp_path, capsys):
    with pytest.raises(SystemExit):
        main([str(tmp_path / "a.safetensors"), str(tmp_path / "b.pkl")])
    assert "never a pickle" in capsys.readouterr().err
    assert main([str(tmp_path / "none.safetensors"), str(tmp_path / "b.safetensors")]) == 1
    assert "neither a file nor a shipped checkpoint" in capsys.readouterr().err
