"""The ESPCN study's data (``experiments.sr_data``), MATLAB bicubic (``jaxcnn.upsample.imresize``) and
the closed-form last-layer fit (``experiments.lstsq``): bad arguments named, huge outputs refused
before allocating."""

import numpy as np
import pytest

from experiments.lstsq import conv_normal_equations, solve_conv_lstsq
from experiments.sr_data import (
    SRPair,
    dihedral,
    jax_resize,
    list_images,
    load_pairs,
    load_y,
    make_pair,
    mirror_padded,
    patch_batch,
    rescaled_pairs,
    upscale_bicubic,
)
from jaxcnn.upsample.imresize import imresize, resize_matrix

NAN, INF = float("nan"), float("inf")
IMG = np.zeros((12, 12))
PAIR = SRPair("a", np.zeros((12, 12)), np.zeros((4, 4)))
FEATS, TARGETS = np.ones((2, 6, 6, 3)), np.ones((2, 6, 6, 4))
SYSTEM = conv_normal_equations(FEATS, TARGETS, 3)

CASES = [
    ("resize_matrix n_in 0", lambda: resize_matrix(0, 4, 2.0), ValueError, "n_in"),
    ("resize_matrix n_out 2.5", lambda: resize_matrix(4, 2.5, 2.0), TypeError, "n_out"),
    ("resize_matrix n_in unhashable", lambda: resize_matrix([4], 8, 2.0), TypeError, "n_in"),
    ("resize_matrix scale 0", lambda: resize_matrix(4, 8, 0.0), ValueError, "scale"),
    ("resize_matrix scale nan", lambda: resize_matrix(4, 8, NAN), ValueError, "scale"),
    ("resize_matrix scale -1", lambda: resize_matrix(4, 8, -1.0), ValueError, "scale"),
    ("resize_matrix antialias 1", lambda: resize_matrix(4, 8, 2.0, 1), TypeError, "antialias"),
    ("resize_matrix huge", lambda: resize_matrix(10**4, 10**6, 100.0), ValueError, "n_out"),
    ("imresize scale 0", lambda: imresize(IMG, 0.0), ValueError, "scale"),
    ("imresize scale -2", lambda: imresize(IMG, -2.0), ValueError, "scale"),
    ("imresize scale nan", lambda: imresize(IMG, NAN), ValueError, "scale"),
    ("imresize scale str", lambda: imresize(IMG, "2"), TypeError, "scale"),
    ("imresize scale True", lambda: imresize(IMG, True), TypeError, "scale"),
    ("imresize scale 1e9 (89 GiB)", lambda: imresize(IMG, 1e9), ValueError, "scale"),
    ("imresize scale 1e-9 (4e9 kernel taps)", lambda: imresize(IMG, 1e-9), ValueError, "scale"),
    ("imresize antialias str", lambda: imresize(IMG, 0.5, antialias="yes"), TypeError, "antialias"),
    ("imresize image 1-D", lambda: imresize(np.zeros(12), 2.0), ValueError, "image"),
    ("imresize image uint8", lambda: imresize(IMG.astype(np.uint8), 2.0), TypeError, "image"),
    ("imresize image empty", lambda: imresize(np.zeros((0, 4)), 2.0), ValueError, "image"),
    ("imresize image of str", lambda: imresize([["a"]], 2.0), TypeError, "image"),
    ("jax_resize scale 0", lambda: jax_resize(IMG, 0, True), ValueError, "scale"),
    ("jax_resize scale 1.5", lambda: jax_resize(IMG, 1.5, True), TypeError, "scale"),
    ("jax_resize up str", lambda: jax_resize(IMG, 2, "yes"), TypeError, "up"),
    ("jax_resize image 1-D", lambda: jax_resize(np.zeros(12), 2, True), ValueError, "image"),
    ("jax_resize to nothing", lambda: jax_resize(IMG, 20, False), ValueError, "scale"),
    ("jax_resize huge", lambda: jax_resize(IMG, 10**6, True), ValueError, "scale"),
    ("dihedral k 8", lambda: dihedral(IMG, 8), ValueError, "k"),
    ("dihedral k -1", lambda: dihedral(IMG, -1), ValueError, "k"),
    ("dihedral k 1.5", lambda: dihedral(IMG, 1.5), TypeError, "k"),
    ("dihedral k True", lambda: dihedral(IMG, True), TypeError, "k"),
    ("dihedral image 1-D", lambda: dihedral(np.zeros(4), 1), ValueError, "image"),
    ("make_pair scale 0", lambda: make_pair("a", IMG, 0), ValueError, "scale"),
    ("make_pair scale 2.5", lambda: make_pair("a", IMG, 2.5), TypeError, "scale"),
    ("make_pair resize", lambda: make_pair("a", IMG, 3, resize="x"), ValueError, "resize"),
    ("make_pair y 3-channel", lambda: make_pair("a", np.zeros((12, 12, 3)), 3), ValueError, "y"),
    ("make_pair y 1-D", lambda: make_pair("a", np.zeros(12), 3), ValueError, "y"),
    ("make_pair y smaller than scale", lambda: make_pair("a", np.zeros((2, 2)), 3), ValueError, "y"),
    ("make_pair name None", lambda: make_pair(None, IMG, 3), TypeError, "name"),
    ("load_pairs scale 0", lambda: load_pairs("/nonexistent", 0), ValueError, "scale"),
    ("load_pairs limit 0", lambda: load_pairs("/nonexistent", 3, limit=0), ValueError, "limit"),
    ("load_pairs resize", lambda: load_pairs("/nonexistent", 3, resize="x"), ValueError, "resize"),
    ("list_images missing", lambda: list_images("/nonexistent"), ValueError, "folder"),
    ("rescaled_pairs factor 1.5", lambda: rescaled_pairs([PAIR], [1.5], 3), ValueError, "factors"),
    ("rescaled_pairs factor nan", lambda: rescaled_pairs([PAIR], [NAN], 3), ValueError, "factors"),
    ("rescaled_pairs factors a number", lambda: rescaled_pairs([PAIR], 0.5, 3), TypeError, "factors"),
    ("rescaled_pairs pairs None", lambda: rescaled_pairs(None, [0.5], 3), TypeError, "pairs"),
    ("rescaled_pairs scale 0", lambda: rescaled_pairs([PAIR], [0.5], 0), ValueError, "scale"),
    ("mirror_padded context -1", lambda: mirror_padded([PAIR], -1, 3), ValueError, "context"),
    ("mirror_padded context 1.5", lambda: mirror_padded([PAIR], 1.5, 3), TypeError, "context"),
    ("mirror_padded scale 0", lambda: mirror_padded([PAIR], 1, 0), ValueError, "scale"),
    ("mirror_padded pairs None", lambda: mirror_padded(None, 1, 3), TypeError, "pairs"),
    ("upscale_bicubic scale 0", lambda: upscale_bicubic(np.zeros((4, 4)), 0), ValueError, "scale"),
    ("upscale_bicubic scale 1.5", lambda: upscale_bicubic(np.zeros((4, 4)), 1.5), TypeError, "scale"),
    ("upscale_bicubic resize", lambda: upscale_bicubic(np.zeros((4, 4)), 3, resize="x"), ValueError, "resize"),
    ("patch_batch pairs []", lambda: patch_batch([], 3, 2, 2, 0, 0), ValueError, "pairs"),
    ("patch_batch pairs None", lambda: patch_batch(None, 3, 2, 2, 0, 0), TypeError, "pairs"),
    ("patch_batch pair of another scale", lambda: patch_batch([PAIR], 2, 2, 2, 0, 0), ValueError, "pairs"),
    ("patch_batch lr_size 0", lambda: patch_batch([PAIR], 3, 0, 2, 0, 0), ValueError, "lr_size"),
    ("patch_batch lr_size > image", lambda: patch_batch([PAIR], 3, 10, 2, 0, 0), ValueError, "lr_size"),
    ("patch_batch batch_size 0", lambda: patch_batch([PAIR], 3, 2, 0, 0, 0), ValueError, "batch_size"),
    ("patch_batch seed -1", lambda: patch_batch([PAIR], 3, 2, 2, -1, 0), ValueError, "seed"),
    ("patch_batch step 1.5", lambda: patch_batch([PAIR], 3, 2, 2, 0, 1.5), TypeError, "step"),
    ("patch_batch augment str", lambda: patch_batch([PAIR], 3, 2, 2, 0, 0, augment="yes"), TypeError, "augment"),
    ("patch_batch scale 0", lambda: patch_batch([PAIR], 0, 2, 2, 0, 0), ValueError, "scale"),
    ("normal equations kernel_size 0", lambda: conv_normal_equations(FEATS, TARGETS, 0), ValueError, "kernel_size"),
    ("normal equations kernel_size 2", lambda: conv_normal_equations(FEATS, TARGETS, 2), ValueError, "kernel_size"),
    ("normal equations kernel_size 2.5", lambda: conv_normal_equations(FEATS, TARGETS, 2.5), TypeError, "kernel_size"),
    (
        "normal equations kernel_size True",
        lambda: conv_normal_equations(FEATS, TARGETS, True),
        TypeError,
        "kernel_size",
    ),
    ("normal equations features 3-D", lambda: conv_normal_equations(FEATS[0], TARGETS, 3), ValueError, "features"),
    ("normal equations targets 3-D", lambda: conv_normal_equations(FEATS, TARGETS[0], 3), ValueError, "targets"),
    ("normal equations features of str", lambda: conv_normal_equations([["a"]], TARGETS, 3), TypeError, "features"),
    (
        "normal equations H mismatch",
        lambda: conv_normal_equations(FEATS, np.ones((2, 5, 6, 4)), 3),
        ValueError,
        "targets",
    ),
    (
        "normal equations mask shape",
        lambda: conv_normal_equations(FEATS, TARGETS, 3, mask=np.ones((2, 3))),
        ValueError,
        "mask",
    ),
    ("solve ridge -1", lambda: solve_conv_lstsq(SYSTEM, 3, ridge=-1.0), ValueError, "ridge"),
    ("solve ridge nan", lambda: solve_conv_lstsq(SYSTEM, 3, ridge=NAN), ValueError, "ridge"),
    ("solve ridge inf", lambda: solve_conv_lstsq(SYSTEM, 3, ridge=INF), ValueError, "ridge"),
    ("solve ridge str", lambda: solve_conv_lstsq(SYSTEM, 3, ridge="0.1"), TypeError, "ridge"),
    ("solve kernel_size mismatch", lambda: solve_conv_lstsq(SYSTEM, 5), ValueError, "kernel_size"),
    ("solve kernel_size 2.5", lambda: solve_conv_lstsq(SYSTEM, 2.5), TypeError, "kernel_size"),
    ("solve system None", lambda: solve_conv_lstsq(None, 3), TypeError, "system"),
]


@pytest.mark.parametrize("name,call,exc,argument", CASES, ids=[c[0] for c in CASES])
def test_bad_input(bad_input, name, call, exc, argument):
    bad_input(call, exc, argument)


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
