"""timm and torchvision models (random init, random BN statistics, no download) saved as safetensors,
loaded by ``jaxcnn.pretrained`` in a process where ``import torch`` fails, give torch's logits; the
variables exported back load into the same torch model with ``strict=True`` and give its logits.

torch is the oracle: the logits come from timm's/torchvision's own code on their own layout.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="PyTorch is the parity oracle; install the [torch] extra")
torchvision = pytest.importorskip("torchvision", reason="torchvision is an oracle; install the [torch] extra")
timm = pytest.importorskip("timm", reason="timm is an oracle; install the [torch] extra")
from safetensors.torch import load_file, save_file  # noqa: E402

from jaxcnn.interop.keymaps import TIMM_NAMES, layouts_of  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
WORKER = Path(__file__).with_name("torchfree_worker.py")
CASES = [(a, lay) for a in TIMM_NAMES for lay in layouts_of(a)]
# The default suite keeps one case of every family and key layout; the big nets, and timm's copies of
# torchvision's plain ResNet keys beyond resnet18, run with the slow tests.
FAST = [
    ("resnet18", "torchvision"),
    ("resnet18", "timm"),
    ("resnet50", "torchvision"),
    ("resnet50d", "timm"),
    ("se_resnet50", "timm"),
    ("resnext50_32x4d", "torchvision"),
    ("mobilenet_v2", "torchvision"),
    ("mobilenet_v2", "timm"),
]
SLOW = [c for c in CASES if c not in FAST]
RTOL = 1e-4  # max |jax - torch| / max |torch|


def torch_model(arch, layout, seed=0):
    """A randomly initialised timm or torchvision model with non-trivial BN, in eval mode."""
    torch.manual_seed(seed)
    m = (
        timm.create_model(TIMM_NAMES[arch], pretrained=False)
        if layout == "timm"
        else getattr(torchvision.models, arch)()
    )
    g = torch.Generator().manual_seed(seed + 1)
    with torch.no_grad():  # so a swapped mean/var or scale/bias shows
        for mod in m.modules():
            if isinstance(mod, torch.nn.BatchNorm2d):
                mod.running_mean.uniform_(-0.5, 0.5, generator=g)
                mod.running_var.uniform_(0.5, 2.0, generator=g)
                mod.weight.uniform_(0.5, 1.5, generator=g)
                mod.bias.uniform_(-0.2, 0.2, generator=g)
    return m.eval()


def run_cases(cases, tmp: Path) -> dict:
    """Save each case's checkpoint and torch logits, run the torch-free worker once over all, and
    return ``{case: (torch logits, jax logits, exported path, worker report, torch model)}``."""
    x = torch.randn(2, 3, 40, 36, generator=torch.Generator().manual_seed(7))  # odd maps: ceil-mode pools
    np.save(tmp / "x.npy", x.numpy())
    jobs, refs = [], {}
    for arch, layout in cases:
        m = torch_model(arch, layout)
        with torch.no_grad():
            ref = m(x).numpy()
        ckpt = tmp / f"{arch}-{layout}.safetensors"
        save_file({k: v.contiguous() for k, v in m.state_dict().items()}, str(ckpt))
        jobs.append(
            {
                "ckpt": str(ckpt),
                "input": str(tmp / "x.npy"),
                "layout": layout,
                "logits_out": str(tmp / f"{arch}-{layout}.npy"),
                "export_out": str(tmp / f"{arch}-{layout}-export.safetensors"),
            }
        )
        refs[(arch, layout)] = ref
    (tmp / "jobs.json").write_text(json.dumps(jobs))
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]))
    proc = subprocess.run(
        [sys.executable, str(WORKER), str(tmp / "jobs.json")],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=1800,
    )
    assert proc.returncode == 0, proc.stderr[-4000:]
    reports = {json.loads(ln)["ckpt"]: json.loads(ln) for ln in proc.stdout.splitlines() if ln.startswith("{")}
    return {
        c: (refs[c], np.load(j["logits_out"]), j["export_out"], reports[j["ckpt"]], x, j["ckpt"])
        for c, j in zip(cases, jobs)
    }


@pytest.fixture(scope="module")
def fast_results(tmp_path_factory):
    return run_cases(FAST, tmp_path_factory.mktemp("parity_fast"))


@pytest.fixture(scope="module")
def slow_results(tmp_path_factory):
    return run_cases(SLOW, tmp_path_factory.mktemp("parity_slow"))


def check_case(results, arch, layout):
    ref, got, exported, report, x, ckpt = results[(arch, layout)]
    assert report["arch"] == arch  # inferred from the keys and shapes alone
    rel = float(np.abs(got - ref).max() / np.abs(ref).max())
    print(f"PARITY {arch} {layout} max_rel_err={rel:.2e}")
    assert got.shape == ref.shape and rel <= RTOL, rel
    # The exported state dict goes back into a torch model whose every float tensor is NaN, strictly.
    m = torch_model(arch, layout)
    with torch.no_grad():
        for t in m.state_dict().values():
            if t.is_floating_point():
                t.fill_(float("nan"))
    m.load_state_dict(load_file(exported), strict=True)
    back = m.state_dict()
    for k, v in load_file(ckpt).items():  # bit for bit: transposes lose nothing
        if not k.endswith("num_batches_tracked"):
            assert torch.equal(back[k], v), k
    with torch.no_grad():
        np.testing.assert_array_equal(m(x).numpy(), ref)


@pytest.mark.torch
@pytest.mark.parametrize("arch,layout", FAST)
def test_torch_free_load_matches_torch(fast_results, arch, layout):
    check_case(fast_results, arch, layout)


@pytest.mark.torch
@pytest.mark.slow
@pytest.mark.parametrize("arch,layout", SLOW)
def test_torch_free_load_matches_torch_big_nets(slow_results, arch, layout):
    check_case(slow_results, arch, layout)
