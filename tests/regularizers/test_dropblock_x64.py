"""``drop_block`` under ``jax_enable_x64``: the same float32 mask as without it, same key.

The max-pools that grow seeds into blocks once had a Python ``0.0`` init value, which x64 makes
float64 against a float32 operand, and ``reduce_window`` refused the mix.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxcnn.regularizers import drop_block

CONFIGS = [
    dict(),
    dict(gamma_rule="exact"),
    dict(seed_region="everywhere", gamma_rule="exact"),
    dict(per_channel=False, normalize=False),
]


@pytest.mark.parametrize("cfg", CONFIGS, ids=[str(c) for c in CONFIGS])
def test_drop_block_with_x64_matches_float32(cfg):
    key = jax.random.key(3)
    x = jax.random.normal(jax.random.key(1), (2, 9, 10, 3), jnp.float32)
    expected = drop_block(key, x, 0.3, 3, **cfg)
    before = jax.config.jax_enable_x64
    with jax.enable_x64(True):
        assert jax.config.jax_enable_x64
        got = drop_block(key, x, 0.3, 3, **cfg)
    assert jax.config.jax_enable_x64 == before  # the context manager restored the flag
    assert got.dtype == jnp.float32
    assert float(jnp.mean(got == 0)) > 0  # something was dropped: the mask path ran
    np.testing.assert_array_equal(np.asarray(got), np.asarray(expected))
