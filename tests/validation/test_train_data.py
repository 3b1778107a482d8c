"""``jaxcnn.train.data``: bad arguments named at the boundary (nothing silently broadcast or truncated)."""

import numpy as np
import pytest

from jaxcnn.train.data import (
    Dataset,
    Split,
    augment,
    batch_indices,
    eval_batches,
    normalize,
    stratified_split,
)

IMGS = np.zeros((20, 8, 8, 3), np.uint8)
LABELS = np.arange(20) % 4
DS = Dataset("t", Split(IMGS, LABELS), Split(IMGS, LABELS), 4, (0.5,) * 3, (0.25,) * 3)
M3, S3 = (0.5,) * 3, (0.2,) * 3


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
