"""Train/eval steps against closed forms computed in numpy."""

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from train_tiny import CutoutNet, TinyCNN
from train_tiny import cut_loss as _cut_loss

from jaxcnn.train import state as st
from jaxcnn.train import steps

RNG = np.random.default_rng(0)


class Linear(nn.Module):
    """Softmax regression: its gradient has a closed form, x^T (softmax - onehot) / B."""

    @nn.compact
    def __call__(self, x, train=False):
        return nn.Dense(3, kernel_init=nn.initializers.normal(0.5), bias_init=nn.initializers.normal(0.5))(
            x.reshape(x.shape[0], -1)
        )


def _softmax(z):
    e = np.exp(z - z.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


@pytest.mark.parametrize("smoothing", [0.0, 0.2])
def test_sgd_step_matches_closed_form(smoothing):
    x = RNG.normal(size=(6, 2, 2, 1)).astype(np.float32)
    y = np.array([0, 1, 2, 2, 1, 0], np.int32)
    lr, wd = 0.3, 0.01
    state = st.create_train_state(
        Linear(), jax.random.key(1), jnp.zeros((1, 2, 2, 1)), st.make_optimizer(lr, momentum=0.0, weight_decay=wd)
    )
    w, b = (np.asarray(state.params["Dense_0"][k]) for k in ("kernel", "bias"))
    new, m = jax.jit(steps.make_train_step(label_smoothing=smoothing))(state, {"image": x, "label": y})
    xf = x.reshape(6, -1)
    target = np.eye(3)[y] * (1 - smoothing) + smoothing / 3
    p = _softmax(xf @ w + b)
    loss = -np.mean(np.sum(target * np.log(p), -1))
    g = (p - target) / 6
    np.testing.assert_allclose(float(m["loss"]), loss, rtol=1e-5)
    np.testing.assert_allclose(new.params["Dense_0"]["kernel"], w - lr * (xf.T @ g + wd * w), atol=1e-6)
    # Weight decay skips biases.
    np.testing.assert_allclose(new.params["Dense_0"]["bias"], b - lr * g.sum(0), atol=1e-6)
    assert int(new.step) == 1 and int(m["nonfinite"]) == 0


def test_kernel_mask_names_only_kernels():
    v = TinyCNN().init(jax.random.key(0), jnp.zeros((1, 8, 8, 3)))
    mask = jax.tree_util.tree_flatten_with_path(st.kernel_mask(v["params"]))[0]
    decayed = sorted(jax.tree_util.keystr(p) for p, m in mask if m)
    assert decayed == ["['Conv_0']['kernel']", "['Conv_1']['kernel']", "['Dense_0']['kernel']"]


TRAIN_STEP = jax.jit(steps.make_train_step())  # shared: one compile for the TinyCNN tests


def _tiny_state(**kw):
    return st.create_train_state(TinyCNN(**kw), jax.random.key(0), jnp.zeros((1, 8, 8, 3)), st.make_optimizer(0.1))


def _batch(n=8):
    return {"image": RNG.normal(size=(n, 8, 8, 3)).astype(np.float32), "label": RNG.integers(0, 10, n).astype(np.int32)}


def test_nonfinite_step_is_skipped_but_counted():
    state, batch = _tiny_state(), _batch()
    batch["image"][0, 0, 0, 0] = np.nan
    new, m = TRAIN_STEP(state, batch)
    assert int(m["nonfinite"]) == 1 and int(new.step) == 1
    for a, b in zip(
        jax.tree.leaves((state.params, state.batch_stats, state.opt_state)),
        jax.tree.leaves((new.params, new.batch_stats, new.opt_state)),
    ):
        np.testing.assert_array_equal(a, b)


def test_bf16_compute_keeps_fp32_params_and_tracks_fp32():
    state, batch = _tiny_state(), _batch()
    f32, m32 = TRAIN_STEP(state, batch)
    b16, m16 = jax.jit(steps.make_train_step(compute_dtype=jnp.bfloat16))(state, batch)
    assert all(x.dtype == jnp.float32 for x in jax.tree.leaves((b16.params, b16.batch_stats)))
    assert abs(float(m16["loss"]) - float(m32["loss"])) < 0.05
    assert float(m16["loss"]) != float(m32["loss"])  # bf16 really ran


def test_dropout_keys_follow_the_step():
    state, batch = _tiny_state(dropout=0.5), _batch()
    _, m0 = TRAIN_STEP(state, batch)
    _, m0_again = TRAIN_STEP(state, batch)
    _, m1 = TRAIN_STEP(state.replace(step=state.step + 1), batch)
    assert float(m0["loss"]) == float(m0_again["loss"]) != float(m1["loss"])


def test_eval_step_sums_respect_mask():
    state, batch = _tiny_state(), _batch()
    batch["mask"] = np.array([1, 1, 1, 0, 1, 0, 1, 1], np.float32)
    sums = jax.jit(steps.make_eval_step())(state, batch)
    logits = np.asarray(state.apply_fn(state.variables, batch["image"]))
    keep = batch["mask"] > 0
    nll = -np.log(_softmax(logits.astype(np.float64)))[np.arange(8), batch["label"]]
    assert float(sums["count"]) == 6
    np.testing.assert_allclose(float(sums["loss"]), nll[keep].sum(), rtol=1e-5)
    np.testing.assert_allclose(float(sums["accuracy"]), (logits.argmax(-1) == batch["label"])[keep].sum())


class ReluPool(nn.Module):
    """relu then a spatial mean: under jit XLA on CPU fuses the two (64 channels: a vectorised reduction)
    and drops a NaN there."""

    @nn.compact
    def __call__(self, x, train=False):
        return nn.Dense(3)(jax.nn.relu(x + 1.0).mean((1, 2)))


def test_eval_step_nan_pixel_gives_a_nan_loss_sum_under_jit():
    x = np.ones((2, 8, 8, 64), np.float32)
    x[0, 1, 1, 1] = np.nan
    state = st.create_train_state(ReluPool(), jax.random.key(0), jnp.zeros((1, 8, 8, 64)), st.make_optimizer(0.1))
    batch = {"image": x, "label": np.zeros(2, np.int32)}
    assert np.isnan(float(steps.make_eval_step()(state, batch)["loss"]))  # the eager reference
    assert np.isnan(float(jax.jit(steps.make_eval_step())(state, batch)["loss"]))
    finite = jax.jit(steps.make_eval_step())(state, {**batch, "image": np.ones_like(x)})
    assert np.isfinite(float(finite["loss"]))


class Upscale(nn.Module):
    @nn.compact
    def __call__(self, x, train=False):
        return jax.image.resize(nn.Conv(1, (3, 3), padding=1)(x), (x.shape[0], 8, 8, 1), "nearest")


def test_regression_step_mse_and_psnr():
    x = RNG.uniform(size=(4, 4, 4, 1)).astype(np.float32)
    t = RNG.uniform(size=(4, 8, 8, 1)).astype(np.float32)
    state = st.create_train_state(Upscale(), jax.random.key(0), jnp.zeros((1, 4, 4, 1)), st.make_optimizer(0.01))
    pred = np.asarray(state.apply_fn(state.variables, x))
    _, m = jax.jit(steps.make_train_step("regress"))(state, {"image": x, "target": t})
    err = ((pred - t) ** 2).mean(axis=(1, 2, 3))
    np.testing.assert_allclose(float(m["loss"]), err.mean(), rtol=1e-5)
    np.testing.assert_allclose(float(m["psnr"]), np.mean(-10 * np.log10(err)), rtol=1e-5)


def test_bad_arguments_are_named():
    with pytest.raises(ValueError, match="task must be one of"):
        steps.make_train_step("segment")
    with pytest.raises(ValueError, match="label_smoothing"):
        steps.make_train_step(label_smoothing=1.5)
    with pytest.raises(ValueError, match="weight_decay"):
        st.make_optimizer(0.1, weight_decay=-1)


def _unchanged(old, new):
    for a, b in zip(
        jax.tree.leaves((old.params, old.batch_stats, old.opt_state)),
        jax.tree.leaves((new.params, new.batch_stats, new.opt_state)),
    ):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("labels, bad", [([10, 10], 2), ([-1, 3], 1)])
def test_out_of_range_labels_skip_the_step(labels, bad):
    """One-hot of a label outside [0, 10) is all zeros: without the check, [10, 10] gives loss -0 and
    [-1, 3] a loss that ignores a sample. The step must leave the state bitwise unchanged and say why."""
    state = _tiny_state()
    batch = {"image": RNG.normal(size=(2, 8, 8, 3)).astype(np.float32), "label": np.array(labels, np.int32)}
    new, m = TRAIN_STEP(state, batch)
    _unchanged(state, new)
    assert int(new.step) == 1
    assert (int(m["skipped"]), int(m["bad_labels"]), int(m["nonfinite"])) == (1, bad, 0)
    ok, m_ok = TRAIN_STEP(state, {**batch, "label": np.array([0, 9], np.int32)})
    assert (int(m_ok["skipped"]), int(m_ok["bad_labels"])) == (0, 0)
    assert not np.array_equal(ok.params["Dense_0"]["kernel"], state.params["Dense_0"]["kernel"])


def test_nan_learning_rate_skips_the_step():
    """Finite loss and gradients, but the update (lr = NaN) would make every parameter NaN."""
    nan_lr = st.make_optimizer(lambda count: float("nan"))  # a schedule: a NaN constant is refused up front
    state = st.create_train_state(TinyCNN(), jax.random.key(0), jnp.zeros((1, 8, 8, 3)), nan_lr)
    new, m = TRAIN_STEP(state, _batch())
    _unchanged(state, new)
    assert np.isfinite(float(m["loss"]))
    assert (int(m["skipped"]), int(m["nonfinite"]), int(m["nonfinite_update"])) == (1, 1, 1)


def test_custom_regression_loss_matches_closed_form():
    """``loss_fn`` on a classification net's outputs: MSE to a target vector, with its closed-form
    SGD step (d/dW mean((xW + b - t)^2) = 2 x^T (z - t) / (B * 3)) and an extra metric."""
    x = RNG.normal(size=(5, 2, 2, 1)).astype(np.float32)
    t = RNG.normal(size=(5, 3)).astype(np.float32)
    lr = 0.2

    def mse(outputs, batch):
        return jnp.mean((outputs - batch["target"]) ** 2), {"mae": jnp.mean(jnp.abs(outputs - batch["target"]))}

    state = st.create_train_state(
        Linear(), jax.random.key(1), jnp.zeros((1, 2, 2, 1)), st.make_optimizer(lr, momentum=0.0, weight_decay=0.0)
    )
    w, b = (np.asarray(state.params["Dense_0"][k], np.float64) for k in ("kernel", "bias"))
    new, m = jax.jit(steps.make_train_step(loss_fn=mse))(state, {"image": x, "target": t})
    xf = x.reshape(5, -1).astype(np.float64)
    z = xf @ w + b
    g = 2 * (z - t) / z.size
    np.testing.assert_allclose(float(m["loss"]), np.mean((z - t) ** 2), rtol=1e-5)
    np.testing.assert_allclose(float(m["mae"]), np.mean(np.abs(z - t)), rtol=1e-5)
    np.testing.assert_allclose(new.params["Dense_0"]["kernel"], w - lr * xf.T @ g, atol=1e-6)
    np.testing.assert_allclose(new.params["Dense_0"]["bias"], b - lr * g.sum(0), atol=1e-6)
    assert int(m["skipped"]) == 0 and "bad_labels" not in m
    with pytest.raises(TypeError, match="loss_fn must return"):
        jax.jit(steps.make_train_step(loss_fn=lambda o, b: jnp.mean(o)))(state, {"image": x})


def test_augment_stream_feeds_cutout():
    """A second stream reaches Cutout: every 8x8 image of ones loses between (4/2)^2 (a clipped
    corner) and 4^2 pixels; the masks follow the step; without the stream Flax refuses."""
    state = st.create_train_state(CutoutNet(), jax.random.key(0), jnp.zeros((1, 8, 8, 1)), st.make_optimizer(0.1))
    batch = {"image": np.ones((16, 8, 8, 1), np.float32), "label": np.arange(16, dtype=np.int32) % 10}
    step = jax.jit(steps.make_train_step(loss_fn=_cut_loss, rng_streams=("dropout", "augment")))
    _, m0 = step(state, batch)
    _, m0_again = step(state, batch)
    _, m1 = step(state.replace(step=state.step + 1), batch)
    assert 4 / 64 <= float(m0["cut_fraction"]) <= 16 / 64
    assert float(m0["cut_fraction"]) == float(m0_again["cut_fraction"]) != float(m1["cut_fraction"])
    with pytest.raises(Exception, match="augment"):  # flax.errors.InvalidRngError
        steps.make_train_step(loss_fn=_cut_loss)(state, batch)


def test_step_rngs_are_distinct_streams():
    keys = steps.step_rngs(jax.random.key(0), 3, ("dropout", "augment"))
    assert sorted(keys) == ["augment", "augment_global", "dropout", "dropout_global"]
    data = {k: tuple(np.asarray(jax.random.key_data(v)).tolist()) for k, v in keys.items()}
    assert len(set(data.values())) == 4
    with pytest.raises(TypeError, match="rng_streams"):
        steps.make_train_step(rng_streams="dropout")
    with pytest.raises(TypeError, match="loss_fn must be callable"):
        steps.make_train_step(loss_fn=3)
