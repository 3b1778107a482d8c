"""oneDNN convolutions equal XLA's conv computed in float64 (the oracle), forward and both gradients,
under jit/grad/jvp/Hessians/vmap/cond/scan; lowered for CPU they are FFI calls, for CUDA plain convolutions; without
the native library everything is XLA's conv with one warning."""

import os
import subprocess
import sys
import warnings

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from jax import lax

from jaxcnn.identities import conv_transpose_closed_form
from jaxcnn.layers import Conv
from jaxcnn.models import create_model
from jaxcnn.train.state import create_train_state, make_optimizer
from jaxcnn.train.steps import make_train_step
from jaxcnn.xla_cpu import _native
from jaxcnn.xla_cpu.onednn import OneDNNConv, onednn_available, onednn_conv, onednn_conv_general_dilated
from jaxcnn.xla_cpu.transposed import onednn_conv_transpose

NHWC = ("NHWC", "HWIO", "NHWC")
needs_native = pytest.mark.skipif(
    not onednn_available(),
    reason="oneDNN handlers not built or not loadable: "
    f"{_native.unavailable_reason()} (build with `python setup.py build_ext --inplace`)",
)


def _oracle(x, w, g, strides, padding, dilation, groups):
    """y, dx, dw of lax.conv_general_dilated in float64."""
    with jax.enable_x64(True):
        x64, w64, g64 = (jnp.asarray(np.asarray(a, np.float64)) for a in (x, w, g))

        def conv(x, w):
            return lax.conv_general_dilated(
                x, w, strides, padding, rhs_dilation=dilation, dimension_numbers=NHWC, feature_group_count=groups
            )

        y, vjp = jax.vjp(conv, x64, w64)
        return [np.asarray(a) for a in (y, *vjp(g64))]


def _close(a, ref, name):
    scale = max(1.0, float(np.abs(ref).max(initial=0.0)))
    np.testing.assert_allclose(np.asarray(a, np.float64), ref, rtol=1e-5, atol=2e-6 * scale, err_msg=name)


def _run(x, w, g, cfg):
    y, vjp = jax.vjp(jax.jit(lambda x, w: onednn_conv(x, w, *cfg)), x, w)
    return [y, *vjp(g)]


def _data(seed, x_shape, w_shape, cfg):
    kx, kw, kg = jax.random.split(jax.random.key(seed), 3)
    x, w = jax.random.normal(kx, x_shape), jax.random.normal(kw, w_shape)
    g = jax.random.normal(kg, jax.eval_shape(lambda: onednn_conv(x, w, *cfg)).shape)
    return x, w, g


@st.composite
def conv_configs(draw):
    groups = draw(st.sampled_from([1, 1, 2, 3, "depthwise"]))
    ci = draw(st.integers(1, 4))
    if groups == "depthwise":
        groups, ci, og = draw(st.integers(1, 6)), 1, draw(st.integers(1, 2))
    else:
        og = draw(st.integers(1, 4))
    kh, kw = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    strides = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    dilation = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    padding = tuple((draw(st.integers(0, 3)), draw(st.integers(0, 3))) for _ in range(2))
    hw = []
    for k, d, (lo, hi) in zip((kh, kw), dilation, padding):
        hw.append(max(1, (k - 1) * d + 1 - lo - hi) + draw(st.integers(0, 6)))  # output >= 1
    n = draw(st.integers(1, 3))
    return (n, *hw, ci * groups), (kh, kw, ci, og * groups), (strides, padding, dilation, groups)


def _check_against_oracle(config, seed):
    x_shape, w_shape, cfg = config
    x, w, g = _data(seed, x_shape, w_shape, cfg)
    for got, ref, name in zip(_run(x, w, g, cfg), _oracle(x, w, g, *cfg), ("y", "dx", "dw")):
        _close(got, ref, f"{name} of {x_shape} * {w_shape}, cfg {cfg}")


@needs_native
@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(conv_configs(), st.integers(0, 2**16))
def test_forward_and_gradients_equal_float64_conv(config, seed):
    _check_against_oracle(config, seed)


@needs_native
@pytest.mark.slow
@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(conv_configs(), st.integers(0, 2**16))
def test_forward_and_gradients_equal_float64_conv_many(config, seed):
    _check_against_oracle(config, seed)


@needs_native
@pytest.mark.skipif(not _native.bf16_supported(), reason="this CPU has no oneDNN bf16 convolution kernels")
@settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(conv_configs(), st.integers(0, 2**16))
def test_bfloat16_runs_on_onednn_and_equals_float64_conv(config, seed):
    """bfloat16 operands run on oneDNN (the jaxprs hold its primitives, outputs stay bfloat16) and equal
    the float64 conv of the same bfloat16 values to bfloat16 rounding of the output: oneDNN accumulates
    in float32, so the error is the final rounding (2^-8 relative) plus float32 sums."""
    x_shape, w_shape, cfg = config
    x, w, g = (a.astype(jnp.bfloat16) for a in _data(seed, x_shape, w_shape, cfg))
    fn = lambda x, w: onednn_conv(x, w, *cfg)
    jaxpr = str(jax.make_jaxpr(lambda x, w, g: jax.vjp(fn, x, w)[1](g))(x, w, g))
    assert "onednn_conv_bwd_data" in jaxpr and "onednn_conv_bwd_weights" in jaxpr
    got = _run(x, w, g, cfg)
    for a, ref, name in zip(got, _oracle(x, w, g, *cfg), ("y", "dx", "dw")):
        assert a.dtype == jnp.bfloat16, name
        tol = 2.0**-7 * max(1.0, float(np.abs(ref).max(initial=0.0)))
        np.testing.assert_allclose(np.asarray(a, np.float64), ref, rtol=2.0**-7, atol=tol, err_msg=name)


# (x shape, w shape, (strides, padding, dilation, groups)): plain, strided, depthwise, grouped+dilated.
CASES = [
    ((2, 8, 8, 4), (3, 3, 4, 6), ((1, 1), ((1, 1), (1, 1)), (1, 1), 1)),
    ((2, 9, 7, 4), (1, 1, 4, 8), ((2, 2), ((0, 0), (0, 0)), (1, 1), 1)),
    ((2, 8, 8, 6), (3, 3, 1, 6), ((2, 1), ((1, 0), (2, 1)), (1, 1), 6)),
    ((2, 10, 9, 6), (3, 2, 2, 9), ((1, 2), ((2, 1), (0, 2)), (2, 1), 3)),
]


@needs_native
@pytest.mark.parametrize("case", [CASES[0], CASES[3]])
def test_vmap_folds_batches_and_groups(case):
    x_shape, w_shape, cfg = case
    x1, w1, g1 = _data(1, x_shape, w_shape, cfg)
    x, w = jnp.stack([x1, -2 * x1, x1[::-1]]), jnp.stack([w1, w1[::-1], 0.5 * w1])

    def xla(x, w):
        return lax.conv_general_dilated(
            x, w, cfg[0], cfg[1], rhs_dilation=cfg[2], dimension_numbers=NHWC, feature_group_count=cfg[3]
        )

    def new(x, w):
        return onednn_conv(x, w, *cfg)

    for axes in [(0, None), (None, 0), (0, 0)]:
        xs, ws = (x if axes[0] == 0 else x[0]), (w if axes[1] == 0 else w[0])

        def loss(f):
            return lambda x, w: jnp.sum(jnp.sin(f(x, w)) * g1)

        for transform in (lambda f: f, lambda f: jax.grad(loss(f), (0, 1))):
            got = jax.jit(jax.vmap(transform(new), axes))(xs, ws)
            ref = jax.jit(jax.vmap(transform(xla), axes))(xs, ws)
            for a, b in zip(jax.tree.leaves(got), jax.tree.leaves(ref)):
                np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-4, err_msg=f"vmap axes {axes}")


@needs_native
@pytest.mark.parametrize("case", [CASES[2], CASES[3]])
def test_forward_mode_and_second_order_equal_float64_conv(case):
    """jvp, and Hessian-vector products (forward over reverse, reverse over reverse) w.r.t. both
    arguments, against XLA's conv in float64: the three primitives' JVP and transpose rules close
    over each other."""
    x_shape, w_shape, cfg = case
    x, w, g = _data(4, x_shape, w_shape, cfg)
    tx, tw = jax.random.normal(jax.random.key(5), x.shape), jax.random.normal(jax.random.key(6), w.shape)

    def derivatives(conv, x, w, tx, tw, g):
        def loss(x, w):
            return jnp.sum(jnp.sin(conv(x, w)) * g)

        def directional(x, w):  # <grad loss, (tx, tw)>: reverse over reverse transposes the gradients
            gx, gw = jax.grad(loss, (0, 1))(x, w)
            return jnp.sum(gx * tx) + jnp.sum(gw * tw)

        _, jvp = jax.jvp(conv, (x, w), (tx, tw))
        _, hvp = jax.jvp(jax.grad(loss, (0, 1)), (x, w), (tx, tw))
        return [jvp, *hvp, *jax.grad(directional, (0, 1))(x, w)]

    got = jax.jit(lambda *a: derivatives(lambda x, w: onednn_conv(x, w, *cfg), *a))(x, w, tx, tw, g)
    with jax.enable_x64(True):
        ref = derivatives(
            lambda x, w: lax.conv_general_dilated(
                x, w, cfg[0], cfg[1], rhs_dilation=cfg[2], dimension_numbers=NHWC, feature_group_count=cfg[3]
            ),
            *(jnp.asarray(np.asarray(a, np.float64)) for a in (x, w, tx, tw, g)),
        )
        ref = [np.asarray(r) for r in ref]
    for a, r, name in zip(got, ref, ("jvp", "hvp x", "hvp w", "reverse hvp x", "reverse hvp w"), strict=True):
        _close(a, r, f"{name} of {x_shape} * {w_shape}, cfg {cfg}")
    hlo = jax.jit(lambda *a: derivatives(lambda x, w: onednn_conv(x, w, *cfg), *a)).lower(x, w, tx, tw, g).as_text()
    assert "jaxcnn_onednn_conv_bwd_data" in hlo and "stablehlo.convolution" not in hlo


@needs_native
def test_inside_cond_and_scan():
    x, w, g = _data(2, (2, 8, 8, 4), (3, 3, 4, 4), CASES[0][2])
    cfg = CASES[0][2]

    def net(conv):
        def f(x, w, flag):
            x = lax.cond(flag, lambda x: conv(x, w), lambda x: x * 2.0, x)
            y, _ = lax.scan(lambda h, _: (jnp.tanh(conv(h, w)), None), x, None, length=3)
            return jnp.sum(y * g)

        return jax.jit(jax.value_and_grad(f, (0, 1)))

    def xla(x, w):
        return lax.conv_general_dilated(x, w, cfg[0], cfg[1], dimension_numbers=NHWC)

    for flag in (True, False):
        got, ref = net(lambda x, w: onednn_conv(x, w, *cfg))(x, w, flag), net(xla)(x, w, flag)
        for a, b in zip(jax.tree.leaves(got), jax.tree.leaves(ref)):
            np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-4)
    hlo = net(lambda x, w: onednn_conv(x, w, *cfg)).lower(x, w, True).as_text()
    assert "jaxcnn_onednn_conv_bwd_weights" in hlo and "stablehlo.convolution" not in hlo


@needs_native
def test_lowering_picks_onednn_for_cpu_and_xla_conv_for_cuda():
    x = jnp.ones((2, 8, 8, 4))
    model = OneDNNConv(5, (3, 3))
    params = model.init(jax.random.key(0), x)

    def step(params, x):
        return jax.grad(lambda p: jnp.sum(model.apply(p, x) ** 2))(params)

    traced = jax.jit(step).trace(params, x)
    cpu = traced.lower(lowering_platforms=("cpu",)).as_text()
    cuda = traced.lower(lowering_platforms=("cuda",)).as_text()
    for target in ("fwd", "bwd_weights"):
        assert f"jaxcnn_onednn_conv_{target}" in cpu
    assert "stablehlo.convolution" not in cpu
    assert "jaxcnn_onednn" not in cuda and "stablehlo.convolution" in cuda
    both = traced.lower(lowering_platforms=("cpu", "cuda")).as_text()
    assert "jaxcnn_onednn_conv_fwd" in both and "stablehlo.convolution" in both


_MESH_SCRIPT = """
import jax, jax.numpy as jnp, numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec as P
from jaxcnn.xla_cpu import onednn_conv
def grads(x, w):
    return jax.grad(lambda x, w: jnp.sum(onednn_conv(x, w, 1, ((1, 1), (1, 1))) ** 2), (0, 1))(x, w)
x, w = jnp.ones((4, 6, 6, 3)), jnp.ones((3, 3, 3, 5))
mesh = Mesh(np.array(jax.devices()), ("d",))
for where, xs in (("one", jax.device_put(x, jax.devices()[1])), ("mesh", jax.device_put(x, NamedSharding(mesh, P("d"))))):
    hlo = jax.jit(grads).lower(xs, w).as_text()
    print(where, hlo.count("jaxcnn_onednn_conv"), hlo.count("stablehlo.convolution"),
          hlo.count("[b, 0, 1, f]x[0, 1, i, o]->[b, 0, 1, f]"))
"""


@needs_native
def test_several_local_devices_lower_to_canonical_convs():
    """oneDNN's threads (its OpenMP build's, measured) stalled XLA's collectives when several CPU devices of
    one process ran it: a computation over a mesh of 2 lowers to canonical convs, one on a single device to
    oneDNN."""
    env = dict(os.environ, XLA_FLAGS="--xla_force_host_platform_device_count=2", JAX_PLATFORMS="cpu")
    out = subprocess.run(
        [sys.executable, "-c", _MESH_SCRIPT], env=env, capture_output=True, text=True, timeout=120, check=True
    ).stdout.split()
    counts = {out[i]: [int(v) for v in out[i + 1 : i + 4]] for i in range(0, len(out), 4)}
    assert counts["one"] == [3, 0, 0]  # forward, backward-data, backward-weights
    ffi, convs, canonical = counts["mesh"]
    assert ffi == 0 and convs == canonical > 0  # every conv canonical (XLA drops the dead forwards)


@needs_native
def test_onednn_conv_module_is_conv_with_same_parameters():
    x = jax.random.normal(jax.random.key(3), (2, 9, 9, 6))
    for kw in [
        dict(features=8, kernel_size=(3, 3), strides=2, padding="SAME"),
        dict(
            features=6,
            kernel_size=(3, 3),
            feature_group_count=3,
            padding=((1, 2), (0, 1)),
            kernel_dilation=2,
            use_bias=True,
        ),
        dict(features=4, kernel_size=(1, 1), padding="VALID"),
    ]:
        ref_model, new_model = Conv(**kw), OneDNNConv(**kw)
        params = ref_model.init(jax.random.key(1), x)
        assert jax.tree.structure(new_model.init(jax.random.key(1), x)) == jax.tree.structure(params)
        np.testing.assert_allclose(new_model.apply(params, x), ref_model.apply(params, x), rtol=1e-5, atol=1e-5)


@needs_native
@pytest.mark.parametrize(
    "args",
    [
        dict(stride=2, padding=1, output_padding=1),
        dict(stride=3, padding=0, dilation=2, groups=2),
        dict(stride=1, padding=2, groups=2),
    ],
)
def test_transposed_conv_equals_closed_form(args):
    """The transposed conv is the input gradient of a conv (oneDNN's backward-data here)."""
    y = np.asarray(jax.random.normal(jax.random.key(4), (2, 5, 4, 4)))
    groups = args.get("groups", 1)
    kernel = np.asarray(jax.random.normal(jax.random.key(5), (3, 3, 6 // groups, 4)))
    ref = conv_transpose_closed_form(y, kernel, **args)
    got = jax.jit(lambda y, k: onednn_conv_transpose(y, k, **args))(jnp.asarray(y), jnp.asarray(kernel))
    np.testing.assert_allclose(got, ref, rtol=1e-5, atol=1e-5)
    hlo = jax.jit(lambda y, k: onednn_conv_transpose(y, k, **args)).lower(y, kernel).as_text()
    assert "jaxcnn_onednn_conv_bwd_data" in hlo and "stablehlo.convolution" not in hlo


@needs_native
@pytest.mark.parametrize(
    "name, overrides",
    [
        ("cifar_resnet20", dict(stage_sizes=(1, 1, 1))),
        pytest.param("cifar_resnet20", {}, marks=pytest.mark.slow),
        pytest.param("resnext50_32x4d", dict(stage_sizes=(1, 1, 1, 1)), marks=pytest.mark.slow),
        pytest.param("mobilenet_v2", {}, marks=pytest.mark.slow),
        pytest.param("resnet18", {}, marks=pytest.mark.slow),
    ],
)
def test_registry_model_logits_and_train_step_equal_xla_conv(name, overrides):
    size = 32 if name.startswith("cifar") else 64
    x = jax.random.normal(jax.random.key(6), (2, size, size, 3))
    results = []
    for conv in (Conv, OneDNNConv):
        model = create_model(name, conv=conv, **overrides)
        state = create_train_state(model, jax.random.key(7), x, make_optimizer(0.1))
        logits = jax.jit(lambda s, x: s.apply_fn({"params": s.params, "batch_stats": s.batch_stats}, x))(state, x)
        new, metrics = jax.jit(make_train_step())(state, {"image": x, "label": jnp.array([1, 2])})
        update = jax.tree.map(
            lambda a, b: np.asarray(a, np.float64) - np.asarray(b, np.float64), new.params, state.params
        )
        results.append((logits, metrics["loss"], update))
    (logits, loss, update), (logits1, loss1, update1) = results
    np.testing.assert_allclose(logits1, logits, rtol=2e-4, atol=2e-4)
    np.testing.assert_allclose(loss1, loss, rtol=2e-4)
    # Each tensor's update, relative to its norm (an elementwise bound measures conditioning, not the conv:
    # BatchNorm over a batch of 2, on 2x2 maps in MobileNetV2's last stages, amplifies the float32 rounding
    # of either conv into single entries). The 1e-5 floor: biases of BatchNorms followed by another
    # BatchNorm get updates of 1e-7, zero but for rounding (the next BatchNorm removes any shift).
    for (path, a), b in zip(jax.tree_util.tree_leaves_with_path(update), jax.tree.leaves(update1)):
        diff, scale = np.linalg.norm(b - a), np.linalg.norm(a)
        assert diff <= 2e-3 * scale + 1e-5, (jax.tree_util.keystr(path), diff, scale)


@pytest.mark.skipif(
    not (sys.platform == "linux" and os.uname().machine == "x86_64"),
    reason="the oneDNN wheels exist for x86-64 Linux only",
)
def test_native_part_is_built_and_runs_on_tbb():
    """Where the wheels exist the install builds the handlers (a failed build would otherwise only skip
    the tests above), and the loaded oneDNN threads with TBB: its OpenMP build spins in barriers and
    stalled train steps on a loaded machine."""
    assert onednn_available(), _native.unavailable_reason()
    assert _native.onednn_runtime() == "tbb"


def test_fallback_without_native_library_is_xla_conv_with_one_warning(monkeypatch):
    monkeypatch.setattr(_native, "_STATE", {})
    monkeypatch.setattr(_native, "_handler_library", lambda: (_ for _ in ()).throw(OSError("no library here")))
    assert not onednn_available() and "no library here" in _native.unavailable_reason()
    cfg = ((2, 1), ((1, 1), (0, 2)), (1, 2), 2)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        x, w, g = _data(8, (2, 7, 7, 4), (3, 3, 2, 6), cfg)
        got = _run(x, w, g, cfg)
        _run(x, w, g, cfg)
    messages = [str(c.message) for c in caught if "oneDNN" in str(c.message)]
    assert len(messages) == 1 and "no library here" in messages[0] and "\n" not in messages[0]
    for a, ref, name in zip(got, _oracle(x, w, g, *cfg), ("y", "dx", "dw")):
        _close(a, ref, name)
    hlo = jax.jit(lambda x, w: onednn_conv(x, w, *cfg)).lower(x, w).as_text()
    assert "jaxcnn_onednn" not in hlo and "stablehlo.convolution" in hlo


def test_unsupported_inputs_run_xla_conv():
    """float64, negative padding and input dilation are XLA's conv (same numbers as lax)."""
    x, w = jnp.ones((1, 6, 6, 2)), jnp.ones((3, 3, 2, 2))
    y = onednn_conv(x, w, 1, ((-1, 1), (1, 1)))
    ref = lax.conv_general_dilated(x, w, (1, 1), ((-1, 1), (1, 1)), dimension_numbers=NHWC)
    np.testing.assert_array_equal(y, ref)
    y = onednn_conv_general_dilated(x, w, (1, 1), ((1, 1), (1, 1)), lhs_dilation=(2, 2), dimension_numbers=NHWC)
    ref = lax.conv_general_dilated(x, w, (1, 1), ((1, 1), (1, 1)), lhs_dilation=(2, 2), dimension_numbers=NHWC)
    np.testing.assert_array_equal(y, ref)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(strides=0), "strides"),
        (dict(strides=(1, 1.5)), "strides"),
        (dict(dilation=(1, 1, 1)), "dilation"),
        (dict(padding=((1, 1),)), "padding"),
        (dict(padding="SAME"), "padding"),
        (dict(groups=0), "groups"),
        (dict(groups=3), "groups=3"),
    ],
)
def test_bad_arguments_are_named(kwargs, match):
    with pytest.raises((ValueError, TypeError), match=match):
        onednn_conv(jnp.ones((1, 5, 5, 4)), jnp.ones((3, 3, 4, 4)), **kwargs)
    with pytest.raises((ValueError, TypeError), match="w must be an HWIO array"):
        onednn_conv(jnp.ones((1, 5, 5, 4)), jnp.ones((3, 4, 4)))


def test_module_without_native_library_equals_conv(monkeypatch):
    monkeypatch.setattr(_native, "_STATE", {"ok": False, "reason": "test", "version": None, "warned": True})
    x = jax.random.normal(jax.random.key(9), (1, 6, 6, 3))
    params = Conv(4, (3, 3)).init(jax.random.key(0), x)
    with jax.enable_x64(False):
        np.testing.assert_array_equal(OneDNNConv(4, (3, 3)).apply(params, x), Conv(4, (3, 3)).apply(params, x))
    assert isinstance(OneDNNConv(4, (3, 3)), nn.Conv)
