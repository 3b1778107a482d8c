"""conv_transpose / ConvTranspose vs torch (the parity oracle)."""

import jax
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from jaxcnn.upsample import ConvTranspose, conv_transpose

torch = pytest.importorskip("torch", reason="PyTorch is the parity oracle; install the [torch] extra")


def _rand(shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape).astype(np.float32)


@settings(max_examples=25, deadline=None)
@given(
    s=st.integers(1, 3),
    d=st.integers(1, 2),
    k=st.tuples(st.integers(1, 4), st.integers(1, 3)),
    groups=st.sampled_from([1, 2]),
    data=st.data(),
)
def test_torch_parity(s, d, k, groups, data):
    op = data.draw(st.integers(0, max(s, d) - 1))
    p = data.draw(st.integers(0, d * (min(k) - 1)))
    y, w = _rand((2, 3, 4, 2 * groups), s), _rand((2 * groups, 3, *k), d)  # torch layout (in, out/g, kH, kW)
    out = [(n - 1) * s - 2 * p + d * (kk - 1) + op + 1 for n, kk in zip((3, 4), k)]
    if min(out) < 1:  # torch has no answer here (it overflows); ours must refuse clearly
        with pytest.raises(ValueError, match="not positive"):
            conv_transpose(y, w.transpose(2, 3, 1, 0), s, p, op, d, groups)
        return
    ref = (
        torch.nn.functional.conv_transpose2d(
            torch.from_numpy(y).permute(0, 3, 1, 2), torch.from_numpy(w), None, s, p, op, groups, d
        )
        .permute(0, 2, 3, 1)
        .numpy()
    )
    out = conv_transpose(y, w.transpose(2, 3, 1, 0), s, p, op, d, groups)
    np.testing.assert_allclose(out, ref, atol=1e-5, rtol=0)


def test_module_imports_torch_layer():
    torch.manual_seed(0)
    layer = torch.nn.ConvTranspose2d(4, 6, (3, 2), stride=2, padding=1, output_padding=1, groups=2, dilation=1)
    y = _rand((2, 5, 4, 4), 7)
    ref = layer(torch.from_numpy(y).permute(0, 3, 1, 2)).permute(0, 2, 3, 1).detach().numpy()
    m = ConvTranspose(6, (3, 2), stride=2, padding=1, output_padding=1, groups=2)
    params = {"kernel": layer.weight.detach().numpy().transpose(2, 3, 1, 0), "bias": layer.bias.detach().numpy()}
    np.testing.assert_allclose(m.apply({"params": params}, y), ref, atol=1e-5)


def test_kernel_gradient_matches_torch_autograd():
    y, w = _rand((1, 4, 3, 2), 8), _rand((2, 3, 3, 3), 9)
    w_t = torch.from_numpy(w).requires_grad_()
    out = torch.nn.functional.conv_transpose2d(torch.from_numpy(y).permute(0, 3, 1, 2), w_t, None, 2, 1, 1)
    (out**2).sum().backward()
    grad = jax.grad(lambda kk: (conv_transpose(y, kk, 2, 1, 1) ** 2).sum())(w.transpose(2, 3, 1, 0))
    np.testing.assert_allclose(grad, w_t.grad.numpy().transpose(2, 3, 1, 0), rtol=1e-5, atol=1e-4)
