"""DropBlock against a brute-force geometric oracle: drop fractions, block shapes, channel coupling."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxcnn.regularizers import DropBlock, drop_block, dropblock_gamma, scheduled_drop_rate


def blocks(h, w, bs, region):
    """Every possible dropped rectangle, enumerated from the definition (clipped to the map)."""
    bh, bw = min(bs, h), min(bs, w)
    if region == "valid":
        tops = [(i, j) for i in range(h - bh + 1) for j in range(w - bw + 1)]
    else:
        tops = [(i - bh // 2, j - bw // 2) for i in range(h) for j in range(w)]
    return [(max(i, 0), min(i + bh, h), max(j, 0), min(j + bw, w)) for i, j in tops]


def coverage(h, w, bs, region):
    n = np.zeros((h, w), int)
    for r0, r1, c0, c1 in blocks(h, w, bs, region):
        n[r0:r1, c0:c1] += 1
    return n


def dropped_masks(key, n, h, w, c, rate, bs, **kw):
    """0/1 dropped indicators, shape (n, h, w, c), from an unnormalised run on ones."""
    y = drop_block(key, jnp.ones((n, h, w, c)), rate, bs, normalize=False, **kw)
    return 1.0 - np.asarray(y)


def check_fraction(d, target):
    """Realised fraction within 0.01 of target, and the sample large enough for that to mean something."""
    per_map = d.mean(axis=(1, 2)).ravel()
    se = per_map.std() / np.sqrt(per_map.size)
    assert se < 0.0025, f"sample too small: se {se:.4f}"
    assert abs(per_map.mean() - target) < 0.01, (per_map.mean(), target)


# (h, w, block_size, rate, maps): square, non-square, even sizes, block >= map. `maps` gives a
# standard error of the realised fraction under 0.0025 (per-map variance measured, x1.5 margin).
CASES = [
    (7, 7, 3, 0.2, 9000),
    (7, 7, 7, 0.1, 33000),
    (14, 14, 3, 0.3, 3000),
    (56, 56, 7, 0.2, 900),
    (12, 20, 5, 0.15, 4000),
    (16, 16, 4, 0.2, 3200),
    (9, 13, 6, 0.25, 16000),
    (5, 6, 7, 0.3, 76000),
]


@pytest.mark.parametrize("h, w, bs, rate, maps", CASES)
def test_paper_gamma_matches_analytic_expectation(h, w, bs, rate, maps):
    bh, bw = min(bs, h), min(bs, w)
    gamma = rate / (bh * bw) * h * w / ((h - bh + 1) * (w - bw + 1))  # the paper's formula
    assert float(dropblock_gamma(rate, h, w, bs)) == pytest.approx(gamma, rel=1e-6)
    expected = np.mean(1 - (1 - gamma) ** coverage(h, w, bs, "valid"))
    d = dropped_masks(jax.random.key(h * 100 + w), maps // 8, h, w, 8, rate, bs)
    check_fraction(d, expected)


@pytest.mark.parametrize(
    "h, w, bs, rate, maps, region",
    [case + ("valid",) for case in CASES] + [CASES[i] + ("everywhere",) for i in (1, 3, 6)],
)
def test_exact_gamma_hits_requested_rate(h, w, bs, rate, maps, region):
    d = dropped_masks(jax.random.key(bs), maps // 8, h, w, 8, rate, bs, gamma_rule="exact", seed_region=region)
    check_fraction(d, rate)


def test_paper_gamma_underdrops_and_everywhere_overdrops():
    # The realised drop fractions from the analytic expectation (coverage of each pixel by seed positions).
    def expected(h, bs, rate, region):
        g = rate / bs**2 * h * h / (h - bs + 1) ** 2
        return np.mean(1 - (1 - g) ** coverage(h, h, bs, region))

    assert expected(56, 7, 0.2, "valid") == pytest.approx(0.179, abs=0.001)
    assert expected(14, 3, 0.3, "valid") == pytest.approx(0.258, abs=0.001)
    assert expected(7, 7, 0.1, "everywhere") > 0.9


@pytest.mark.parametrize(
    "h, w, bs, region", [(10, 10, 3, "valid"), (9, 12, 4, "valid"), (10, 10, 3, "everywhere"), (8, 11, 4, "everywhere")]
)
def test_dropped_regions_are_whole_blocks(h, w, bs, region):
    d = dropped_masks(jax.random.key(3), 1500, h, w, 1, 0.15, bs, seed_region=region)[..., 0].astype(bool)
    rects = blocks(h, w, bs, region)
    single = 0
    for m in d:
        # Morphological opening: the union of candidate blocks lying inside the drop set is the set.
        inside = [(r0, r1, c0, c1) for r0, r1, c0, c1 in rects if m[r0:r1, c0:c1].all()]
        union = np.zeros_like(m)
        for r0, r1, c0, c1 in inside:
            union[r0:r1, c0:c1] = True
        assert np.array_equal(union, m)
        # Exactly one candidate inside means one isolated block of the right size; blocks
        # grown too large would always contain several candidates.
        single += len(inside) == 1
    assert single > 50  # the single-block check ran on many maps


def test_channel_masks_independent_or_shared():
    key = jax.random.key(11)
    d = dropped_masks(key, 4000, 12, 12, 2, 0.3, 3)
    g = 0.3 / 9 * 144 / 100
    p = 1 - (1 - g) ** coverage(12, 12, 3, "valid")  # per-pixel drop probability
    both = (d[..., 0] * d[..., 1]).mean(0)
    # Independent channels: P(both dropped) = p(pixel)^2 (not p, as for shared masks).
    # Each pixel's mean is over 4000 maps: se = sqrt(p^2 (1-p^2) / 4000) <= 0.008.
    assert np.all(np.abs(both - p**2) < 4 * np.sqrt(p**2 * (1 - p**2) / 4000))
    assert abs(both.mean() - np.mean(p**2)) < 0.003
    shared = dropped_masks(key, 200, 12, 12, 4, 0.3, 3, per_channel=False)
    assert np.all(shared == shared[..., :1]) and shared.mean() > 0.1


def test_block_larger_than_map_drops_whole_channels():
    d = dropped_masks(jax.random.key(4), 20000, 4, 5, 2, 0.3, 9)
    per_map = d.mean(axis=(1, 2))
    assert set(np.unique(per_map)) == {0.0, 1.0}  # all-or-nothing per channel map
    assert abs(per_map.mean() - 0.3) < 4 * np.sqrt(0.21 / per_map.size)


def test_normalisation_preserves_mean():
    h, w, bs, rate = 14, 14, 3, 0.3
    const = drop_block(jax.random.key(0), jnp.full((8, h, w, 4), 2.5), rate, bs)
    assert float(jnp.mean(const)) == pytest.approx(2.5, rel=1e-5)  # count / count_kept, exactly
    x = 1.0 + jax.random.uniform(jax.random.key(1), (2, h, w, 4))
    keys = jax.random.split(jax.random.key(2), 1000)
    means = np.asarray(jax.vmap(lambda k: jnp.mean(drop_block(k, x, rate, bs)))(keys))
    # Pixels near the border are dropped less often (valid seeds), so E[mean out] is the
    # keep-probability-weighted mean of x, which is within noise of mean(x) for this x.
    g = rate / bs**2 * h * w / ((h - bs + 1) * (w - bs + 1))
    q = ((1 - g) ** coverage(h, w, bs, "valid"))[None, :, :, None]
    weighted = float(np.sum(np.asarray(x) * q) / np.sum(q * np.ones(x.shape)))
    se = means.std() / np.sqrt(len(keys))
    assert abs(means.mean() - weighted) < 4 * se + 1e-4
    assert abs(means.mean() - float(jnp.mean(x))) < 0.005


def test_edge_rates_same_bits_and_jit():
    x = jax.random.normal(jax.random.key(0), (2, 8, 8, 3))
    assert np.array_equal(drop_block(jax.random.key(0), x, 0.0, 3), x)
    every = drop_block(jax.random.key(0), x, 1.0, 3, gamma_rule="exact")
    assert np.array_equal(every, jnp.zeros_like(x))  # gamma = 1, and 0/0 renormalisation gives 0 not nan
    # The paper's gamma at rate 1 is 64/(9*36) < 1 on 8x8 at bs 3: not everything is dropped.
    assert float(dropblock_gamma(1.0, 8, 8, 3)) == pytest.approx(64 / 324, rel=1e-6)
    assert 0 < float(jnp.mean(drop_block(jax.random.key(0), x, 1.0, 3) == 0)) < 1
    a = drop_block(jax.random.key(5), x, 0.4, 3)
    assert np.array_equal(a, drop_block(jax.random.key(5), x, 0.4, 3))
    assert np.array_equal(a, drop_block(jax.random.PRNGKey(5), x, 0.4, 3))
    traced = jax.jit(lambda k, r: drop_block(k, x, r, 3))(jax.random.key(5), jnp.float32(0.4))
    np.testing.assert_allclose(traced, a, rtol=1e-6)  # traced (scheduled) rate, same bits


def test_schedule_linear_keep_prob():
    rates = [float(scheduled_drop_rate(s, 100, 0.1)) for s in (0, 25, 50, 100, 150)]
    assert rates == pytest.approx([0.0, 0.025, 0.05, 0.1, 0.1], abs=1e-7)
    assert float(jax.jit(lambda s: scheduled_drop_rate(s, 100, 0.1))(75)) == pytest.approx(0.075, abs=1e-7)


def test_module_deterministic_override_and_rng():
    x = jnp.ones((2, 8, 8, 3))
    m = DropBlock(0.2, block_size=3)
    assert np.array_equal(m.apply({}, x, deterministic=True), x)
    with pytest.raises(ValueError, match="rng stream"):
        m.apply({}, x, deterministic=False)
    rngs = {"dropout": jax.random.key(9)}
    y = m.apply({}, x, deterministic=False, drop_rate=0.5, rngs=rngs)
    assert np.array_equal(y, DropBlock(0.5, block_size=3).apply({}, x, deterministic=False, rngs=rngs))
    assert not np.array_equal(y, m.apply({}, x, deterministic=False, rngs=rngs))  # call-time rate wins
