"""max_pool_with_indices / max_unpool vs torch (the parity oracle)."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from jaxcnn.upsample import max_pool_with_indices, max_unpool

torch = pytest.importorskip("torch", reason="PyTorch is the parity oracle; install the [torch] extra")


def _rand(shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape).astype(np.float32)


F = torch.nn.functional
_nchw = lambda a: torch.from_numpy(np.asarray(a)).permute(0, 3, 1, 2)
_nhwc = lambda t: t.permute(0, 2, 3, 1).numpy()


@settings(max_examples=20, deadline=None)
@given(
    k=st.integers(1, 3),
    s=st.integers(1, 3),
    ceil_mode=st.booleans(),
    data=st.data(),
    shape=st.sampled_from([(1, 7, 6, 2), (2, 5, 5, 1), (1, 4, 9, 3)]),
    use_size=st.booleans(),
)
def test_torch_parity(k, s, ceil_mode, data, shape, use_size):
    p = data.draw(st.integers(0, k // 2))
    x = np.random.default_rng(k * 7 + s).integers(-3, 4, shape).astype(np.float32)  # ties included
    y, idx = max_pool_with_indices(x, k, s, p, ceil_mode)
    y_t, idx_t = F.max_pool2d(_nchw(x), k, s, p, ceil_mode=ceil_mode, return_indices=True)
    np.testing.assert_array_equal(y, _nhwc(y_t))
    np.testing.assert_array_equal(idx, _nhwc(idx_t))
    size = None
    if use_size:  # any size within one stride of the default, e.g. the pooled input's own size
        default = [(n - 1) * s - 2 * p + k for n in y.shape[1:3]]
        size = tuple(d + data.draw(st.integers(0, s - 1)) for d in default)
    try:
        out_t = F.max_unpool2d(y_t, idx_t, k, s, p, output_size=size)
    except RuntimeError:  # e.g. kernel 1 < stride: indices point past the default output
        with pytest.raises(ValueError, match="indices"):
            max_unpool(y, idx, k, s, p, output_size=size)
        return
    np.testing.assert_array_equal(max_unpool(y, idx, k, s, p, output_size=size), _nhwc(out_t))
