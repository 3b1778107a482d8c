"""``jaxcnn.data.loader``: batches built by hand from the files, epochs, padding, state, and fit resume."""

import shutil

import flax.linen as nn
import jax
import numpy as np
import optax
import pytest
from data_helpers import array_loader
from PIL import Image

from jaxcnn.data import ImageFolder, loader, transforms
from jaxcnn.train import fit
from jaxcnn.train.checkpoint import Checkpointer
from jaxcnn.train.feed import put_local_batch
from jaxcnn.train.parallel import make_mesh


def _by_hand(root, files, labels, order, seed, first_pos, count, n, pad=4):
    """The CIFAR-augmented batch at stream positions first_pos.., read with PIL and cropped with numpy,
    following the documented draws: default_rng([seed, 1, index]) -> (top, left), then flip."""
    imgs, labs = [], []
    for pos in range(first_pos, first_pos + count):
        epoch, k = divmod(pos, n)
        i = order(epoch)[k]
        px = np.asarray(Image.open(root / files[i]).convert("RGB"))
        rng = np.random.default_rng([seed, 1, pos])
        top, left = rng.integers(0, 2 * pad + 1, size=2)
        flip = rng.random() < 0.5
        h, w = px.shape[:2]
        big = np.zeros((h + 2 * pad, w + 2 * pad, 3), np.uint8)
        big[pad : pad + h, pad : pad + w] = px
        crop = big[top : top + h, left : left + w]
        imgs.append(crop[:, ::-1] if flip else crop)
        labs.append(labels[i])
    return np.stack(imgs), np.array(labs)


def test_a_seeded_batch_equals_one_built_by_hand(folder):
    root, truth = folder
    src = ImageFolder(root)
    files, labels, n = sorted(truth), [truth[f][1] for f in sorted(truth)], len(truth)
    assert list(src.files) == files  # sorted class folders, sorted files
    order = lambda e: np.random.default_rng([5, 0, e]).permutation(n)  # the documented shuffle
    it = iter(loader(src, 4, transform=transforms.cifar_train(), seed=5, worker_count=0))
    per_epoch = n // 4  # 2 (one example dropped per epoch)
    for b in range(5):
        batch = next(it)
        epoch, j = divmod(b, per_epoch)
        img, lab = _by_hand(root, files, labels, order, 5, epoch * n + j * 4, 4, n)
        assert batch["image"].dtype == np.uint8 and np.array_equal(batch["image"], img), b
        assert batch["label"].dtype == np.int32 and np.array_equal(batch["label"], lab)


def test_one_epoch_covers_every_file_once_and_pads_the_last_batch(folder):
    root, truth = folder
    src = ImageFolder(root)
    batches = list(loader(src, 4, seed=1, num_epochs=1, drop_remainder=False, worker_count=0))
    assert len(batches) == 3 and all(b["image"].shape == (4, 6, 5, 3) for b in batches)
    mask = np.concatenate([b["mask"] for b in batches])
    assert mask.tolist() == [1] * 9 + [0] * 3
    seen = np.concatenate([b["image"] for b in batches])[mask == 1]
    want = np.stack([px for px, _ in truth.values()])
    key = lambda a: sorted(x.tobytes() for x in a)
    assert key(seen) == key(want)  # every file exactly once
    two = list(loader(src, 3, seed=1, num_epochs=2, worker_count=0))
    assert len(two) == 6 and not np.array_equal(two[0]["image"], two[3]["image"])  # reshuffled per epoch


def test_state_restores_the_same_following_batches(folder):
    src = ImageFolder(folder[0])
    ld = loader(src, 2, transform=transforms.cifar_train(), seed=3, worker_count=0)
    it = iter(ld)
    [next(it) for _ in range(3)]
    state = it.get_state()
    want = [next(it) for _ in range(4)]
    again = iter(ld)
    again.set_state(state)
    got = [next(again) for _ in range(4)]
    assert all(
        np.array_equal(a["image"], b["image"]) and np.array_equal(a["label"], b["label"]) for a, b in zip(want, got)
    )
    assert np.array_equal(ld.batch(3)["image"], want[0]["image"])
    other = iter(loader(src, 2, seed=4, worker_count=0))
    with pytest.raises(ValueError, match="other settings.*seed=3/4"):
        other.set_state(state)


def test_bad_arguments(folder):
    src = ImageFolder(folder[0])
    with pytest.raises(ValueError, match="batch_size=10 is larger than the 9 examples"):
        loader(src, 10, worker_count=0)
    assert len(loader(src, 10, num_epochs=1, drop_remainder=False, worker_count=0)) == 1
    with pytest.raises(TypeError, match="source must support len"):
        loader(object(), 2)
    with pytest.raises(ValueError, match="seed"):
        loader(src, 2, seed=-1)
    with pytest.raises(TypeError, match="transform must be a callable"):
        loader(src, 2, transform="flip")


def test_a_corrupt_file_stops_iteration_naming_it(folder):
    root, _ = folder
    (root / "eel" / "002.png").write_bytes(b"\x89PNG broken")
    it = iter(loader(ImageFolder(root), 9, shuffle=False, num_epochs=1, worker_count=0))
    with pytest.raises(ValueError, match=r"eel/002.png' cannot be decoded"):
        next(it)


def _leaves(s):
    return [np.asarray(x) for x in jax.tree.leaves((s.params, s.batch_stats, s.opt_state))]


class TinyNet(nn.Module):
    """A BatchNorm + Dense classifier: quick to compile, and it has batch statistics to resume."""

    @nn.compact
    def __call__(self, x, train: bool = False):
        x = nn.BatchNorm(use_running_average=not train)(x.reshape(x.shape[0], -1))
        return nn.Dense(10)(x)


def test_fit_resume_from_the_loader_state_is_bit_identical(tmp_path):
    kw = dict(tx=optax.sgd(0.1, 0.9), ckpt_every=2, progress=False)
    full = fit(TinyNet(), array_loader(), 7, out=tmp_path / "full", **kw)
    fit(TinyNet(), array_loader(), 5, out=tmp_path / "cut", **kw)
    shutil.rmtree(tmp_path / "cut" / "ckpt" / "5")  # killed after step 5, before its save
    with Checkpointer(tmp_path / "cut" / "ckpt") as c:
        assert c.data_state(4)["batch"] == 4  # the iterator's position, saved with the step
    resumed = fit(TinyNet(), array_loader(), 7, out=tmp_path / "cut", resume=True, **kw)
    assert resumed.start_step == 4
    assert all(np.array_equal(a, b) for a, b in zip(_leaves(full.state), _leaves(resumed.state)))
    assert (tmp_path / "full" / "metrics.jsonl").read_text() == (tmp_path / "cut" / "metrics.jsonl").read_text()


def test_put_local_batch_one_process_smoke():
    batch = array_loader().batch(0)
    placed = put_local_batch(batch, make_mesh(jax.devices()[:1]))
    assert placed["image"].shape == (8, 8, 8, 3) and np.array_equal(np.asarray(placed["label"]), batch["label"])


@pytest.mark.slow
def test_worker_processes_give_the_same_batches(folder):
    src = ImageFolder(folder[0])
    ld = lambda w: loader(src, 2, transform=transforms.cifar_train(), seed=2, num_epochs=2, worker_count=w)
    a, b = list(ld(0)), list(ld(2))
    assert len(a) == len(b) == 8
    assert all(np.array_equal(x["image"], y["image"]) for x, y in zip(a, b))


def test_normalize_per_batch_equals_per_example(folder):
    """The loader normalises the stacked batch once; the bytes equal normalising each example."""
    src = ImageFolder(folder[0])
    norm = transforms.normalize("cifar10")
    raw = loader(src, 4, transform=transforms.cifar_train(), seed=1, worker_count=0).batch(1)
    got = loader(src, 4, transform=transforms.compose(transforms.cifar_train(), norm), seed=1, worker_count=0).batch(1)
    mean, std = np.float32([0.4914, 0.4822, 0.4465]), np.float32([0.2470, 0.2435, 0.2616])
    want = (raw["image"].astype(np.float32) / np.float32(255.0) - mean) / std  # the formula, by hand
    assert got["image"].dtype == np.float32 and np.array_equal(got["image"], want)
    one = np.stack([norm({"image": im, "label": 0}, 0, 0)["image"] for im in raw["image"]])
    assert np.array_equal(got["image"], one)
