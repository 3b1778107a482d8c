"""Valid-by-decision inputs of the regularizers, metrics and ``count_params`` (integer images and masks,
NumPy scalars, (H, W, 1) Y images, ShapeDtypeStruct leaves); the bad ones are in the sweep."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxcnn import count_params
from jaxcnn.metrics import modcrop, psnr, psnr_y, rgb_to_y
from jaxcnn.regularizers import cutout, drop_block, scheduled_drop_rate

K = jax.random.key(0)


def test_fills_the_dtype_holds_are_valid():
    x, xi = jnp.ones((2, 8, 8, 4)), jnp.ones((2, 8, 8, 4), jnp.int32)
    out = cutout(K, xi.astype(jnp.uint8), 4, fill=255)
    assert out.dtype == jnp.uint8 and set(np.unique(out).tolist()) <= {1, 255}
    assert cutout(K, xi, 4, fill=np.float32(3.0)).dtype == jnp.int32  # integral float: exact
    assert cutout(K, xi.astype(bool), 4, fill=0).dtype == bool
    assert np.array_equal(cutout(K, x, np.int64(4)), cutout(K, x, 4))


def test_integer_maps_are_valid_without_the_rescale():
    x, xi = jnp.ones((2, 8, 8, 3)), jnp.ones((2, 8, 8, 3), jnp.int32)
    out = drop_block(K, xi, 0.5, 3, normalize=False)
    assert out.dtype == jnp.int32 and set(np.unique(out).tolist()) <= {0, 1}
    assert drop_block(K, x, 0.5, np.int64(3), per_channel=np.bool_(True)).shape == x.shape
    assert float(scheduled_drop_rate(np.int64(5), np.int32(10), 0.2)) == pytest.approx(0.1)


def test_valid_edge_inputs_of_the_metrics():
    g = np.zeros((8, 8))
    assert psnr(g, g + 1, peak=np.float32(1.0), shave_border=np.int64(1)) == pytest.approx(0.0)
    assert psnr_y(g, g + 1, np.int64(2)) == pytest.approx(48.1308, abs=1e-4)
    assert psnr_y(g[..., None], g[..., None], 1) == float("inf")  # (H, W, 1) Y images
    assert rgb_to_y(np.ones((2, 2, 3), np.float32), round=np.bool_(True))[0, 0] == 235
    assert modcrop(np.zeros((12, 12, 3)), np.int64(5)).shape == (10, 10, 3)


def test_count_params_says_where_the_leaf_is_and_takes_valid_trees():
    w = jnp.ones((3, 4))
    with pytest.raises(TypeError, match=r"\['params'\]\['b'\]|\['b'\]"):
        count_params({"params": {"w": w, "b": 1.0}})
    assert count_params({}) == 0
    assert count_params({"params": {"w": w}, "batch_stats": {"m": w}}) == 12
    assert count_params(jax.eval_shape(lambda: {"w": w, "v": [w[0]]})) == 16  # ShapeDtypeStruct leaves
