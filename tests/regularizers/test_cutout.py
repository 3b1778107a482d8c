"""Cutout: uniform centres (chi-square), clipped-area distribution from enumeration, shared mask."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import stats

from jaxcnn.regularizers import Cutout, cutout


def clipped_len(c, size, n):
    """Rows covered by a side-`size` segment whose centre is c, clipped to [0, n)."""
    top = c - size // 2
    return min(top + size, n) - max(top, 0)


def area_pmf(h, w, size):
    """Exact distribution of the patch area, enumerating every centre (uniform over h*w)."""
    pmf = {}
    for cy in range(h):
        for cx in range(w):
            a = clipped_len(cy, size, h) * clipped_len(cx, size, w)
            pmf[a] = pmf.get(a, 0) + 1 / (h * w)
    return pmf


def masks(key, n, h, w, size):
    y = cutout(key, jnp.ones((n, h, w, 1)), size)
    return np.asarray(y[..., 0] == 0)


def test_centres_uniform_and_side_exact():
    h, w, size, n = 6, 9, 3, 54 * 120
    m = masks(jax.random.key(0), n, h, w, size)
    rows, cols = m.any(2), m.any(1)
    counts = np.zeros((h, w))
    for r, c in zip(rows, cols):
        r0, r1 = np.flatnonzero(r)[[0, -1]] + (0, 1)
        c0, c1 = np.flatnonzero(c)[[0, -1]] + (0, 1)
        # Invert the clipping (unique since size < h, w): the unclipped edge fixes the centre.
        cy = r0 + size // 2 if r0 > 0 else r1 - size + size // 2
        cx = c0 + size // 2 if c0 > 0 else c1 - size + size // 2
        counts[cy, cx] += 1
        for lo, hi, extent in ((r0, r1, h), (c0, c1, w)):
            if 0 < lo and hi < extent:
                assert hi - lo == size  # odd size: a full side, not size - 1
    assert stats.chisquare(counts.ravel()).pvalue > 1e-3


@pytest.mark.parametrize("h, w, size", [(8, 8, 4), (7, 10, 5), (8, 8, 16)])  # 16 > map: CIFAR size on 8x8
def test_area_distribution_matches_enumeration(h, w, size):
    n = 6000
    area = masks(jax.random.key(h + size), n, h, w, size).sum((1, 2))
    pmf = area_pmf(h, w, size)
    support = sorted(pmf)
    assert set(np.unique(area)) <= set(support)
    observed = np.array([np.sum(area == a) for a in support])
    expected = np.array([pmf[a] * n for a in support])
    if len(support) > 1:
        assert stats.chisquare(observed, expected).pvalue > 1e-3
    mean = sum(a * p for a, p in pmf.items())
    sd = np.sqrt(sum((a - mean) ** 2 * p for a, p in pmf.items()))
    assert abs(area.mean() - mean) <= 4 * sd / np.sqrt(n) + 1e-9


def test_shared_mask_and_fill():
    x = jax.random.normal(jax.random.key(1), (16, 8, 8, 3))
    y = np.asarray(cutout(jax.random.key(2), x, 4, fill=7.5))
    hole = y == 7.5
    assert np.all(hole == hole[..., :1])  # every channel shares the mask
    assert np.all(hole.sum((1, 2, 3)) >= 3 * 4)  # at least a 2x2 corner on 3 channels
    assert np.array_equal(y[~hole], np.asarray(x)[~hole])  # outside the hole nothing changes
    per_channel = np.asarray(cutout(jax.random.key(2), x, 4, fill=jnp.array([1.0, 2.0, 3.0])))
    for c, v in enumerate((1.0, 2.0, 3.0)):
        assert np.all(per_channel[..., c][hole[..., 0]] == v)


def test_jit_vmap_and_same_bits():
    x = jax.random.normal(jax.random.key(1), (4, 8, 8, 2))
    keys = jax.random.split(jax.random.key(3), 5)
    eager = np.stack([cutout(k, x, 3) for k in keys])
    batched = jax.jit(jax.vmap(lambda k: cutout(k, x, 3)))(keys)
    assert np.array_equal(eager, batched)
    assert np.array_equal(cutout(jax.random.key(9), x, 3), cutout(jax.random.PRNGKey(9), x, 3))
    assert not np.array_equal(eager[0], eager[1])


def test_module():
    x = jnp.ones((2, 8, 8, 3))
    assert np.array_equal(Cutout(4).apply({}, x, deterministic=True), x)
    with pytest.raises(ValueError, match="rng stream"):
        Cutout(4).apply({}, x, deterministic=False)
    y = Cutout(4, rng_collection="augment").apply({}, x, deterministic=False, rngs={"augment": jax.random.key(0)})
    assert 0 < int(jnp.sum(y == 0)) <= 2 * 16 * 3


def test_bfloat16_images_take_the_float32_mask():
    """A bfloat16 batch is cut where its float32 copy is (same key), and keeps its dtype."""
    x = jax.random.normal(jax.random.key(1), (4, 8, 8, 3))
    y16 = cutout(jax.random.key(5), x.astype(jnp.bfloat16), 3, fill=0.5)
    assert y16.dtype == jnp.bfloat16
    y32 = cutout(jax.random.key(5), x, 3, fill=0.5)
    assert np.array_equal(np.asarray(y16, np.float32), np.asarray(y32.astype(jnp.bfloat16), np.float32))
