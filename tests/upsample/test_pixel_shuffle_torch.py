"""pixel_shuffle / pixel_unshuffle vs torch (the parity oracle)."""

import numpy as np
import pytest

from jaxcnn.upsample import pixel_shuffle, pixel_unshuffle

torch = pytest.importorskip("torch", reason="PyTorch is the parity oracle; install the [torch] extra")


def _rand(shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape).astype(np.float32)


@pytest.mark.parametrize("r,c,h,w", [(1, 2, 3, 3), (2, 3, 2, 4), (3, 1, 3, 2), (4, 2, 1, 2)])
def test_torch_parity(r, c, h, w):
    x = _rand((2, h, w, c * r * r), r)
    ref = torch.nn.functional.pixel_shuffle(torch.from_numpy(x).permute(0, 3, 1, 2), r).permute(0, 2, 3, 1).numpy()
    np.testing.assert_array_equal(pixel_shuffle(x, r), ref)
    back = torch.nn.functional.pixel_unshuffle(torch.from_numpy(ref).permute(0, 3, 1, 2), r).permute(0, 2, 3, 1).numpy()
    np.testing.assert_array_equal(pixel_unshuffle(ref, r), back)
