"""Float64 NumPy references of conv, BatchNorm and the residual / inverted-residual blocks.

Written from the papers' definitions (He et al. 2015 and 2016, Sandler et al. 2018) and
torch's conventions (symmetric padding (k-1)//2, BatchNorm with biased batch variance in the
forward, momentum 0.1 in torch terms, eps 1e-5); nothing here calls JAX or jaxcnn. Not a test
module: the semantics tests import it.
"""

from __future__ import annotations

import numpy as np

EPS = 1e-5
MOMENTUM = 0.9  # Flax's convention: new = 0.9 * running + 0.1 * batch (torch's momentum 0.1)


def relu(x):
    return np.maximum(x, 0.0)


def relu6(x):
    return np.clip(x, 0.0, 6.0)


def conv(x, kernel, stride=1, groups=1):
    """NHWC x HWIO conv, torch padding (k-1)//2 on each side, ``groups`` channel groups."""
    x, kernel = np.asarray(x, np.float64), np.asarray(kernel, np.float64)
    kh, kw, cin_g, cout = kernel.shape
    n, h, w, cin = x.shape
    assert cin == cin_g * groups, (x.shape, kernel.shape, groups)
    ph, pw = (kh - 1) // 2, (kw - 1) // 2
    xp = np.pad(x, ((0, 0), (ph, ph), (pw, pw), (0, 0)))
    ho, wo = (h + 2 * ph - kh) // stride + 1, (w + 2 * pw - kw) // stride + 1
    k = kernel.reshape(kh, kw, cin_g, groups, cout // groups)
    out = np.zeros((n, ho, wo, groups, cout // groups))
    for i in range(kh):
        for j in range(kw):
            patch = xp[:, i : i + stride * (ho - 1) + 1 : stride, j : j + stride * (wo - 1) + 1 : stride]
            out += np.einsum("nhwgc,cgo->nhwgo", patch.reshape(n, ho, wo, groups, cin_g), k[i, j])
    return out.reshape(n, ho, wo, cout)


def batch_norm(x, p, stats, train, new_stats, name):
    """BatchNorm ``name``: batch statistics in training (recording the running update), else running."""
    scale, bias = (np.asarray(p[name][k], np.float64) for k in ("scale", "bias"))
    mean, var = (np.asarray(stats[name][k], np.float64) for k in ("mean", "var"))
    if train:
        bm, bv = x.mean(axis=(0, 1, 2)), x.var(axis=(0, 1, 2))  # biased, as Flax normalises and stores
        new_stats[name] = {"mean": MOMENTUM * mean + (1 - MOMENTUM) * bm, "var": MOMENTUM * var + (1 - MOMENTUM) * bv}
        mean, var = bm, bv
    return (x - mean) / np.sqrt(var + EPS) * scale + bias


def _k(p, name):
    return np.asarray(p[name]["kernel"], np.float64)


def residual_block(kind, variables, x, *, strides=1, train=True, groups=1, stride_on_3x3=True):
    """Output and updated running statistics of a residual block with a B-type shortcut.

    ``kind``: 'basic' (conv-BN-ReLU-conv-BN, add, ReLU), 'bottleneck' (1x1, 3x3, 1x1 (x4), add,
    ReLU), 'preact_basic' (BN-ReLU-conv-BN-ReLU-conv, add, nothing after), 'preact_bottleneck'
    (BN-ReLU-1x1, BN-ReLU-3x3, BN-ReLU-1x1, add). The projection (present iff ``conv_proj`` is
    in the params) is 1x1 conv (stride s) + BN, or, in pre-activation blocks, a 1x1 conv of
    BN-ReLU(x) without BN.
    """
    p, st = variables["params"], variables.get("batch_stats", {})
    new = {}
    bn = lambda y, name: batch_norm(y, p, st, train, new, name)
    x = np.asarray(x, np.float64)
    if kind == "basic":
        y = relu(bn(conv(x, _k(p, "conv1"), strides), "bn1"))
        y = bn(conv(y, _k(p, "conv2")), "bn2")
    elif kind == "bottleneck":
        s1, s3 = (1, strides) if stride_on_3x3 else (strides, 1)
        y = relu(bn(conv(x, _k(p, "conv1"), s1), "bn1"))
        y = relu(bn(conv(y, _k(p, "conv2"), s3, groups), "bn2"))
        y = bn(conv(y, _k(p, "conv3")), "bn3")
    elif kind == "preact_basic":
        pre = relu(bn(x, "bn1"))
        y = conv(pre, _k(p, "conv1"), strides)
        y = conv(relu(bn(y, "bn2")), _k(p, "conv2"))
    elif kind == "preact_bottleneck":
        pre = relu(bn(x, "bn1"))
        y = conv(pre, _k(p, "conv1"))
        y = conv(relu(bn(y, "bn2")), _k(p, "conv2"), strides, groups)
        y = conv(relu(bn(y, "bn3")), _k(p, "conv3"))
    else:
        raise ValueError(kind)
    preact = kind.startswith("preact")
    if "conv_proj" in p:
        short = conv(pre if preact else x, _k(p, "conv_proj"), strides)
        if not preact:
            short = bn(short, "norm_proj")
    else:
        short = x
    out = y + short
    return (out if preact else relu(out)), new


def inverted_residual(variables, x, *, strides=1, train=True):
    """MobileNetV2 block: [1x1 expand-BN-ReLU6], 3x3 depthwise-BN-ReLU6, 1x1 project-BN (linear),
    plus the input iff stride 1 and the channel count is kept."""
    p, st = variables["params"], variables.get("batch_stats", {})
    new = {}
    bn = lambda y, name: batch_norm(y, p, st, train, new, name)
    x = np.asarray(x, np.float64)
    y = x
    if "expand_conv" in p:
        y = relu6(bn(conv(y, _k(p, "expand_conv")), "expand_bn"))
    hidden = y.shape[-1]
    y = relu6(bn(conv(y, _k(p, "dw_conv"), strides, groups=hidden), "dw_bn"))
    y = bn(conv(y, _k(p, "project_conv")), "project_bn")
    if strides == 1 and x.shape[-1] == y.shape[-1]:
        y = x + y
    return y, new


def depthwise_separable(variables, x, *, strides=1, train=True, act=relu):
    p, st = variables["params"], variables.get("batch_stats", {})
    new = {}
    bn = lambda y, name: batch_norm(y, p, st, train, new, name)
    x = np.asarray(x, np.float64)
    y = act(bn(conv(x, _k(p, "dw_conv"), strides, groups=x.shape[-1]), "dw_bn"))
    return act(bn(conv(y, _k(p, "pw_conv")), "pw_bn")), new
