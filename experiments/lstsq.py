"""Closed-form least-squares fit of a network's last convolution (its normal equations).

When a model ends in a convolution with no activation after it (ESPCN's sub-pixel conv, any linear
head), the MSE is a convex quadratic in that layer's kernel and bias once the features below it are
fixed. Its exact minimiser solves the normal equations ``A w = B`` with ``A = sum x x^T`` and
``B = sum x y^T`` over every output pixel, ``x`` the pixel's ``k x k x C`` input neighbourhood (plus
a 1 for the bias) and ``y`` its ``K`` targets. SGD/Adam only approach that point, the more slowly the
smaller the layer's learning rate (ESPCN's paper trains it 10x slower), so solving the system after
training is a free improvement of the training loss -- a polish, not a different model.

The system is additive over images, so :func:`conv_normal_equations` is called per batch and the
results summed with ``+``; sums are kept in float64 (features are strongly correlated, so the system
is ill-conditioned and float32 sums would lose the solution).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from jaxcnn.validation import ArgumentTypeError, check_number, check_odd_kernel


@dataclass(frozen=True)
class ConvLstsqSystem:
    """Normal equations of a ``k x k`` conv: ``a`` (D+1, D+1), ``b`` (D+1, K), ``yy`` = sum of
    squared targets, ``count`` = output pixels summed; D = k*k*C, the last row/column is the bias."""

    a: np.ndarray
    b: np.ndarray
    yy: float
    count: int

    def __add__(self, other: ConvLstsqSystem) -> ConvLstsqSystem:
        if self.a.shape != other.a.shape or self.b.shape != other.b.shape:
            raise ValueError(
                f"cannot add systems of shapes {self.a.shape}/{self.b.shape} and {other.a.shape}/{other.b.shape}"
            )
        return ConvLstsqSystem(self.a + other.a, self.b + other.b, self.yy + other.yy, self.count + other.count)

    def mse(self, kernel: np.ndarray, bias: np.ndarray) -> float:
        """Mean squared error (over pixels and the K targets) of the conv ``(kernel, bias)`` on the
        summed data, from the system alone: ``(w^T A w - 2 w^T B + sum y^2) / (count K)``."""
        w = _stack(kernel, bias)
        if w.shape != self.b.shape:
            raise ValueError(
                f"kernel/bias give {w.shape[0]} weights x {w.shape[1]} outputs; the system has {self.b.shape}"
            )
        sq = np.sum(w * (self.a @ w)) - 2 * np.sum(w * self.b) + self.yy
        return float(sq / (self.count * self.b.shape[1]))


def _stack(kernel, bias) -> np.ndarray:
    kernel = np.asarray(kernel, np.float64)
    return np.concatenate([kernel.reshape(-1, kernel.shape[-1]), np.asarray(bias, np.float64)[None]], 0)


def _float_array(x, name: str) -> np.ndarray:
    try:
        return np.asarray(x, np.float64)
    except (TypeError, ValueError):
        raise ArgumentTypeError(f"{name} must be a numeric array, got {type(x).__name__}") from None


def conv_normal_equations(features, targets, kernel_size: int, mask=None) -> ConvLstsqSystem:
    """Normal equations of a stride-1 ``kernel_size`` conv with ``SAME`` zero padding mapping
    NHWC ``features`` (N, H, W, C) to ``targets`` (N, H, W, K), over the pixels where ``mask``
    (N, H, W) is true (all when None). Weight layout is Flax's ``(k, k, C, K)`` kernel, flattened."""
    kernel_size = check_odd_kernel(kernel_size, "kernel_size")
    features, targets = _float_array(features, "features"), _float_array(targets, "targets")
    for name, a in (("features", features), ("targets", targets)):
        if a.ndim != 4:
            raise ValueError(f"{name} must be 4-D NHWC (N, H, W, C), got shape {a.shape}")
    if features.shape[:3] != targets.shape[:3]:
        raise ValueError(
            f"features (N, H, W, C) and targets (N, H, W, K) must agree on N, H, W; got "
            f"{features.shape} and {targets.shape}"
        )
    n, h, w, c = features.shape
    if mask is None:
        mask = np.ones((n, h, w), bool)
    mask = np.asarray(mask, bool)
    if mask.shape != (n, h, w):
        raise ValueError(f"mask must have shape {(n, h, w)}, got {mask.shape}")
    k, p = kernel_size, kernel_size // 2
    padded = np.pad(features, ((0, 0), (p, p), (p, p), (0, 0)))
    # im2col in (dy, dx, c) order, the order of a flattened (k, k, C, K) kernel
    cols = np.stack([padded[:, dy : dy + h, dx : dx + w] for dy in range(k) for dx in range(k)], axis=3)
    x = cols.reshape(n, h, w, k * k * c)[mask]
    x = np.concatenate([x, np.ones((x.shape[0], 1))], axis=1)
    y = targets[mask]
    return ConvLstsqSystem(x.T @ x, x.T @ y, float(np.sum(y * y)), int(x.shape[0]))


def solve_conv_lstsq(system: ConvLstsqSystem, kernel_size: int, ridge: float = 0.0):
    """``(kernel (k, k, C, K), bias (K,))`` minimising the system's summed squared error plus
    ``ridge * count * ||kernel||^2`` (ridge 0: the exact least-squares fit; lstsq's SVD also copes
    with a singular system); float64. ``ridge`` is a finite number >= 0 (NaN would reach LAPACK)."""
    if not isinstance(system, ConvLstsqSystem):
        raise ArgumentTypeError(
            f"system must be a ConvLstsqSystem (see conv_normal_equations), got {type(system).__name__}"
        )
    kernel_size = check_odd_kernel(kernel_size, "kernel_size")
    ridge = check_number(ridge, "ridge", minimum=0.0)
    d = system.a.shape[0] - 1
    c = d // (kernel_size * kernel_size)
    if c * kernel_size * kernel_size != d:
        raise ValueError(
            f"kernel_size={kernel_size} does not fit the system: {d} weights per output, not a "
            f"multiple of kernel_size^2 = {kernel_size**2}"
        )
    reg = np.eye(d + 1) * ridge * system.count
    reg[d, d] = 0.0  # the bias is not penalised
    sol = np.linalg.lstsq(system.a + reg, system.b, rcond=None)[0]
    return sol[:d].reshape(kernel_size, kernel_size, c, -1), sol[d]
