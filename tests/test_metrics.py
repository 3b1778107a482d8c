"""PSNR / Y-channel / modcrop against hand-computed values and the BT.601 definition."""

import math

import numpy as np
import pytest

from jaxcnn.metrics import Y_WEIGHTS, modcrop, psnr, psnr_y, rgb_to_y, shave


def test_psnr_hand_computed():
    ref = np.zeros((4, 4))
    est = ref.copy()
    est[1, 2] = 10.0  # MSE = 100 / 16 = 6.25 -> 10 log10(255^2 / 6.25) = 10 log10(10404)
    assert psnr(ref, est) == pytest.approx(40.1720, abs=1e-4)
    assert psnr(ref, est, peak=1.0) == pytest.approx(10 * math.log10(1 / 6.25))
    assert psnr(ref, ref) == float("inf")


def test_psnr_shave_drops_the_border_only():
    ref = np.zeros((8, 8))
    est = ref.copy()
    est[0, :] = 50.0  # an error on the top row only
    assert psnr(ref, est, shave_border=1) == float("inf")
    est[4, 4] = 8.0  # interior 6x6 MSE = 64 / 36
    assert psnr(ref, est, shave_border=1) == pytest.approx(10 * math.log10(255**2 * 36 / 64))


def test_y_weights_are_bt601_in_studio_range():
    # BT.601 luma 0.299 R + 0.587 G + 0.114 B, scaled to the 219 levels of [16, 235].
    np.testing.assert_allclose(Y_WEIGHTS, 219 * np.array([0.299, 0.587, 0.114]), atol=1e-9)


@pytest.mark.parametrize(
    "rgb, exact, matlab",
    [
        ((0, 0, 0), 16.0, 16),
        ((255, 255, 255), 235.0, 235),
        ((255, 0, 0), 81.481, 81),
        ((0, 255, 0), 144.553, 145),
        ((0, 0, 255), 40.966, 41),  # primaries
        ((128, 64, 32), 16 + 17407.872 / 255, 84),
    ],
)
def test_rgb_to_y_matches_matlab(rgb, exact, matlab):
    img = np.array(rgb, np.uint8).reshape(1, 1, 3)
    assert rgb_to_y(img)[0, 0] == matlab  # MATLAB rgb2ycbcr on uint8 returns uint8
    assert rgb_to_y(img, round=False)[0, 0] == pytest.approx(exact)
    assert rgb_to_y(img.astype(np.float32) / 255, round=False)[0, 0] == pytest.approx(exact, abs=1e-4)


def test_psnr_y_rounds_like_uint8():
    ref = np.full((10, 10), 100.0)
    assert psnr_y(ref, ref + 0.4, scale=3) == float("inf")  # 100.4 is stored as 100
    assert psnr_y(ref, ref + 0.6, scale=3) == pytest.approx(10 * math.log10(255**2))  # off by 1 everywhere


def test_modcrop_and_shave_shapes():
    img = np.zeros((13, 11, 3))
    assert modcrop(img, 3).shape == (12, 9, 3)
    assert modcrop(img, 1).shape == img.shape
    assert shave(img, 2).shape == (9, 7, 3)


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda: modcrop(np.zeros((5, 5)), 0), "scale"),
        (lambda: modcrop(np.zeros((2, 2)), 3), "smaller than scale"),
        (lambda: modcrop(np.zeros(5), 2), "image"),
        (lambda: shave(np.zeros((4, 4)), 2), "border"),
        (lambda: psnr(np.zeros((4, 4)), np.zeros((4, 5))), "same shape"),
        (lambda: psnr(np.zeros((4, 4)), np.zeros((4, 4)), peak=0), "peak"),
        (lambda: rgb_to_y(np.zeros((4, 4))), "rgb"),
        (lambda: rgb_to_y(np.zeros((4, 4, 3), np.int32)), "dtype"),
    ],
)
def test_bad_input_names_the_argument(call, match):
    with pytest.raises(ValueError, match=match):
        call()
