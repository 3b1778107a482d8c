"""``drop_block`` / ``DropBlock`` / ``dropblock_gamma`` / ``scheduled_drop_rate``: bad arguments named."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxcnn.regularizers import DropBlock, drop_block, dropblock_gamma, scheduled_drop_rate

K = jax.random.key(0)
X = jnp.ones((2, 8, 8, 3))
X3 = jnp.ones((8, 8, 3))
XI = jnp.ones((2, 8, 8, 3), jnp.int32)
XU8 = XI.astype(jnp.uint8)
XB = XI.astype(bool)
NAN = float("nan")
RATE_NAN = jnp.float32(NAN)
RATES = jnp.array([0.1, 0.2])
STEPS = jnp.arange(3)
F2 = jnp.zeros(2)

CASES = [
    ("x int32 rescaled", lambda: drop_block(K, XI, 0.3, 3), TypeError, "x"),
    ("x uint8 rescaled", lambda: drop_block(K, XU8, 0.3, 3), TypeError, "x"),
    ("x bool rescaled", lambda: drop_block(K, XB, 0.3, 3), TypeError, "x"),
    ("x int at rate 0", lambda: drop_block(K, XI, 0.0, 3), TypeError, "x"),
    ("x 3-D", lambda: drop_block(K, X3, 0.3, 3), ValueError, "x"),
    ("x list", lambda: drop_block(K, [[1.0]], 0.3, 3), TypeError, "x"),
    ("drop_rate nan", lambda: drop_block(K, X, NAN, 3), ValueError, "drop_rate"),
    ("drop_rate 1.5", lambda: drop_block(K, X, 1.5, 3), ValueError, "drop_rate"),
    ("drop_rate -0.1", lambda: drop_block(K, X, -0.1, 3), ValueError, "drop_rate"),
    ("drop_rate str", lambda: drop_block(K, X, "0.1", 3), TypeError, "drop_rate"),
    ("drop_rate True", lambda: drop_block(K, X, True, 3), TypeError, "drop_rate"),
    ("drop_rate None", lambda: drop_block(K, X, None, 3), TypeError, "drop_rate"),
    ("drop_rate array nan", lambda: drop_block(K, X, RATE_NAN, 3), ValueError, "drop_rate"),
    ("drop_rate vector", lambda: drop_block(K, X, RATES, 3), ValueError, "drop_rate"),
    ("block_size 0", lambda: drop_block(K, X, 0.1, 0), ValueError, "block_size"),
    ("block_size 2.5", lambda: drop_block(K, X, 0.1, 2.5), TypeError, "block_size"),
    ("block_size 3.0", lambda: drop_block(K, X, 0.1, 3.0), TypeError, "block_size"),
    ("block_size True", lambda: drop_block(K, X, 0.1, True), TypeError, "block_size"),
    ("per_channel str", lambda: drop_block(K, X, 0.1, 3, "yes"), TypeError, "per_channel"),
    ("normalize str", lambda: drop_block(K, X, 0.1, 3, normalize="no"), TypeError, "normalize"),
    ("gamma_rule", lambda: drop_block(K, X, 0.1, 3, gamma_rule="solve"), ValueError, "gamma_rule"),
    ("seed_region", lambda: drop_block(K, X, 0.1, 3, seed_region="all"), ValueError, "seed_region"),
    ("seed_region list", lambda: drop_block(K, X, 0.1, 3, seed_region=["valid"]), ValueError, "seed_region"),
    ("key int", lambda: drop_block(0, X, 0.1, 3), TypeError, "key"),
    ("key float pair", lambda: drop_block(F2, X, 0.1, 3), TypeError, "key"),
    ("gamma height 0", lambda: dropblock_gamma(0.1, 0, 8, 3), ValueError, "height"),
    ("gamma width 8.5", lambda: dropblock_gamma(0.1, 8, 8.5, 3), TypeError, "width"),
    ("gamma block_size 0", lambda: dropblock_gamma(0.1, 8, 8, 0), ValueError, "block_size"),
    ("gamma drop_rate nan", lambda: dropblock_gamma(NAN, 8, 8, 3), ValueError, "drop_rate"),
    ("gamma rule", lambda: dropblock_gamma(0.1, 8, 8, 3, rule="x"), ValueError, "rule"),
    ("gamma seed_region", lambda: dropblock_gamma(0.1, 8, 8, 3, seed_region="x"), ValueError, "seed_region"),
    ("schedule total_steps 0", lambda: scheduled_drop_rate(3, 0, 0.1), ValueError, "total_steps"),
    ("schedule total_steps 2.5", lambda: scheduled_drop_rate(3, 2.5, 0.1), TypeError, "total_steps"),
    ("schedule drop_rate nan", lambda: scheduled_drop_rate(3, 10, NAN), ValueError, "drop_rate"),
    ("schedule step str", lambda: scheduled_drop_rate("3", 10, 0.1), TypeError, "step"),
    ("schedule step nan", lambda: scheduled_drop_rate(NAN, 10, 0.1), ValueError, "step"),
    ("schedule step -1", lambda: scheduled_drop_rate(-1, 10, 0.1), ValueError, "step"),
    ("schedule step vector", lambda: scheduled_drop_rate(STEPS, 10, 0.1), ValueError, "step"),
    ("schedule step None", lambda: scheduled_drop_rate(None, 10, 0.1), TypeError, "step"),
    (
        "module call drop_rate 2",
        lambda: DropBlock(0.1).apply({}, X, deterministic=True, drop_rate=2.0),
        ValueError,
        "drop_rate",
    ),
    ("module x int", lambda: DropBlock(0.3, 3).apply({}, XI, deterministic=False, rngs={"dropout": K}), TypeError, "x"),
    ("module x int deterministic", lambda: DropBlock(0.3, 3).apply({}, XI, deterministic=True), TypeError, "x"),
    ("module deterministic str", lambda: DropBlock(0.1).apply({}, X, deterministic="no"), TypeError, "deterministic"),
    (
        "module training without the dropout rng",
        lambda: DropBlock(0.1).apply({}, X, deterministic=False),
        ValueError,
        "dropout",
    ),
]


@pytest.mark.parametrize("name,call,exc,argument", CASES, ids=[c[0] for c in CASES])
def test_bad_input(bad_input, name, call, exc, argument):
    bad_input(call, exc, argument)


def test_integer_maps_are_valid_without_the_rescale():
    out = drop_block(K, XI, 0.5, 3, normalize=False)
    assert out.dtype == jnp.int32 and set(np.unique(out).tolist()) <= {0, 1}
    assert drop_block(K, X, 0.5, np.int64(3), per_channel=np.bool_(True)).shape == X.shape
    assert float(scheduled_drop_rate(np.int64(5), np.int32(10), 0.2)) == pytest.approx(0.1)
