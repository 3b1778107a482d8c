"""``jaxcnn.metrics``: bad arguments named at the boundary (NumPy only: nothing is compiled)."""

import numpy as np
import pytest

from jaxcnn.metrics import modcrop, psnr, psnr_y, rgb_to_y, shave

IMG = np.zeros((12, 12, 3))
G = np.zeros((8, 8))
NAN = float("nan")

CASES = [
    ("modcrop scale 0", lambda: modcrop(IMG, 0), ValueError, "scale"),
    ("modcrop scale 2.0", lambda: modcrop(IMG, 2.0), TypeError, "scale"),
    ("modcrop too small", lambda: modcrop(np.zeros((2, 2)), 3), ValueError, "scale"),
    ("modcrop image 1-D", lambda: modcrop(np.zeros(5), 2), ValueError, "image"),
    ("modcrop image str", lambda: modcrop(np.array([["a", "b"], ["c", "d"]]), 1), TypeError, "image"),
    ("shave border -1", lambda: shave(IMG, -1), ValueError, "border"),
    ("shave border too large", lambda: shave(IMG, 6), ValueError, "border"),
    ("shave image 1-D", lambda: shave(np.zeros(5), 1), ValueError, "image"),
    ("rgb_to_y 2-D", lambda: rgb_to_y(G), ValueError, "rgb"),
    ("rgb_to_y 4 channels", lambda: rgb_to_y(np.zeros((4, 4, 4))), ValueError, "rgb"),
    ("rgb_to_y int32", lambda: rgb_to_y(np.zeros((4, 4, 3), np.int32)), TypeError, "rgb"),
    ("rgb_to_y float 0..255", lambda: rgb_to_y(np.full((4, 4, 3), 200.0)), ValueError, "rgb"),
    ("rgb_to_y NaN", lambda: rgb_to_y(np.full((4, 4, 3), NAN)), ValueError, "rgb"),
    ("rgb_to_y round str", lambda: rgb_to_y(np.zeros((4, 4, 3)), round="no"), TypeError, "round"),
    ("psnr shapes", lambda: psnr(G, np.zeros((8, 9))), ValueError, "reference"),
    ("psnr reference str", lambda: psnr(np.array([["a", "b"], ["c", "d"]]), np.zeros((2, 2))), TypeError, "reference"),
    ("psnr estimate 4-D", lambda: psnr(G, np.zeros((1, 8, 8, 1))), ValueError, "estimate"),
    ("psnr peak 0", lambda: psnr(G, G + 1, peak=0), ValueError, "peak"),
    ("psnr peak str", lambda: psnr(G, G + 1, peak="255"), TypeError, "peak"),
    ("psnr shave_border -1", lambda: psnr(G, G + 1, shave_border=-1), ValueError, "shave_border"),
    ("psnr shave_border too large", lambda: psnr(G, G + 1, shave_border=4), ValueError, "shave_border"),
    ("psnr_y scale 0", lambda: psnr_y(G, G, 0), ValueError, "scale"),
    ("psnr_y scale too large", lambda: psnr_y(G, G, 4), ValueError, "scale"),
    ("psnr_y reference RGB", lambda: psnr_y(np.zeros((8, 8, 3)), np.zeros((8, 8, 3)), 2), ValueError, "reference_y"),
    ("psnr_y estimate RGB", lambda: psnr_y(G, np.zeros((8, 8, 3)), 2), ValueError, "estimate_y"),
]


@pytest.mark.parametrize("name,call,exc,argument", CASES, ids=[c[0] for c in CASES])
def test_bad_input(bad_input, name, call, exc, argument):
    bad_input(call, exc, argument)


def test_valid_edge_inputs():
    assert psnr(G, G + 1, peak=np.float32(1.0), shave_border=np.int64(1)) == pytest.approx(0.0)
    assert psnr_y(G, G + 1, np.int64(2)) == pytest.approx(48.1308, abs=1e-4)
    assert psnr_y(G[..., None], G[..., None], 1) == float("inf")  # (H, W, 1) Y images
    assert rgb_to_y(np.ones((2, 2, 3), np.float32), round=np.bool_(True))[0, 0] == 235
    assert modcrop(IMG, np.int64(5)).shape == (10, 10, 3)
