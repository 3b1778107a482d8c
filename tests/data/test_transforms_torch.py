"""Transforms against torchvision's functional ops on PIL images, with the same crop parameters."""

import numpy as np
import pytest
from PIL import Image

from jaxcnn.data import transforms as T

pytestmark = pytest.mark.torch
F = pytest.importorskip("torchvision.transforms.functional", reason="torchvision is the oracle")


def _img(h, w, seed=0):
    return np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)


def test_cifar_train_is_pad_crop_flip():
    x = _img(32, 32)
    for index in range(6):
        got = T.cifar_train()({"image": x, "label": 0}, 9, index)["image"]
        rng = T.example_rng(9, index)
        top, left = rng.integers(0, 9, size=2)
        flip = rng.random() < 0.5
        ref = F.crop(F.pad(Image.fromarray(x), 4, fill=0), int(top), int(left), 32, 32)  # RandomCrop(32, padding=4)
        ref = np.asarray(F.hflip(ref) if flip else ref)
        assert np.array_equal(got, ref), index


def test_imagenet_train_is_a_resized_crop_then_flip():
    x = _img(70, 90, 1)
    for index in range(6):
        got = T.imagenet_train(24)({"image": x, "label": 0}, 4, index)["image"]
        rng = T.example_rng(4, index)
        top, left, h, w = T.resized_crop_params(70, 90, rng)
        assert 0.08 * 70 * 90 * 0.9 <= h * w <= 70 * 90 and 3 / 4 * 0.9 <= w / h <= 4 / 3 * 1.1
        ref = F.resized_crop(Image.fromarray(x), top, left, h, w, [24, 24], interpolation=F.InterpolationMode.BILINEAR)
        ref = np.asarray(F.hflip(ref) if rng.random() < 0.5 else ref)
        assert np.array_equal(got, ref), index


@pytest.mark.parametrize("hw", [(300, 400), (257, 256), (224, 500)])
def test_imagenet_eval_is_resize_256_center_crop_224(hw):
    x = _img(*hw, 2)
    got = T.imagenet_eval(224)({"image": x, "label": 0}, 0, 0)["image"]
    ref = F.center_crop(F.resize(Image.fromarray(x), 256, interpolation=F.InterpolationMode.BILINEAR), 224)
    assert got.shape == (224, 224, 3) and np.array_equal(got, np.asarray(ref))


def test_normalize_uses_the_published_statistics():
    x = _img(4, 4)
    got = T.normalize("imagenet")({"image": x, "label": 0}, 0, 0)["image"]
    torch = pytest.importorskip("torch")
    ref = F.normalize(F.to_tensor(Image.fromarray(x)), [0.485, 0.456, 0.406], [0.229, 0.224, 0.225])
    np.testing.assert_allclose(got, ref.permute(1, 2, 0).numpy(), rtol=1e-5, atol=1e-5)
    assert torch is not None
    with pytest.raises(ValueError, match="unknown dataset 'svhn'"):
        T.normalize("svhn")
