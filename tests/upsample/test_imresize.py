"""``imresize``'s antialiased kernel against a row computed by hand from MATLAB's formula.

When downsampling by ``s < 1`` MATLAB weights input pixel ``j`` of output pixel ``x`` by
``s * cubic(s * d)``, ``d = u(x) - j``, ``u(x) = x / s + (1 - 1/s) / 2`` (1-based), then normalises each
row to sum 1. The inner ``s`` widens Keys' kernel to ``4 / s`` taps (the antialias); the outer one only
scales the row, which the normalisation undoes.
"""

import numpy as np

from jaxcnn.upsample.imresize import imresize, resize_matrix


def _keys(t):
    """Keys' cubic (a = -0.5), written out piece by piece."""
    t = abs(t)
    if t <= 1:
        return 1.5 * t**3 - 2.5 * t**2 + 1
    if t < 2:
        return -0.5 * t**3 + 2.5 * t**2 - 4 * t + 2
    return 0.0


def _row(n_in, s, x):
    """Row ``x`` (1-based) of the antialiased resize matrix, by the formula above (interior rows only)."""
    u = x / s + (1 - 1 / s) / 2
    w = np.array([s * _keys(s * (u - j)) for j in range(1, n_in + 1)])
    return w / w.sum()


def test_half_scale_row_is_the_widened_kernel():
    # u(5) = 9.5: taps 6..13 (1-based) at distances +-0.5, +-1.5, +-2.5, +-3.5, i.e. Keys at +-0.25 .. +-1.75
    want = np.zeros(20)
    want[5:13] = (
        np.array([-0.0234375, -0.0703125, 0.2265625, 0.8671875, 0.8671875, 0.2265625, -0.0703125, -0.0234375]) / 2
    )
    np.testing.assert_allclose(_row(20, 0.5, 5), want, atol=1e-15)
    np.testing.assert_allclose(resize_matrix(20, 10, 0.5)[4], want, atol=1e-12)


def test_third_scale_impulse_response_is_the_formula():
    image = np.zeros((30, 4))
    image[16] = 1.0  # an impulse at input row 17 (1-based): column 16 of the resize matrix
    out = imresize(image, 1 / 3)
    for x in range(3, 9):  # interior output rows: no mirrored taps
        np.testing.assert_allclose(out[x - 1], _row(30, 1 / 3, x)[16], atol=1e-12)
