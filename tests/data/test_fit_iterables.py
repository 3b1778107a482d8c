"""``fit`` with plain iterables: a generator without state is replayed on resume; a bad batch stops the
run only after the steps before it are logged and checkpointed."""

import numpy as np
import optax
import pytest
from data_helpers import make_tiny

from jaxcnn.train import fit
from jaxcnn.train.checkpoint import Checkpointer


def _batches(bad_at=None):
    for step in range(100):
        rng = np.random.default_rng([1, step])
        labels = rng.integers(0, 10, 4).astype(np.int32)
        if step == bad_at:
            labels[1] = 99
        yield {"image": rng.normal(size=(4, 4, 4, 3)).astype(np.float32), "label": labels}


def test_a_generator_is_replayed_on_resume_and_a_bad_batch_stops_after_the_saved_step(tmp_path):
    kw = dict(tx=optax.sgd(0.1), progress=False, ckpt_every=10)
    with pytest.raises(ValueError, match=r"step 3: label\(s\) \[99\] at rows \[1\]"):
        fit(make_tiny(), _batches(bad_at=3), 6, out=tmp_path, **kw)
    with Checkpointer(tmp_path / "ckpt") as c:
        assert c.all_steps() == [3] and c.data_state(3) is None  # steps 0-2 done and saved; no iterator state
    resumed = fit(make_tiny(), _batches(), 6, out=tmp_path, resume=True, **kw)  # replays 3 batches
    fit(make_tiny(), _batches(), 6, out=tmp_path / "full", **kw)
    assert resumed.start_step == 3
    assert (tmp_path / "metrics.jsonl").read_text() == (tmp_path / "full" / "metrics.jsonl").read_text()
