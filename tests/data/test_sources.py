"""``ImageFolder``: classes, order, colour modes and the refusals (each naming the file or folder)."""

import numpy as np
import pytest
from data_helpers import write_folder
from PIL import Image

from jaxcnn.data import ArraySource, ImageFolder, image_folder_splits


def test_reads_every_file_with_its_class(folder):
    root, truth = folder
    src = ImageFolder(root)
    assert src.classes == ("cat", "dog", "eel") and len(src) == len(truth) == 9
    for i in range(len(src)):
        px, label = truth[src.files[i]]
        ex = src[i]
        assert ex["image"].dtype == np.uint8 and np.array_equal(ex["image"], px) and ex["label"] == label


def test_classes_txt_sets_the_label_order(folder):
    root, truth = folder
    (root / "classes.txt").write_text("eel\ncat\ndog\n")
    src = ImageFolder(root)
    assert src.classes == ("eel", "cat", "dog")
    assert {src.files[i]: int(src.labels[i]) for i in range(len(src))} == {
        f: {"eel": 0, "cat": 1, "dog": 2}[f.split("/")[0]] for f in truth
    }
    (root / "classes.txt").write_text("eel\ncat\n")
    with pytest.raises(ValueError, match=r"classes.txt does not match.*not listed \['dog'\]"):
        ImageFolder(root)


def test_colour_modes_become_rgb(tmp_path):
    (tmp_path / "a").mkdir()
    gray = np.arange(12, dtype=np.uint8).reshape(3, 4) * 20
    rgba = np.random.default_rng(1).integers(0, 256, (3, 4, 4), dtype=np.uint8)
    Image.fromarray(gray, "L").save(tmp_path / "a" / "0gray.png")
    Image.fromarray(rgba, "RGBA").save(tmp_path / "a" / "1rgba.png")
    Image.fromarray(gray, "L").convert("P").save(tmp_path / "a" / "2pal.bmp")
    Image.new("CMYK", (4, 3), (0, 0, 0, 0)).save(tmp_path / "a" / "3cmyk.jpg")
    src = ImageFolder(tmp_path)
    assert np.array_equal(src[0]["image"], np.repeat(gray[..., None], 3, -1))
    assert np.array_equal(src[1]["image"], rgba[..., :3])  # alpha dropped
    assert np.array_equal(src[2]["image"], np.repeat(gray[..., None], 3, -1))
    assert src[3]["image"].shape == (3, 4, 3) and src[3]["image"].min() >= 250  # CMYK (0,0,0,0) is white


def test_empty_and_flat_folders(tmp_path):
    with pytest.raises(ValueError, match="holds no class sub-folders"):
        ImageFolder(tmp_path)
    Image.new("RGB", (2, 2)).save(tmp_path / "x.png")  # images without class folders
    with pytest.raises(ValueError, match="holds no class sub-folders"):
        ImageFolder(tmp_path)
    (tmp_path / "empty_class").mkdir()
    with pytest.raises(ValueError, match="empty_class.*holds no images"):
        ImageFolder(tmp_path)
    with pytest.raises(ValueError, match="not an existing directory"):
        ImageFolder(tmp_path / "nope")
    with pytest.raises(TypeError, match="root must be a path"):
        ImageFolder(3)


def test_non_image_file_is_named(folder):
    root, _ = folder
    (root / "dog" / "notes.txt").write_text("hi")
    (root / "dog" / ".DS_Store").write_text("ignored")
    with pytest.raises(ValueError, match=r"dog/notes.txt' is not an image file"):
        ImageFolder(root)


def test_corrupt_and_truncated_files_are_named_when_read(folder):
    root, truth = folder
    good = (root / "cat" / "000.png").read_bytes()
    (root / "cat" / "001.png").write_bytes(good[: len(good) // 2])  # truncated
    (root / "dog" / "000.png").write_bytes(b"not an image at all")
    src = ImageFolder(root)
    with pytest.raises(ValueError, match=r"cat/001.png' cannot be decoded"):
        src[1]
    with pytest.raises(ValueError, match=r"dog/000.png' cannot be decoded"):
        src[3]
    bad = src.verify()
    assert len(bad) == 2 and "cat/001.png" in bad[0] and "dog/000.png" in bad[1]


def test_splits_must_share_classes(tmp_path):
    write_folder(tmp_path / "train")
    write_folder(tmp_path / "test", per_class=(1, 1, 1))
    train, test = image_folder_splits(tmp_path)
    assert train.classes == test.classes and len(test) == 3
    (tmp_path / "test" / "fox").mkdir()
    Image.new("RGB", (2, 2)).save(tmp_path / "test" / "fox" / "a.png")
    with pytest.raises(ValueError, match=r"different classes: only in train \[\], only in test \['fox'\]"):
        image_folder_splits(tmp_path)
    with pytest.raises(ValueError, match="has no train/ folder"):
        image_folder_splits(tmp_path / "test")


def test_array_source_checks():
    src = ArraySource(np.zeros((3, 2, 2, 1), np.uint8), np.array([0, 2, 1]))
    assert len(src) == 3 and src[1]["label"] == 2 and src.classes == ("0", "1", "2")
    with pytest.raises(TypeError, match="images must be uint8"):
        ArraySource(np.zeros((3, 2, 2, 1), np.float32), np.zeros(3, int))
    with pytest.raises(ValueError, match="same length"):
        ArraySource(np.zeros((3, 2, 2, 1), np.uint8), np.zeros(2, int))
