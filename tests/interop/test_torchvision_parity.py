"""Random torchvision weights, converted, give torchvision's logits and BN updates.

torchvision is the oracle: it computes the forward pass with its own code on its own layout.
"""

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="PyTorch is the parity oracle; install the [torch] extra")
torchvision = pytest.importorskip("torchvision", reason="torchvision is the parity oracle; install the [torch] extra")

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402

from jaxcnn.interop import from_torchvision  # noqa: E402
from jaxcnn.models import create_model  # noqa: E402


def _torch_model(name):
    torch.manual_seed(0)
    m = getattr(torchvision.models, name)()
    with torch.no_grad():  # non-trivial BN so a swapped mean/var or scale/bias shows
        for mod in m.modules():
            if isinstance(mod, torch.nn.BatchNorm2d):
                mod.running_mean.uniform_(-0.5, 0.5)
                mod.running_var.uniform_(0.5, 2.0)
                mod.weight.uniform_(0.5, 1.5)
                mod.bias.uniform_(-0.2, 0.2)
    return m


@pytest.mark.torch
@pytest.mark.parametrize("name", ["resnet18", "resnet50", "resnext50_32x4d", "mobilenet_v2"])
def test_eval_logits_and_train_bn_update_match_torchvision(name):
    tm = _torch_model(name).eval()
    x = torch.randn(2, 3, 64, 48, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        ref = tm(x).numpy()
    variables = from_torchvision(name, tm.state_dict())
    model = create_model(name)
    xj = jnp.asarray(x.numpy().transpose(0, 2, 3, 1))  # NCHW -> NHWC at the boundary only
    out = np.asarray(jax.jit(lambda v, x: model.apply(v, x, train=False))(variables, xj))
    scale = max(1.0, float(np.abs(ref).max()))
    assert np.abs(out - ref).max() <= 1e-4 * scale

    # One train-mode forward: running means move identically (momentum 0.1 in torch terms).
    tm.train()
    with torch.no_grad():
        tm(x)
    torch_after = from_torchvision(name, tm.state_dict())["batch_stats"]
    train_fwd = jax.jit(
        lambda v, x: model.apply(v, x, train=True, mutable=["batch_stats"], rngs={"dropout": jax.random.key(0)})
    )
    _, state = train_fwd(variables, xj)
    got = {jax.tree_util.keystr(k): v for k, v in jax.tree_util.tree_leaves_with_path(state["batch_stats"])}
    want = {jax.tree_util.keystr(k): v for k, v in jax.tree_util.tree_leaves_with_path(torch_after)}
    assert got.keys() == want.keys()
    means = [k for k in got if k.endswith("['mean']")]
    assert len(means) > 10
    worst = max(float(np.abs(got[k] - want[k]).max()) for k in means)
    moved = max(
        float(np.abs(got[k] - v).max())
        for k, v in (
            (
                k,
                {jax.tree_util.keystr(p): a for p, a in jax.tree_util.tree_leaves_with_path(variables["batch_stats"])}[
                    k
                ],
            )
            for k in means
        )
    )
    assert moved > 1e-3  # the update is real, so agreement below is meaningful
    assert worst <= 1e-4


def test_converter_rejects_wrong_state_dict():
    sd = _torch_model("resnet18").state_dict()
    with pytest.raises(ValueError, match="does not match jaxcnn resnet34"):
        from_torchvision("resnet34", sd)
    with pytest.raises(ValueError, match="supports"):
        from_torchvision("vgg16", sd)


def test_load_state_dict_uses_weights_only(tmp_path):
    from jaxcnn.interop import load_state_dict

    path = tmp_path / "r18.pt"
    torch.save(_torch_model("resnet18").state_dict(), path)
    sd = load_state_dict(str(path))
    assert "fc.weight" in sd

    class Evil:  # an arbitrary pickled object must be refused, not executed
        def __reduce__(self):
            return (print, ("pwned",))

    bad = tmp_path / "evil.pt"
    torch.save({"x": Evil()}, bad)
    with pytest.raises(ValueError, match=r"evil\.pt' holds pickled objects other than tensors"):
        load_state_dict(str(bad))
    cut = tmp_path / "cut.pth"
    cut.write_bytes(path.read_bytes()[:1000])
    with pytest.raises(ValueError, match=r"cut\.pth' is not a readable torch checkpoint"):
        load_state_dict(str(cut))


def test_converter_refuses_integer_tensors_by_name():
    sd = _torch_model("resnet18").state_dict()  # num_batches_tracked is int64 there and is accepted
    sd["conv1.weight"] = sd["conv1.weight"].long()
    sd["bn1.running_var"] = sd["bn1.running_var"].int()
    with pytest.raises(
        ValueError,
        match=r"bn1\.running_var: checkpoint dtype int32, expected floating point.*"
        r"conv1\.weight: checkpoint dtype int64",
    ):
        from_torchvision("resnet18", sd)
