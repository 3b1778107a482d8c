"""``jaxcnn.xla_cpu.remat``: the recomputation really happens (more convs in the compiled program, less
temp memory) and the gradients equal plain autodiff of the un-rematted function."""

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from jaxcnn.models import create_model
from jaxcnn.train import state as st
from jaxcnn.train import steps
from jaxcnn.xla_cpu import tied_checkpoint


def _block(x, w, scale):
    for _ in range(3):
        x = jnp.tanh(scale * lax.conv_general_dilated(x, w, (1, 1), "SAME", dimension_numbers=("NHWC", "HWIO", "NHWC")))
    return x


def _loss(w, x, wrap):
    f = wrap(_block)
    for _ in range(2):
        x = f(x, w, 0.5)
    return jnp.sum(x**2)


def _n_convs(fn, *args):
    return jax.jit(fn).lower(*args).compile().as_text().count(" convolution(")


def test_tied_checkpoint_recomputes_and_matches_autodiff():
    rng = np.random.default_rng(0)
    x = jnp.asarray(rng.normal(size=(2, 8, 8, 4)), jnp.float32)
    w = jnp.asarray(rng.normal(size=(3, 3, 4, 4)) * 0.3, jnp.float32)
    plain = jax.grad(lambda w, x: _loss(w, x, lambda f: f), argnums=(0, 1))
    tied = jax.grad(lambda w, x: _loss(w, x, lambda f: tied_checkpoint(f, static_argnums=2)), argnums=(0, 1))
    for a, b in zip(plain(w, x), tied(w, x)):
        np.testing.assert_allclose(b, a, rtol=1e-5, atol=1e-6)
    # 6 forward convs recomputed -> 6 more convolutions than plain autodiff in the compiled program.
    assert _n_convs(tied, w, x) == _n_convs(plain, w, x) + 6


def _step_pair(model_kw, batch, key=0):
    out = []
    for remat in (False, True):
        model = create_model("cifar_resnet20", remat=remat, stage_sizes=(1, 2, 1), widths=(4, 8, 8), **model_kw)
        state = st.create_train_state(model, jax.random.key(key), jnp.zeros((1, 16, 16, 3)), st.make_optimizer(0.1))
        step = jax.jit(steps.make_train_step())
        out.append((step, state))
    return out


def test_model_remat_train_step_equals_plain_with_rngs():
    # DropBlock draws from the 'dropout' rng inside the rematted blocks: the rng groups must be lifted.
    rng = np.random.default_rng(1)
    batch = {
        "image": rng.normal(size=(8, 16, 16, 3)).astype(np.float32),
        "label": rng.integers(0, 10, 8).astype(np.int32),
    }
    results = []
    for step, state in _step_pair(dict(drop_block_rate=0.2, drop_block_size=3, drop_block_stages=(2, 3)), batch):
        state, m = step(state, batch)
        results.append((float(m["loss"]), state.variables))
    (l0, v0), (l1, v1) = results
    assert abs(l0 - l1) <= 1e-5
    for a, b in zip(jax.tree.leaves(v0), jax.tree.leaves(v1)):  # params and BatchNorm statistics
        np.testing.assert_allclose(b, a, atol=1e-5, rtol=0)


def test_model_remat_saves_temp_memory():
    # XLA's own buffer assignment (compile only, no timing): per-block remat must keep well under
    # the plain step's activations. Plain nn.remat gives 1.0x here on XLA:CPU.
    shape, batch = (32, 32, 3), 64
    temps = []
    for remat in (False, True):
        model = create_model("cifar_resnet20", remat=remat)
        state = jax.eval_shape(
            lambda: st.create_train_state(model, jax.random.key(0), jnp.zeros((1,) + shape), st.make_optimizer(0.1))
        )
        b = {
            "image": jax.ShapeDtypeStruct((batch,) + shape, jnp.float32),
            "label": jax.ShapeDtypeStruct((batch,), jnp.int32),
        }
        compiled = jax.jit(steps.make_train_step()).lower(state, b).compile()
        temps.append(compiled.memory_analysis().temp_size_in_bytes)
    assert temps[1] < 0.6 * temps[0], temps


def test_static_argnums_past_the_call_are_refused_naming_them():
    """A static index past the method's arguments would silently make nothing static (``platform_remat``)
    or fail inside the transform with shifted indices (``remat``): both name it, counting ``self`` as 0."""
    import flax.linen as nn
    import pytest

    from jaxcnn.xla_cpu import platform_remat, remat

    class Scale(nn.Module):
        @nn.compact
        def __call__(self, x, factor):
            return x * factor

    x = jnp.ones((2, 3))
    for transform in (remat, platform_remat):
        ok = transform(Scale, static_argnums=(2,))()
        assert np.array_equal(ok.apply({}, x, 2.0), 2 * np.ones((2, 3)))
        with pytest.raises(ValueError, match=r"static_argnums.*3"):
            transform(Scale, static_argnums=(3,))().apply({}, x, 2.0)
