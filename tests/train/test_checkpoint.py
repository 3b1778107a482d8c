"""Orbax checkpoints: keep-last-N, exact round trip, and bad checkpoints that destroy nothing."""

import functools
import os
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from train_tiny import TinyCNN

from jaxcnn.train import state as st
from jaxcnn.train import steps
from jaxcnn.train.checkpoint import Checkpointer


@functools.lru_cache
def _state(width=8):
    s = st.create_train_state(TinyCNN(width=width), jax.random.key(0), jnp.zeros((1, 8, 8, 3)), st.make_optimizer(0.1))
    batch = {"image": np.ones((4, 8, 8, 3), np.float32), "label": np.arange(4, dtype=np.int32)}
    return jax.jit(steps.make_train_step())(s, batch)[0]  # non-trivial momentum and batch_stats


def _equal(a, b):
    return all(np.array_equal(x, y) for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b)))


def test_keep_last_n_and_exact_round_trip(tmp_path):
    s = _state()
    with Checkpointer(tmp_path, every=2, keep=2) as ckpt:
        for i in range(1, 8):
            ckpt.save(s.replace(step=jnp.int32(i)))
        assert ckpt.all_steps() == [4, 6]
        assert ckpt.save(s.replace(step=jnp.int32(7)), force=True)
        assert ckpt.all_steps() == [6, 7]
        r = ckpt.restore(_state(), step=None)
    assert int(r.step) == 7
    assert _equal((r.params, r.batch_stats, r.opt_state), (s.params, s.batch_stats, s.opt_state))
    assert np.array_equal(jax.random.key_data(r.rng), jax.random.key_data(s.rng))


def test_corrupt_latest_raises_and_keeps_the_good_one(tmp_path):
    s = _state()
    with Checkpointer(tmp_path, every=1, keep=3) as ckpt:
        ckpt.save(s.replace(step=jnp.int32(1)))
        ckpt.save(s.replace(step=jnp.int32(2)))
    for f in Path(tmp_path, "2").rglob("*"):
        if f.is_file():
            f.write_bytes(b"garbage")
    with Checkpointer(tmp_path, every=1, keep=3) as ckpt:  # a restarted run
        with pytest.raises(
            ValueError, match=r"checkpoint step 2 .* corrupt or incompatible.*earlier checkpoints \[1\]"
        ):
            ckpt.restore(s)
        assert ckpt.all_steps() == [1, 2] and os.path.isdir(tmp_path / "1")
        assert _equal(ckpt.restore(s, step=1).params, s.params)


def test_incompatible_or_missing_checkpoint(tmp_path):
    with Checkpointer(tmp_path / "a", every=1) as ckpt:
        with pytest.raises(ValueError, match="no checkpoint"):
            ckpt.restore(_state())
        ckpt.save(_state())
        with pytest.raises(ValueError, match="incompatible"):
            ckpt.restore(_state(width=4))
    with pytest.raises(ValueError, match="every must be a positive integer"):
        Checkpointer(tmp_path / "b", every=0)


def test_flipped_bytes_in_the_data_files_are_caught(tmp_path):
    """Corrupted data files are refused (a chunk that fails to decode, or one that decodes to wrong
    values and fails its checksum), naming the step and leaving the earlier checkpoint restorable.
    The checksum path alone is pinned by ``test_wrong_but_decodable_data_fails_its_checksum``."""
    s = _state()
    with Checkpointer(tmp_path, every=1, keep=3) as ckpt:
        ckpt.save(s.replace(step=jnp.int32(1)))
        ckpt.save(s.replace(step=jnp.int32(2)))
    # OCDBT is log-structured: a step is sometimes written as several data files, some of whose bytes
    # no array reads. Flip every 16th byte of every data file, so live array bytes are certainly hit.
    files = [
        f
        for f in Path(tmp_path, "2").rglob("*")
        if f.is_file() and f.parent.name == "d" and f.parent.parent.name.startswith("ocdbt.process")
    ]
    assert files, "no OCDBT data files under step 2"
    for f in files:
        raw = bytearray(f.read_bytes())
        raw[::16] = bytes(b ^ 0xFF for b in raw[::16])
        f.write_bytes(bytes(raw))
    with Checkpointer(tmp_path, every=1, keep=3) as ckpt:
        # a flip inside a compressed chunk fails to decode, one elsewhere decodes to wrong values and
        # only the checksums see it: either way a ValueError naming the step
        with pytest.raises(
            ValueError, match=r"(?s)checkpoint step 2 .*(checksum mismatch|corrupt).*earlier checkpoints \[1\]"
        ):
            ckpt.restore(s)
        assert ckpt.all_steps() == [1, 2]
        r = ckpt.restore(s, step=1)
    assert int(r.step) == 1 and _equal((r.params, r.batch_stats, r.opt_state), (s.params, s.batch_stats, s.opt_state))


def test_wrong_but_decodable_data_fails_its_checksum(tmp_path):
    """Deterministic for the checksum path: step 2's array data replaced by another state's valid
    data (same structure, different values), its metadata (with the checksums) kept. Orbax restores
    such data without complaint; the checksums must refuse it."""
    import shutil

    s, other = _state(), _state().replace(params=jax.tree.map(lambda a: a + 1, _state().params))
    with Checkpointer(tmp_path / "a", every=1, keep=3) as ckpt:
        ckpt.save(s.replace(step=jnp.int32(1)))
        ckpt.save(s.replace(step=jnp.int32(2)))
    with Checkpointer(tmp_path / "b", every=1, keep=3) as ckpt:
        ckpt.save(other.replace(step=jnp.int32(2)))
    shutil.rmtree(tmp_path / "a" / "2" / "default")
    shutil.copytree(tmp_path / "b" / "2" / "default", tmp_path / "a" / "2" / "default")
    with Checkpointer(tmp_path / "a", every=1, keep=3) as ckpt:
        with pytest.raises(ValueError, match=r"checkpoint step 2 .*checksum mismatch.*earlier checkpoints \[1\]"):
            ckpt.restore(s)
        assert int(ckpt.restore(s, step=1).step) == 1
