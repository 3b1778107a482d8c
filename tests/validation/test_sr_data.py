"""The ESPCN study's data (``experiments.sr_data``), MATLAB bicubic (``jaxcnn.upsample.imresize``) and
the closed-form last-layer fit (``experiments.lstsq``): bad arguments named, huge outputs refused
before allocating."""

import numpy as np
import pytest

from experiments.lstsq import conv_normal_equations, solve_conv_lstsq
from experiments.sr_data import (
    SRPair,
    dihedral,
    load_y,
    mirror_padded,
    patch_batch,
)
from jaxcnn.upsample.imresize import imresize, resize_matrix

IMG = np.zeros((12, 12))
PAIR = SRPair("a", np.zeros((12, 12)), np.zeros((4, 4)))
FEATS, TARGETS = np.ones((2, 6, 6, 3)), np.ones((2, 6, 6, 4))
SYSTEM = conv_normal_equations(FEATS, TARGETS, 3)


def test_load_y_missing_file_names_the_path():
    with pytest.raises(OSError, match="/nonexistent/a.png"):
        load_y("/nonexistent/a.png")


def test_valid_edges_are_accepted():
    assert imresize(IMG, 0.01).shape == (1, 1)  # MATLAB's ceil: one pixel, not an error
    assert imresize(IMG.tolist(), np.float32(0.5)).shape == (6, 6)  # a list of floats is a float image
    assert imresize(IMG, 3).shape == (36, 36)  # an int scale is a number
    np.testing.assert_array_equal(resize_matrix(np.int64(4), 8, 2), resize_matrix(4, 8, 2.0))
    assert dihedral(IMG, np.int64(7)).shape == (12, 12)
    assert mirror_padded([PAIR], 0, 3)[0].hr.shape == (12, 12)
    lr, hr = patch_batch([PAIR], 3, 4, 2, 0, 0)  # lr_size == the whole LR image
    assert lr.shape == (2, 4, 4, 1) and hr.shape == (2, 12, 12, 1)
    assert solve_conv_lstsq(SYSTEM, 3, ridge=0)[0].shape == (3, 3, 3, 4)
