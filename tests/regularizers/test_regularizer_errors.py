"""Bad input fails at the public boundary with an error that names the argument."""

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxcnn.regularizers import (
    cutout,
    drop_block,
    dropblock_gamma,
    scheduled_drop_rate,
    stochastic_depth,
    stochastic_residual,
    survival_probabilities,
)

K = jax.random.key(0)
X4 = jnp.ones((2, 8, 8, 3))
X3 = jnp.ones((8, 8, 3))


class Residual(nn.Module):
    p: float

    @nn.compact
    def __call__(self, x):
        return stochastic_residual(self, lambda m, x: x, x, x, survival_prob=self.p, deterministic=False)


CASES = {
    "sd rate > 1": (lambda: stochastic_depth(K, X4, 1.5), ValueError, "drop_rate"),
    "sd rate < 0": (lambda: stochastic_depth(K, X4, -0.1), ValueError, "drop_rate"),
    "sd rate nan": (lambda: stochastic_depth(K, X4, float("nan")), ValueError, "drop_rate"),
    "sd rate bool": (lambda: stochastic_depth(K, X4, True), TypeError, "drop_rate"),
    "sd rate vector": (lambda: stochastic_depth(K, X4, jnp.array([0.1, 0.2])), ValueError, "drop_rate"),
    "sd rate int array": (lambda: stochastic_depth(K, X4, jnp.array(1)), TypeError, "drop_rate"),
    "sd rate concrete array > 1": (lambda: stochastic_depth(K, X4, jnp.float32(1.5)), ValueError, "drop_rate"),
    "sd mode": (lambda: stochastic_depth(K, X4, 0.1, mode="col"), ValueError, "mode"),
    "sd scalar x": (lambda: stochastic_depth(K, jnp.float32(1.0), 0.1), ValueError, "x"),
    "sd x not array": (lambda: stochastic_depth(K, [1.0, 2.0], 0.1), TypeError, "x"),
    "key int": (lambda: stochastic_depth(0, X4, 0.1), TypeError, "key"),
    "key None": (lambda: cutout(None, X4, 4), TypeError, "key"),
    "key float pair": (lambda: drop_block(jnp.zeros(2), X4, 0.1, 3), TypeError, "key"),
    "key uint32[3]": (lambda: drop_block(jnp.zeros(3, jnp.uint32), X4, 0.1, 3), TypeError, "key"),
    "key batch": (lambda: cutout(jax.random.split(K, 2), X4, 4), ValueError, "key"),
    "schedule blocks 0": (lambda: survival_probabilities(0), ValueError, "num_blocks"),
    "schedule survival > 1": (lambda: survival_probabilities(4, 1.2), ValueError, "final_survival"),
    "schedule rule": (lambda: survival_probabilities(4, 0.5, "linear"), ValueError, "rule"),
    "db block 0": (lambda: drop_block(K, X4, 0.1, 0), ValueError, "block_size"),
    "db block float": (lambda: drop_block(K, X4, 0.1, 2.5), ValueError, "block_size"),
    "db 3-D input": (lambda: drop_block(K, X3, 0.1, 3), ValueError, "x"),
    "db rate > 1": (lambda: drop_block(K, X4, 2.0, 3), ValueError, "drop_rate"),
    "db gamma rule": (lambda: drop_block(K, X4, 0.1, 3, gamma_rule="solve"), ValueError, "gamma_rule"),
    "db seed region": (lambda: drop_block(K, X4, 0.1, 3, seed_region="all"), ValueError, "seed_region"),
    "db per_channel": (lambda: drop_block(K, X4, 0.1, 3, per_channel="yes"), TypeError, "per_channel"),
    "db gamma height": (lambda: dropblock_gamma(0.1, 0, 8, 3), ValueError, "height"),
    "db schedule steps": (lambda: scheduled_drop_rate(3, 0, 0.1), ValueError, "total_steps"),
    "cutout size 0": (lambda: cutout(K, X4, 0), ValueError, "size"),
    "cutout 3-D": (lambda: cutout(K, X3, 4), ValueError, "images"),
    "cutout fill shape": (lambda: cutout(K, X4, 4, fill=jnp.zeros(2)), ValueError, "fill"),
    "cutout fill str": (lambda: cutout(K, X4, 4, fill="mean"), TypeError, "fill"),
    "residual survival": (lambda: Residual(1.5).init(K, X4), ValueError, "survival_prob"),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_bad_input_names_the_argument(name):
    fn, error, argument = CASES[name]
    with pytest.raises(error) as info:
        fn()
    assert str(info.value).startswith(argument + " "), str(info.value)


def test_both_key_kinds_accepted():
    typed = stochastic_depth(jax.random.key(3), X4, 0.5)
    legacy = stochastic_depth(jax.random.PRNGKey(3), X4, 0.5)
    raw_numpy = stochastic_depth(np.asarray(jax.random.PRNGKey(3)), X4, 0.5)
    assert np.array_equal(typed, legacy) and np.array_equal(typed, raw_numpy)
