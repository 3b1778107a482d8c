"""``jaxcnn.train.fit``: the same steps as a plain jit loop, logs, eval, checkpoints, bit-identical
resume, host-side label checks, and an open loss / second random stream. The mesh-of-4 equivalence
runs in ``sd_pmap_worker.py`` (test_parallel.py); the SIGKILL resume through the CLI in test_cli.py."""

import json
import shutil

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from train_tiny import CutoutNet, TinyCNN, cut_loss

from jaxcnn.train import create_train_state, fit, make_optimizer, make_train_step
from jaxcnn.train.checkpoint import restore_arrays

B, SIZE = 8, 8


def batch_at(step, labels=None):
    rng = np.random.default_rng([7, step])
    return {
        "image": rng.normal(size=(B, SIZE, SIZE, 3)).astype(np.float32),
        "label": rng.integers(0, 10, B).astype(np.int32) if labels is None else np.asarray(labels, np.int32),
    }


EVAL = [{**batch_at(100), "mask": np.array([1, 1, 1, 1, 1, 1, 0, 0], np.float32)}]


def _fresh():
    return create_train_state(
        TinyCNN(dropout=0.3), jax.random.key(0), jnp.zeros((1, SIZE, SIZE, 3)), make_optimizer(0.1)
    )


def _leaves(s):
    return [np.asarray(x) for x in jax.tree.leaves((s.params, s.batch_stats, s.opt_state))]


def test_fit_equals_a_plain_jit_loop_and_logs(tmp_path):
    """Oracle: four steps of the jitted step by hand; fit (a mesh of one) must give the same bits."""
    state, step = _fresh(), jax.jit(make_train_step())
    losses = []
    for i in range(4):
        state, m = step(state, batch_at(i))
        losses.append(float(m["loss"]))
    res = fit(_fresh(), batch_at, 4, eval_data=EVAL, eval_every=2, out=tmp_path, ckpt_every=3, progress=False)
    assert all(np.array_equal(a, b) for a, b in zip(_leaves(state), _leaves(res.state)))
    rows = [json.loads(ln) for ln in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows] == [1, 2, 3, 4] and [r["loss"] for r in rows] == losses
    assert all(r["skipped"] == 0 and r["bad_labels"] == 0 for r in rows)
    assert [r["step"] for r in res.evals] == [2, 4]
    # test loss by hand on the 6 unmasked rows
    logits = np.asarray(state.apply_fn(state.variables, EVAL[0]["image"]), np.float64)
    nll = np.log(np.exp(logits).sum(-1)) - logits[np.arange(B), EVAL[0]["label"]]
    assert rows[-1]["test_loss"] == pytest.approx(nll[:6].mean(), rel=1e-5)
    assert sorted(int(p.name) for p in (tmp_path / "ckpt").iterdir() if p.name.isdigit()) == [3, 4]
    assert int(restore_arrays(tmp_path / "ckpt")["step"]) == 4
    assert res.devices == 1 and len(res.step_s) == 4


def test_resume_is_bit_identical(tmp_path):
    full = fit(_fresh(), batch_at, 5, out=tmp_path / "full", ckpt_every=2, progress=False)
    fit(_fresh(), batch_at, 3, out=tmp_path / "cut", ckpt_every=2, progress=False)
    shutil.rmtree(tmp_path / "cut" / "ckpt" / "3")  # as if killed after logging step 3, before its save
    with pytest.raises(ValueError, match="already holds checkpoints"):
        fit(_fresh(), batch_at, 5, out=tmp_path / "cut", ckpt_every=2, progress=False)
    resumed = fit(_fresh(), batch_at, 5, out=tmp_path / "cut", ckpt_every=2, resume=True, progress=False)
    assert resumed.start_step == 2
    assert all(np.array_equal(a, b) for a, b in zip(_leaves(full.state), _leaves(resumed.state)))
    assert (tmp_path / "full" / "metrics.jsonl").read_text() == (tmp_path / "cut" / "metrics.jsonl").read_text()


@pytest.mark.parametrize(
    "labels, match",
    [
        ([10, 10] + [0] * 6, r"step 1: label\(s\) \[10\] at rows \[0, 1\]"),
        ([-1, 3] + [0] * 6, r"step 1: label\(s\) \[-1\] at rows \[0\]"),
    ],
)
def test_bad_labels_raise_before_the_step(labels, match):
    data = lambda step: batch_at(step, labels if step == 1 else None)
    with pytest.raises(ValueError, match=match + r" outside \[0, 10\)"):
        fit(TinyCNN(), data, 3, tx=make_optimizer(0.1), progress=False)


def test_nan_learning_rate_stops_with_the_reason():
    with pytest.raises(FloatingPointError, match="3 steps in a row skipped.*update made params non-finite"):
        # a NaN schedule: make_optimizer refuses a NaN constant up front
        fit(TinyCNN(), batch_at, 5, tx=make_optimizer(lambda count: float("nan")), max_skipped=3, progress=False)


def test_custom_loss_and_augment_stream_through_fit():
    data = lambda step: {"image": np.ones((16, 8, 8, 1), np.float32), "label": np.arange(16, dtype=np.int32) % 10}
    res = fit(
        CutoutNet(),
        data,
        3,
        tx=make_optimizer(0.1),
        loss_fn=cut_loss,
        rng_streams=("dropout", "augment"),
        progress=False,
    )
    fractions = [r["cut_fraction"] for r in res.history]
    assert all(4 / 64 <= f <= 16 / 64 for f in fractions) and len(set(fractions)) > 1
    assert "bad_labels" not in res.history[0]  # a custom loss owns its targets


def test_bad_arguments():
    with pytest.raises(ValueError, match="needs tx"):
        fit(TinyCNN(), batch_at, 1, progress=False)
    with pytest.raises(ValueError, match="steps must be"):
        fit(_fresh(), batch_at, -1, progress=False)
    with pytest.raises(TypeError, match="re-iterable"):
        fit(_fresh(), batch_at, 1, eval_data=iter(EVAL), progress=False)
    with pytest.raises(ValueError, match="devices=99 requested"):
        fit(_fresh(), batch_at, 1, devices=99, progress=False)
    it = fit(_fresh(), iter([batch_at(0), batch_at(1)]), 2, progress=False)  # an iterable of batches works
    assert int(it.state.step) == 2
