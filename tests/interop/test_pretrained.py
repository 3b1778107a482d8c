"""``jaxcnn.pretrained``: a new head for ``num_classes``, and mismatched checkpoints named in errors.

The checkpoints are torchvision's/timm's own state dicts (random init); the expected Flax tensors are
transposed here by hand (OIHW -> HWIO, (out, in) -> (in, out)), independently of the key maps.
"""

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="torchvision/timm state dicts are the checkpoints; install [torch]")
torchvision = pytest.importorskip("torchvision", reason="install the [torch] extra")
timm = pytest.importorskip("timm", reason="install the [torch] extra")
import jax  # noqa: E402
from safetensors.torch import save_file  # noqa: E402

import jaxcnn  # noqa: E402


@pytest.fixture(scope="module")
def r18(tmp_path_factory):
    torch.manual_seed(0)
    sd = {k: v.contiguous() for k, v in torchvision.models.resnet18().state_dict().items()}
    path = tmp_path_factory.mktemp("ckpt") / "resnet18.safetensors"
    save_file(sd, str(path))
    return path, {k: v.numpy() for k, v in sd.items()}


def _flax_leaf(sd, module, leaf):
    """The checkpoint tensor behind jaxcnn's ``module/leaf``, transposed by hand."""
    tmod = module.replace("_", ".", 1) if module.startswith("layer") else module
    tmod = tmod.replace("conv_proj", "downsample.0").replace("norm_proj", "downsample.1")
    name = {"kernel": "weight", "scale": "weight", "bias": "bias", "mean": "running_mean", "var": "running_var"}[leaf]
    t = sd[f"{tmod}.{name}"]
    return t.transpose(2, 3, 1, 0) if t.ndim == 4 else (t.T if t.ndim == 2 else t)


@pytest.mark.torch
def test_num_classes_10_replaces_only_the_head(r18):
    path, sd = r18
    model, variables = jaxcnn.pretrained(str(path), num_classes=10, key=jax.random.key(3))
    assert model.num_classes == 10
    leaves = jax.tree_util.tree_leaves_with_path(variables)
    seen = 0
    for p, v in leaves:
        col, *mods, leaf = [getattr(k, "key", k) for k in p]
        if mods[0] == "fc":
            continue
        np.testing.assert_array_equal(np.asarray(v), _flax_leaf(sd, "/".join(mods).replace("/", "."), leaf))
        seen += 1
    assert seen == len([k for k in sd if not k.endswith("num_batches_tracked")]) - 2  # all but fc.weight/bias
    head = variables["params"]["fc"]
    assert head["kernel"].shape == (512, 10) and head["bias"].shape == (10,)
    assert float(np.abs(head["kernel"]).max()) > 0  # freshly initialised, not zeros
    _, again = jaxcnn.pretrained(str(path), num_classes=10, key=jax.random.key(3))
    np.testing.assert_array_equal(head["kernel"], again["params"]["fc"]["kernel"])  # same key, same bits
    x = np.zeros((1, 32, 32, 3), np.float32)
    assert model.apply(variables, x, train=False).shape == (1, 10)


@pytest.mark.torch
def test_fresh_head_is_the_models_init_under_key(r18):
    path, _ = r18
    model, v3 = jaxcnn.pretrained(str(path), num_classes=10, key=jax.random.key(3))
    _, v4 = jaxcnn.pretrained(str(path), num_classes=10, key=jax.random.key(4))
    assert not np.array_equal(v3["params"]["fc"]["kernel"], v4["params"]["fc"]["kernel"])
    want = model.init(jax.random.key(4), np.zeros((1, 32, 32, 3), np.float32), train=False)["params"]["fc"]
    for leaf in ("kernel", "bias"):
        np.testing.assert_array_equal(v4["params"]["fc"][leaf], want[leaf])


@pytest.mark.torch
def test_num_classes_on_timm_mobilenet_replaces_classifier(tmp_path):
    torch.manual_seed(0)
    path = tmp_path / "mbv2.safetensors"
    save_file({k: v.contiguous() for k, v in timm.create_model("mobilenetv2_100").state_dict().items()}, str(path))
    model, variables = jaxcnn.pretrained(str(path), num_classes=7)
    assert model.num_classes == 7 and variables["params"]["classifier"]["kernel"].shape == (1280, 7)
    assert variables["params"]["classifier"]["bias"].shape == (7,)


@pytest.mark.torch
def test_same_num_classes_keeps_the_checkpoint_head(r18):
    path, sd = r18
    _, variables = jaxcnn.pretrained(str(path), num_classes=1000)
    np.testing.assert_array_equal(variables["params"]["fc"]["kernel"], sd["fc.weight"].T)


@pytest.mark.torch
def test_wrong_architecture_names_the_keys(r18):
    path, _ = r18
    with pytest.raises(ValueError, match=r"jaxcnn resnet34.*missing keys.*layer1\.2\.conv1\.weight"):
        jaxcnn.pretrained(str(path), arch="resnet34")
    with pytest.raises(
        ValueError,
        match=r"missing keys.*layer1\.0\.conv3\.weight.*shape mismatches.*"
        r"fc\.weight: checkpoint \(1000, 512\), expected \(1000, 2048\)",
    ):
        jaxcnn.pretrained(str(path), arch="resnet50")


@pytest.mark.torch
def test_missing_and_unknown_keys_are_named(r18):
    _, sd = r18
    sd = dict(sd)
    del sd["layer2.0.bn1.running_var"]
    sd["layer2.0.extra.weight"] = np.zeros(3, np.float32)
    with pytest.raises(ValueError) as e:
        jaxcnn.pretrained(sd, arch="resnet18")
    msg = str(e.value)
    assert "1 missing keys: ['layer2.0.bn1.running_var']" in msg
    assert "1 unknown keys: ['layer2.0.extra.weight']" in msg


@pytest.mark.torch
def test_transposed_tensors_are_named_with_their_shapes(r18):
    _, sd = r18
    sd = dict(
        sd,
        **{
            "fc.weight": sd["fc.weight"].T,  # (512, 1000): a Flax kernel left untransposed
            "layer2.0.conv1.weight": sd["layer2.0.conv1.weight"].transpose(1, 0, 2, 3),
        },
    )
    with pytest.raises(ValueError) as e:
        jaxcnn.pretrained(sd, arch="resnet18", source_format="torchvision")
    msg = str(e.value)
    assert "fc.weight: checkpoint (512, 1000), expected (1000, 512)" in msg
    assert "layer2.0.conv1.weight: checkpoint (64, 128, 3, 3), expected (128, 64, 3, 3)" in msg


def test_bad_arguments_name_themselves(tmp_path):
    with pytest.raises(ValueError, match="source_format must be one of"):
        jaxcnn.pretrained({}, source_format="keras")
    with pytest.raises(ValueError, match="num_classes must be a positive integer, got 0"):
        jaxcnn.pretrained({}, num_classes=0)
    with pytest.raises(ValueError, match="neither a file nor a shipped checkpoint"):
        jaxcnn.pretrained(str(tmp_path / "nope.safetensors"))
    with pytest.raises(ValueError, match="cannot tell the layout"):
        jaxcnn.pretrained({"w": np.zeros(2)})
    with pytest.raises(ValueError, match="has no torchvision layout"):
        jaxcnn.pretrained({"conv1.weight": np.zeros(2), "layer1.0.x": np.zeros(2)}, arch="resnet50d")
