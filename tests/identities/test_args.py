"""The oracles' own argument reading (``jaxcnn.identities._args``) against hand values and, over a
sweep, against ``conv_transpose_args`` of the code they check: same output sizes, same refusals."""

import itertools

import numpy as np
import pytest

from jaxcnn.identities._args import reference_args
from jaxcnn.upsample.transposed import conv_transpose_args


def test_hand_computed_output_size():
    # H: (5-1)*2 - 2*1 + 1*(3-1) + 1 + 1 = 10; W: (7-1)*3 - 0 + 2*(4-1) + 2 + 1 = 27
    a = reference_args((1, 5, 7, 6), (3, 4, 2, 6), (2, 3), (1, 0), (1, 2), (1, 2), 3)
    assert a.out_hw == (10, 27) and a.stride == (2, 3) and a.dilation == (1, 2)


def test_agrees_with_the_checked_code_over_a_sweep():
    rng = np.random.default_rng(0)
    for s, p, op, d, g in itertools.product((1, 2, 3), (0, 1, 2), (0, 1, 2), (1, 2), (1, 2, 3)):
        h, w, kh, kw = rng.integers(1, 6, size=4)
        y, k = (1, int(h), int(w), 6), (int(kh), int(kw), 2, 6)
        try:
            want = conv_transpose_args(y, k, s, p, op, d, g)
        except (ValueError, TypeError) as e:
            with pytest.raises(type(e)):
                reference_args(y, k, s, p, op, d, g)
            continue
        assert tuple(reference_args(y, k, s, p, op, d, g)) == tuple(want)


@pytest.mark.parametrize(
    "kw, exc",
    [
        (dict(stride=0), ValueError),
        (dict(stride=(1, 2, 3)), TypeError),
        (dict(padding=-1), ValueError),
        (dict(output_padding=2, stride=2), ValueError),
        (dict(groups=4), ValueError),
        (dict(groups=True), ValueError),
    ],
)
def test_refusals(kw, exc):
    args = dict(stride=1, padding=0, output_padding=0, dilation=1, groups=1) | kw
    with pytest.raises(exc):
        reference_args((1, 4, 4, 6), (3, 3, 2, 6), **args)
