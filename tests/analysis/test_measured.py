"""The analytic field equals the measured gradient-support box, for every registered model.

Fields do not depend on channel counts, so models are measured slimmed (fewer channels) at an
input just large enough to hold the centre unit's field; weights from ``positive_variables``
keep every path alive (see ``jaxcnn.analysis.measured``). The deep ones are marked slow.
"""

import numpy as np
import pytest

from jaxcnn.analysis import model_function, receptive_field
from jaxcnn.analysis.measured import effective_receptive_field, measured_receptive_field, positive_variables
from jaxcnn.models import create_model, list_models

FAST = {"cifar_resnet20", "resnet18", "se_resnet50", "espcn"}  # one per family: basic+A, ImageNet stem, global gate
# Not measurable: cifar_resnet1202's 5597 px field has an extreme-path gradient (~3^-1200) that
# underflows float64; its analytic size is checked against the closed form 28n - 3 instead.
UNMEASURABLE = {"cifar_resnet1202"}


def slim(name):
    if name == "espcn":
        return dict(channels=3)
    if name == "mobilenet_v2":
        return dict(width_mult=0.25)
    if name.startswith("resnext"):
        return dict(widths=(16,) * 4)
    if "cifar" in name:
        return dict(widths=(4,) * 3)
    return dict(widths=(8,) * 4)


def _final(fn):
    return lambda x, v: fn(x, v)["final"]


def analytic(model, hw):
    fn, variables = model_function(model, (1, hw, hw, 3))
    return receptive_field(_final(fn), (1, hw, hw, 3), variables), fn, variables


def params():
    for name in sorted(set(list_models()) - UNMEASURABLE):
        marks = [] if name in FAST else [pytest.mark.slow]
        yield pytest.param(name, marks=marks, id=name)


@pytest.mark.parametrize("name", list(params()))
def test_analytic_equals_measured_box(name):
    model = create_model(name, **slim(name))
    r, _, _ = analytic(model, 32)
    if r.is_global:
        hw = 48
    elif r.stride[0] < 1:  # an upsampler (ESPCN): the centre unit's field is small, any input holds it
        hw = 32
    else:  # an input a little larger than the field, so the centre unit's field lies inside it
        hw = -(-(r.size[0] + 2 * r.stride[0]) // r.stride[0]) * r.stride[0]
    r, fn, variables = analytic(model, hw)
    (h0, h1), (w0, w1) = r.field_of(r.output_shape[1] // 2, r.output_shape[2] // 2)
    assert r.is_global or (min(h0, w0) >= 0 and max(h1, w1) < hw), "test input too small for the field"
    # float32 is enough for the shallow fast set; deep nets need float64 (slow on CPU)
    dtype = np.float32 if name in FAST else np.float64
    m = measured_receptive_field(_final(fn), (1, hw, hw, 3), positive_variables(variables), dtype=dtype)
    if r.is_global:
        assert m.box == ((0, hw - 1), (0, hw - 1))
    else:
        assert m.box == r.field_of(*m.unit)


def test_measured_detects_a_wrong_field():
    # the oracle can fail: a 5x5 conv measured against its own 5-wide box, not 3
    from jax import lax

    def f(x, w):
        return lax.conv_general_dilated(x, w, (1, 1), "VALID", dimension_numbers=("NHWC", "HWIO", "NHWC"))

    m = measured_receptive_field(f, (1, 9, 9, 1), np.ones((5, 5, 1, 1), np.float32))
    assert m.unit == (2, 2) and m.box == ((2, 6), (2, 6)) and m.size == (5, 5)
    with pytest.raises(ValueError, match="zero gradient"):
        measured_receptive_field(f, (1, 9, 9, 1), np.zeros((5, 5, 1, 1), np.float32))
    with pytest.raises(ValueError, match="outside"):
        measured_receptive_field(f, (1, 9, 9, 1), np.ones((5, 5, 1, 1), np.float32), unit=(7, 0))


def test_effective_field_is_a_peaked_distribution_inside_the_field():
    import jax

    model = create_model("cifar_resnet20", widths=(4, 4, 4))
    fn, _ = model_function(model, (1, 96, 96, 3))
    variables = jax.jit(model.init)(jax.random.key(0), np.zeros((1, 96, 96, 3), np.float32))
    erf = effective_receptive_field(_final(fn), (1, 96, 96, 3), variables, num_samples=2, batch=2)
    r = receptive_field(_final(fn), (1, 96, 96, 3), variables)
    (h0, h1), (w0, w1) = r.field_of(12, 12)
    assert erf.shape == (96, 96) and np.isclose(erf.sum(), 1.0)
    inside = np.zeros_like(erf, bool)
    inside[h0 : h1 + 1, w0 : w1 + 1] = True
    assert erf[~inside].sum() == 0
    # Luo et al.: the mass concentrates in the middle of the theoretical field
    c, q = (h0 + h1) // 2, (h1 - h0 + 1) // 4
    assert erf[c - q : c + q + 1, c - q : c + q + 1].sum() > 0.5
