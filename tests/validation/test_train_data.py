"""``jaxcnn.train.data``: bad arguments named at the boundary (nothing silently broadcast or truncated)."""

import numpy as np
import pytest

from jaxcnn.train.data import (
    Dataset,
    Split,
    augment,
    batch_indices,
    eval_batches,
    load_dataset,
    normalize,
    stratified_split,
    train_batch,
)

NAN = float("nan")
IMGS = np.zeros((20, 8, 8, 3), np.uint8)
LABELS = np.arange(20) % 4
DS = Dataset("t", Split(IMGS, LABELS), Split(IMGS, LABELS), 4, (0.5,) * 3, (0.25,) * 3)
M3, S3 = (0.5,) * 3, (0.2,) * 3

CASES = [
    (
        "normalize 3-channel mean on 1 channel",
        lambda: normalize(np.zeros((2, 4, 4, 1), np.uint8), M3, S3),
        ValueError,
        "mean",
    ),
    ("normalize std=0", lambda: normalize(IMGS, M3, (0.0,) * 3), ValueError, "std"),
    ("normalize std negative", lambda: normalize(IMGS, M3, (-0.2,) * 3), ValueError, "std"),
    ("normalize std 2 entries", lambda: normalize(IMGS, M3, (0.2, 0.2)), ValueError, "std"),
    ("normalize mean nan", lambda: normalize(IMGS, (NAN,) * 3, S3), ValueError, "mean"),
    ("normalize mean str", lambda: normalize(IMGS, "0.5", S3), TypeError, "mean"),
    ("normalize images 3-D", lambda: normalize(IMGS[0], M3, S3), ValueError, "images"),
    ("normalize images float", lambda: normalize(IMGS.astype(np.float32), M3, S3), TypeError, "images"),
    ("normalize images list", lambda: normalize([[1]], M3, S3), TypeError, "images"),
    ("batch_indices batch_size=0", lambda: batch_indices(10, 0, 0, 0), ValueError, "batch_size"),
    ("batch_indices batch_size > n", lambda: batch_indices(10, 11, 0, 0), ValueError, "batch_size"),
    ("batch_indices batch_size=2.5", lambda: batch_indices(10, 2.5, 0, 0), TypeError, "batch_size"),
    ("batch_indices batch_size=True", lambda: batch_indices(10, True, 0, 0), TypeError, "batch_size"),
    ("batch_indices step=-1", lambda: batch_indices(10, 2, -1, 0), ValueError, "step"),
    ("batch_indices step=1.5", lambda: batch_indices(10, 2, 1.5, 0), TypeError, "step"),
    ("batch_indices seed=-1", lambda: batch_indices(10, 2, 0, -1), ValueError, "seed"),
    ("batch_indices n=0", lambda: batch_indices(0, 2, 0, 0), ValueError, "n"),
    ("batch_indices n=2.5", lambda: batch_indices(2.5, 2, 0, 0), TypeError, "n"),
    ("augment pad=-1", lambda: augment(IMGS, 0, 0, pad=-1), ValueError, "pad"),
    ("augment pad=2.5", lambda: augment(IMGS, 0, 0, pad=2.5), TypeError, "pad"),
    ("augment pad=8 (reflects twice)", lambda: augment(IMGS, 0, 0, pad=8), ValueError, "pad"),
    ("augment images 3-D", lambda: augment(IMGS[0], 0, 0), ValueError, "images"),
    ("augment seed=-1", lambda: augment(IMGS, -1, 0), ValueError, "seed"),
    ("augment step=1.5", lambda: augment(IMGS, 0, 1.5), TypeError, "step"),
    ("stratified_split n_train=2.5", lambda: stratified_split(LABELS, 2.5, 4), TypeError, "n_train"),
    ("stratified_split n_train=0", lambda: stratified_split(LABELS, 0, 4), ValueError, "n_train"),
    ("stratified_split n_test=-1", lambda: stratified_split(LABELS, 4, -1), ValueError, "n_test"),
    ("stratified_split too many", lambda: stratified_split(LABELS, 15, 10), ValueError, "n_train"),
    ("stratified_split seed=-1", lambda: stratified_split(LABELS, 4, 4, seed=-1), ValueError, "seed"),
    ("stratified_split labels 2-D", lambda: stratified_split(LABELS[:, None], 4, 4), ValueError, "labels"),
    ("load_dataset unknown name", lambda: load_dataset("imagenet22k"), ValueError, "name"),
    ("load_dataset name None", lambda: load_dataset(None), ValueError, "name"),
    ("load_dataset data_dir=5", lambda: load_dataset("mnist", 5), TypeError, "data_dir"),
    ("load_dataset missing data_dir", lambda: load_dataset("mnist", "/nonexistent"), ValueError, "data_dir"),
    (
        "load_dataset n_train=0 (would mean default)",
        lambda: load_dataset("mnist", "/tmp", n_train=0),
        ValueError,
        "n_train",
    ),
    ("load_dataset n_test=2.5", lambda: load_dataset("mnist", "/tmp", n_test=2.5), TypeError, "n_test"),
    ("train_batch batch_size=0", lambda: train_batch(DS, 0, 0, 0), ValueError, "batch_size"),
    ("train_batch ds a dict", lambda: train_batch({"train": None}, 4, 0, 0), TypeError, "ds"),
    ("train_batch augmentation str", lambda: train_batch(DS, 4, 0, 0, augmentation="yes"), TypeError, "augmentation"),
    ("eval_batches batch_size=0", lambda: eval_batches(DS, 0), ValueError, "batch_size"),
    ("eval_batches batch_size=-1", lambda: eval_batches(DS, -1), ValueError, "batch_size"),
    ("eval_batches ds None", lambda: eval_batches(None, 4), TypeError, "ds"),
    ("Split images 3-D", lambda: Split(IMGS[0], LABELS), ValueError, "images"),
    ("Split lengths differ", lambda: Split(IMGS, LABELS[:5]), ValueError, "labels"),
    ("Dataset num_classes=0", lambda: Dataset("t", DS.train, DS.test, 0, M3, S3), ValueError, "num_classes"),
    ("Dataset 1-entry mean on 3 channels", lambda: Dataset("t", DS.train, DS.test, 4, (0.5,), S3), ValueError, "mean"),
    ("Dataset train None", lambda: Dataset("t", None, DS.test, 4, M3, S3), TypeError, "train"),
]


@pytest.mark.parametrize("name,call,exc,argument", CASES, ids=[c[0] for c in CASES])
def test_bad_input(bad_input, name, call, exc, argument):
    bad_input(call, exc, argument)


def test_valid_edges_are_accepted():
    assert augment(IMGS, 0, 0, pad=0).shape == IMGS.shape  # no crop, flips only
    assert augment(IMGS, 0, 0, pad=7).shape == IMGS.shape  # the widest single reflection of 8 pixels
    tr, te = stratified_split(LABELS, 8, 0)  # no test split is fine
    assert len(tr) == 8 and len(te) == 0
    assert batch_indices(np.int64(10), np.int64(5), np.int64(1), np.int64(3)).shape == (5,)
    assert normalize(IMGS, np.array(M3), list(S3)).dtype == np.float32


def test_eval_batches_checks_when_called_not_at_first_next():
    with pytest.raises(ValueError, match="batch_size"):
        eval_batches(DS, 0)  # no next(): a generator would only fail later
    assert sum(b["mask"].sum() for b in eval_batches(DS, 6)) == 20
