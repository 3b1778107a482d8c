"""Dataset loaders and deterministic batching, checked against the data READMEs."""

import numpy as np
import pytest

from jaxcnn.train import data


def test_mnist_matches_readme_counts(data_dir):
    ds = data.load_dataset("mnist", data_dir, n_train=9000, n_test=1000)
    labels = np.concatenate([ds.train.labels, ds.test.labels])
    # README: label counts per digit 0..9 of the full test file.
    assert np.bincount(labels).tolist() == [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]
    assert ds.image_shape == (28, 28, 1) and ds.train.images.dtype == np.uint8


def test_cifar_split_is_stratified_fixed_and_disjoint(data_dir):
    ds = data.load_dataset("cifar10", data_dir)
    assert (len(ds.train), len(ds.test), ds.image_shape, ds.num_classes) == (4000, 1000, (32, 32, 3), 10)
    assert np.bincount(ds.train.labels).tolist() == [400] * 10
    assert np.bincount(ds.test.labels).tolist() == [100] * 10
    tr, te = data.stratified_split(np.repeat(np.arange(10), 500), 4000, 1000)
    assert not set(tr) & set(te)
    np.testing.assert_array_equal(tr, data.stratified_split(np.repeat(np.arange(10), 500), 4000, 1000)[0])


def test_batches_are_a_function_of_seed_and_step():
    n, bs = 50, 8  # 6 batches per epoch, 2 images dropped
    epoch0 = np.concatenate([data.batch_indices(n, bs, s, seed=3) for s in range(6)])
    assert len(set(epoch0)) == 48
    np.testing.assert_array_equal(data.batch_indices(n, bs, 4, 3), data.batch_indices(n, bs, 4, 3))
    assert not np.array_equal(data.batch_indices(n, bs, 6, 3), data.batch_indices(n, bs, 0, 3))  # new epoch
    assert not np.array_equal(data.batch_indices(n, bs, 0, 4), data.batch_indices(n, bs, 0, 3))


def test_augment_is_crop_and_flip():
    x = np.arange(2 * 8 * 8 * 1, dtype=np.uint8).reshape(2, 8, 8, 1)
    y = data.augment(x, seed=0, step=0, pad=0)  # no padding: only flips remain
    for a, b in zip(x, y):
        assert np.array_equal(a, b) or np.array_equal(a[:, ::-1], b)
    np.testing.assert_array_equal(data.augment(x, 0, 5), data.augment(x, 0, 5))


def test_eval_batches_pad_and_mask(data_dir):
    ds = data.load_dataset("mnist", data_dir)
    got = list(data.eval_batches(ds, 300))
    assert sum(b["mask"].sum() for b in got) == len(ds.test) == 2000
    assert all(b["image"].shape == (300, 28, 28, 1) for b in got)


def test_bad_names_and_paths(tmp_path):
    with pytest.raises(ValueError, match="unknown dataset 'imagenet'"):
        data.load_dataset("imagenet")
    with pytest.raises(ValueError, match="does not exist"):
        data.load_dataset("mnist", tmp_path)
    with pytest.raises(ValueError, match="batch_size"):
        data.batch_indices(10, 11, 0, 0)
