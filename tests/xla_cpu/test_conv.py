"""The opt-in XLA:CPU convs have exactly JAX's conv gradients (JAX's transpose rule and the default
conv are the oracles), and the backend default is chosen in one place."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax import lax

from jaxcnn.blocks import BasicBlock
from jaxcnn.models import create_model
from jaxcnn.xla_cpu import (
    CanonicalGradConv,
    ControlFlowConv,
    GemmGradConv,
    OneDNNConv,
    _native,
    block_remat,
    canonical_grad_conv,
    default_conv,
    gemm_grad_conv,
    onednn_available,
)

NHWC = ("NHWC", "HWIO", "NHWC")
CASES = [
    # (H, W, kh, kw, strides, dilation, padding)
    (8, 8, 3, 3, (1, 1), (1, 1), ((1, 1), (1, 1))),
    (9, 7, 3, 3, (2, 2), (1, 1), ((1, 1), (1, 1))),
    (8, 8, 1, 1, (2, 2), (1, 1), ((0, 0), (0, 0))),
    (10, 9, 3, 2, (2, 3), (2, 1), ((2, 0), (1, 2))),
    (11, 11, 7, 7, (2, 2), (1, 1), ((3, 3), (3, 3))),
    (8, 8, 3, 3, (3, 2), (1, 2), ((-1, 2), (0, -1))),
]


@pytest.mark.parametrize("impl", [canonical_grad_conv, gemm_grad_conv], ids=["conv", "gemm"])
@pytest.mark.parametrize("case", CASES)
def test_value_and_gradients_equal_jax(case, impl):
    h, w, kh, kw, s, d, p = case
    kx, kk, kg = jax.random.split(jax.random.key(sum(map(hash, map(str, case))) % 1000), 3)
    x = jax.random.normal(kx, (3, h, w, 4))
    k = jax.random.normal(kk, (kh, kw, 4, 5))
    ref = lambda x, k: lax.conv_general_dilated(x, k, s, p, rhs_dilation=d, dimension_numbers=NHWC)
    new = lambda x, k: impl(x, k, s, p, rhs_dilation=d, dimension_numbers=NHWC)
    y_ref, vjp_ref = jax.vjp(ref, x, k)
    y_new, vjp_new = jax.vjp(new, x, k)
    np.testing.assert_allclose(np.asarray(y_new), np.asarray(y_ref), rtol=1e-5, atol=1e-5)
    g = jax.random.normal(kg, y_ref.shape)
    for a, b in zip(vjp_new(g), vjp_ref(g)):
        assert a.shape == b.shape
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-4, atol=1e-4)


def test_gradients_inside_cond_are_canonical_convs():
    x = jnp.ones((4, 8, 8, 4))
    k = jnp.ones((3, 3, 4, 4))
    conv = lambda x, k: canonical_grad_conv(x, k, (1, 1), ((1, 1), (1, 1)), rhs_dilation=(1, 1), dimension_numbers=NHWC)
    f = lambda k, x, p: lax.cond(p, lambda k, x: jnp.sum(conv(x, k) ** 2), lambda k, x: 0.0, k, x)
    hlo = jax.jit(jax.grad(f, argnums=(0, 1))).lower(k, x, True).as_text()
    convs = [ln for ln in hlo.splitlines() if "stablehlo.convolution" in ln]
    assert len(convs) == 3  # forward, input gradient, weight gradient
    assert all("[b, 0, 1, f]x[0, 1, i, o]->[b, 0, 1, f]" in ln for ln in convs)


def test_falls_back_for_groups():
    x = jax.random.normal(jax.random.key(0), (2, 6, 6, 4))
    k = jax.random.normal(jax.random.key(1), (3, 3, 2, 4))
    a = canonical_grad_conv(x, k, (1, 1), ((1, 1), (1, 1)), dimension_numbers=NHWC, feature_group_count=2)
    b = lax.conv_general_dilated(x, k, (1, 1), ((1, 1), (1, 1)), dimension_numbers=NHWC, feature_group_count=2)
    np.testing.assert_array_equal(np.asarray(a), np.asarray(b))


def test_unknown_weight_grad_is_refused():
    with pytest.raises(ValueError, match="weight_grad"):
        canonical_grad_conv(
            jnp.ones((1, 4, 4, 1)),
            jnp.ones((3, 3, 1, 1)),
            (1, 1),
            ((1, 1), (1, 1)),
            dimension_numbers=NHWC,
            weight_grad="fft",
        )


@pytest.mark.parametrize("groups,cin,cout", [(2, 4, 6), (4, 8, 8), (6, 6, 12)])  # 6, 6: depthwise x2
@pytest.mark.parametrize("case", [CASES[1], CASES[3]])  # strided; dilated with asymmetric padding
def test_grouped_gemm_gradients_equal_jax(case, groups, cin, cout):
    h, w, kh, kw, s, d, p = case
    kx, kk, kg = jax.random.split(jax.random.key(groups * 7 + cin), 3)
    x = jax.random.normal(kx, (2, h, w, cin))
    k = jax.random.normal(kk, (kh, kw, cin // groups, cout))
    ref = lambda x, k: lax.conv_general_dilated(
        x, k, s, p, rhs_dilation=d, dimension_numbers=NHWC, feature_group_count=groups
    )
    new = lambda x, k: gemm_grad_conv(x, k, s, p, rhs_dilation=d, dimension_numbers=NHWC, feature_group_count=groups)
    y_ref, vjp_ref = jax.vjp(ref, x, k)
    y_new, vjp_new = jax.vjp(new, x, k)
    np.testing.assert_allclose(np.asarray(y_new), np.asarray(y_ref), rtol=1e-5, atol=1e-5)
    g = jax.random.normal(kg, y_ref.shape)
    for a, b in zip(vjp_new(g), vjp_ref(g)):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("conv_cls", [CanonicalGradConv, GemmGradConv], ids=["canonical", "gemm"])
def test_opt_in_conv_equals_default_conv_in_a_model(conv_cls):
    """``ResNet(conv=...)`` with the opt-in CPU conv: the default model's outputs and gradients."""
    kw = dict(stage_sizes=(1, 1, 1), widths=(4, 8, 8), block="bottleneck", shortcut="B", groups=2, base_width=64)
    plain, opt_in = create_model("cifar_resnet20", **kw), create_model("cifar_resnet20", conv=conv_cls, **kw)
    x = jax.random.normal(jax.random.key(0), (2, 16, 16, 3))
    v = plain.init(jax.random.key(1), x)
    assert jax.tree_util.tree_structure(opt_in.init(jax.random.key(1), x)) == jax.tree_util.tree_structure(v)

    def loss(model, params):
        out, _ = model.apply({**v, "params": params}, x, train=True, mutable=["batch_stats"])
        return jnp.sum(out**2)

    np.testing.assert_allclose(opt_in.apply(v, x), plain.apply(v, x), rtol=1e-5, atol=1e-5)
    g0, g1 = jax.grad(lambda p: loss(plain, p))(v["params"]), jax.grad(lambda p: loss(opt_in, p))(v["params"])
    jax.tree_util.tree_map(lambda a, b: np.testing.assert_allclose(b, a, rtol=2e-4, atol=1e-5), g0, g1)


def test_platform_choices_are_made_at_lowering():
    """default_conv/block_remat build one model; lowering it for CPU picks the canonical gradients and the
    cotangent-tied remat, lowering it for CUDA picks XLA's conv transpose rules and jax.checkpoint."""
    assert default_conv() is OneDNNConv
    assert default_conv(control_flow=True) is ControlFlowConv
    block = block_remat(BasicBlock, static_argnums=(2,))
    x = jnp.ones((1, 4, 4, 4))
    v = block(4, conv=ControlFlowConv).init(jax.random.key(0), x, False)

    def loss(p):
        return block(4, conv=ControlFlowConv).apply({**v, "params": p}, x, False).sum()

    traced = jax.jit(jax.grad(loss)).trace(v["params"])
    cpu = traced.lower(lowering_platforms=("cpu",)).as_text()
    cuda = traced.lower(lowering_platforms=("cuda",)).as_text()
    # The tie x + min(|g0|, 0) exists only in the CPU remat; the barrier only in jax.checkpoint.
    assert "stablehlo.minimum" in cpu and "optimization_barrier" not in cpu
    assert "optimization_barrier" in cuda and "stablehlo.minimum" not in cuda
    # JAX's conv transpose rules permute dimensions ([f, 0, 1, b] etc.); the canonical convs do not;
    # where the oneDNN handlers are built, CPU gets them instead of any convolution.
    if onednn_available():
        assert "jaxcnn_onednn_conv_bwd_data" in cpu and "stablehlo.convolution" not in cpu
    else:
        assert cpu.count("[b, 0, 1, f]x[0, 1, i, o]->[b, 0, 1, f]") == cpu.count("stablehlo.convolution") > 0
    assert cuda.count("stablehlo.convolution") > cuda.count("[b, 0, 1, f]x[0, 1, i, o]->[b, 0, 1, f]")
    ref = jax.grad(lambda p: BasicBlock(4).apply({**v, "params": p}, x, False).sum())(v["params"])
    jax.tree.map(
        lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-5), jax.jit(jax.grad(loss))(v["params"]), ref
    )


def test_batch_sd_blocks_get_the_canonical_conv_without_onednn(monkeypatch):
    """Without the oneDNN handlers, a batch-mode stochastic-depth block (convs inside a cond) traces
    the canonical-gradient conv on CPU, a plain block XLA's own."""
    if jax.default_backend() != "cpu":
        pytest.skip("the canonical conv is the CPU default only")
    monkeypatch.setattr(_native, "_STATE", {"ok": False, "reason": "test", "version": None, "warned": True})
    block = BasicBlock(4, drop_path_rate=0.5)
    x = jnp.ones((1, 4, 4, 4))
    v = block.init(jax.random.key(0), x)
    jaxpr = str(
        jax.make_jaxpr(
            lambda p: block.apply(
                {**v, "params": p}, x, True, rngs={"dropout": jax.random.key(1)}, mutable=["batch_stats"]
            )
        )(v["params"])
    )
    assert "custom_vjp" in jaxpr
    assert "custom_vjp" not in str(jax.make_jaxpr(lambda p: BasicBlock(4).apply({**v, "params": p}, x))(v["params"]))
