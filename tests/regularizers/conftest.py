import jax
import pytest


@pytest.fixture(autouse=True)
def _fast_threefry():
    # The default partitionable threefry takes ~2 s of XLA:CPU compile per new shape, which
    # dominated this directory's run time; the legacy scheme compiles in ~0.3 s. The tests
    # check statistics and same-key-same-bits, which hold under either scheme.
    with jax.threefry_partitionable(False):
        yield
