"""The demo shows only figures that hold: each section's key number is checked against its oracle
(the published bicubic calibration, ESPCN above bicubic, five independent forms of the transposed
conv, two independent receptive-field computations, drop rates against their targets)."""

import json

import numpy as np
import pytest

from experiments import demo, demo_sections

BICUBIC_SET5_X3 = 30.39  # published bicubic Set5 x3 PSNR-Y (SRCNN / ESPCN tables)


def _check_espcn(s):
    assert s["mean_psnr_y"]["bicubic"] == pytest.approx(BICUBIC_SET5_X3, abs=0.01)
    assert s["mean_psnr_y"]["espcn"] > s["mean_psnr_y"]["bicubic"] + 1.0
    assert len(s["per_image"]) == 5
    for row in s["per_image"]:  # the shipped model beats bicubic on every Set5 image
        assert row["psnr_y"]["espcn"] > row["psnr_y"]["bicubic"], row["image"]


def _check_identity(s):
    assert set(s["max_abs_diff_vs_closed_form"]) >= {"vjp", "matrix", "zero_insertion", "lax"}
    assert max(s["max_abs_diff_vs_closed_form"].values()) < 1e-5
    assert np.asarray(s["example_C"]).shape == (4, 16)
    # the worked example, typed by hand
    assert s["example_CTy"] == [[2, 9, 6, 1], [6, 29, 30, 7], [10, 29, 33, 13], [12, 24, 16, 4]]


def _check_masks(s):
    whats = " ".join(r["what"] for r in s["rows"])
    assert "DropBlock" in whats and "Cutout" in whats and "batch mode" in whats and "row mode" in whats
    for r in s["rows"]:
        assert abs(r["measured"] - r["target"]) <= r["tolerance"], r
        assert r["tolerance"] < 0.15


def test_demo_fast_sections(data_dir, tmp_path):
    s = demo.main(["--data", str(data_dir), "--out", str(tmp_path), "--skip", "params,receptive,gallery"])
    _check_espcn(s["espcn"])
    _check_identity(s["transposed"])
    _check_masks(s["masks"])
    assert s["failures"] == []
    assert (tmp_path / "espcn_sr.png").is_file() and (tmp_path / "masks.png").is_file()
    assert json.loads((tmp_path / "summary.json").read_text())["espcn"]["weights"] == "espcn_x3_t91"


def test_cutout_expectation_formula_by_enumeration():
    # the Cutout target: enumerate every centre of a 7x7 image with a 4x4 square, count cut pixels
    hw, size, total = 7, 4, 0
    for cy in range(hw):
        for cx in range(hw):
            rows = [y for y in range(cy - size // 2, cy - size // 2 + size) if 0 <= y < hw]
            cols = [x for x in range(cx - size // 2, cx - size // 2 + size) if 0 <= x < hw]
            total += len(rows) * len(cols)
    assert demo_sections._cutout_expected_fraction(hw, size) == pytest.approx(total / hw**4)


@pytest.mark.slow
def test_demo_end_to_end(data_dir, tmp_path):
    s = demo.main(["--data", str(data_dir), "--out", str(tmp_path)])
    assert all(r["match"] for r in s["params"] if r["published"])
    _check_espcn(s["espcn"])
    _check_identity(s["transposed"])
    for name, r in s["receptive"].items():
        assert r["agree"] and r["analytic"] == r["measured"], name
    psnr = s["gallery"]["psnr_y"]
    espcn = [v for k, v in psnr.items() if k.startswith("ESPCN")]
    assert espcn and espcn[0] > psnr["bicubic (MATLAB)"] > psnr["nearest"]
    _check_masks(s["masks"])
    for fig in ("espcn_sr.png", "receptive_fields.png", "upsampling.png", "masks.png"):
        assert (tmp_path / fig).is_file(), fig
