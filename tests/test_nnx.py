"""``jaxcnn.nnx``: the NNX face gives the Linen model's eval logits on the same weights, and one
NNX training step (``nnx.Optimizer``) equals one Linen step (``apply`` + optax by hand)."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from flax import nnx

import jaxcnn.nnx as jnnx
from jaxcnn.models import create_model, default_input_shape, list_models

# fast versions of a model of each family for the default suite (same code paths, smaller nets)
FAST = {
    "cifar_resnet20": dict(stage_sizes=(1, 1, 1)),
    "resnet18": dict(stage_sizes=(1, 1, 1, 1), widths=(8, 8, 16, 16)),
    "preact_resnet50": dict(stage_sizes=(1, 1, 1, 1), widths=(4, 4, 8, 8)),
    "mobilenet_v2": dict(width_mult=0.25, dropout_rate=0.0),
    "espcn": {},
}


def _shape(name, batch=2):
    n, h, w, c = default_input_shape(name, batch)
    return (batch, min(h, 32), min(w, 32), c)


def _setup(name, overrides):
    shape = _shape(name)
    linen = create_model(name, **overrides)
    v = linen.init(jax.random.key(1), jnp.zeros(shape), train=False)
    model = jnnx.create_model(name, rngs=nnx.Rngs(0), input_shape=shape, **overrides)
    jnnx.load_variables(model, v)
    x = jax.random.normal(jax.random.key(2), shape)
    return linen, v, model, x


def _eval_equal(name, overrides):
    linen, v, model, x = _setup(name, overrides)
    model.eval()
    np.testing.assert_allclose(model(x), linen.apply(v, x, train=False), rtol=1e-5, atol=1e-5)


def _loss(out, target):
    if out.ndim == 2:
        return optax.softmax_cross_entropy_with_integer_labels(out, target).mean()
    return jnp.mean((out - target) ** 2)


def _step_equal(name, overrides):
    linen, v, model, x = _setup(name, overrides)
    out_shape = jax.eval_shape(lambda: linen.apply(v, x)).shape
    target = jnp.arange(x.shape[0]) % out_shape[-1] if len(out_shape) == 2 else jnp.ones(out_shape) * 0.1
    tx = optax.sgd(0.05, momentum=0.9)

    # Linen: apply with mutable batch_stats, optax by hand
    def linen_loss(params, stats):
        out, new = linen.apply({"params": params, **stats}, x, train=True, mutable=list(stats))
        return _loss(out, target), new

    stats = {k: c for k, c in v.items() if k != "params"}
    (l_lin, new_stats), g = jax.value_and_grad(linen_loss, has_aux=True)(v["params"], stats)
    upd, _ = tx.update(g, tx.init(v["params"]), v["params"])
    want = {"params": optax.apply_updates(v["params"], upd), **new_stats}

    # NNX: the documented step
    model.train()
    optimizer = nnx.Optimizer(model, tx, wrt=nnx.Param)
    l_nnx, grads = nnx.value_and_grad(lambda m: _loss(m(x), target))(model)
    optimizer.update(model, grads)

    np.testing.assert_allclose(l_nnx, l_lin, rtol=1e-6)
    got = jnnx.linen_variables(model)
    jax.tree_util.tree_map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6), got, want)


@pytest.mark.parametrize("name", list(FAST))
def test_eval_logits_equal_linen_fast(name):
    _eval_equal(name, FAST[name])


@pytest.mark.parametrize("name", ["cifar_resnet20", "espcn"])
def test_train_step_equals_linen_fast(name):
    _step_equal(name, FAST[name])


@pytest.mark.slow
@pytest.mark.parametrize("name", list_models())
def test_every_registry_model_eval_and_step(name):
    overrides = {"dropout_rate": 0.0} if name == "mobilenet_v2" else {}
    _eval_equal(name, overrides)
    _step_equal(name, overrides)


def test_train_eval_mode_is_the_nnx_way():
    _, v, model, x = _setup("cifar_resnet20", FAST["cifar_resnet20"])
    assert model.deterministic is False  # NNX layers start in training mode
    model.eval()
    a = model(x)
    np.testing.assert_array_equal(
        jnnx.linen_variables(model)["batch_stats"]["bn1"]["mean"], v["batch_stats"]["bn1"]["mean"]
    )
    model.train()
    b = model(x)  # batch statistics: a different output, and the running mean moves
    assert not np.allclose(a, b)
    assert not np.allclose(jnnx.linen_variables(model)["batch_stats"]["bn1"]["mean"], v["batch_stats"]["bn1"]["mean"])


def test_errors():
    with pytest.raises(ValueError, match="unknown model"):
        jnnx.create_model("resnet19", rngs=nnx.Rngs(0))
    with pytest.raises(TypeError, match="rngs must be an nnx.Rngs"):
        jnnx.create_model("espcn", rngs=0)
    model = jnnx.create_model("espcn", rngs=nnx.Rngs(0))
    with pytest.raises(ValueError, match="tree"):
        jnnx.load_variables(model, {"params": {}})
