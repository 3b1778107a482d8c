"""ESPCN's closed-form last-layer refit: tiling against the whole image, optimality, the CLI flag."""

import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from experiments import sr_data
from experiments.espcn_refit import image_tiles, refit_last_layer, training_system
from experiments.espcn_sr import main
from experiments.espcn_sr_loop import build_model, init_params
from experiments.lstsq import conv_normal_equations
from jaxcnn.upsample.subpixel import pixel_unshuffle


@pytest.fixture(scope="module")
def small_pairs():
    rng = np.random.default_rng(0)
    return [sr_data.make_pair(f"r{i}", rng.uniform(0, 255, size=s), 3) for i, s in enumerate([(39, 33), (21, 48)])]


def whole_image_system(model, params, pairs, context):
    """The oracle: features of each whole mirrored-padded LR image (as predict() sees it), cropped to
    the image, against the unshuffled HR -- no tiles, no masks."""
    total = None
    for p in pairs:
        x = jnp.pad(
            jnp.asarray(p.lr, jnp.float32)[None, ..., None],
            ((0, 0), (context,) * 2, (context,) * 2, (0, 0)),
            mode="symmetric",
        )
        f = model.apply({"params": params}, x, method=lambda m, x: m.features(x)["conv2"])
        h, w = p.lr.shape
        # conv3 on the cropped map with SAME zero padding would see zeros at the crop edge; keep one
        # ring of real features around instead and mask it out of the loss
        f = np.asarray(f)[:, context - 1 : context + h + 1, context - 1 : context + w + 1]
        t = np.zeros(f.shape[:3] + (9,))
        t[0, 1:-1, 1:-1] = np.asarray(pixel_unshuffle(jnp.asarray(p.hr, jnp.float32)[None, ..., None], 3))[0]
        mask = np.zeros(f.shape[:3], bool)
        mask[0, 1:-1, 1:-1] = True
        part = conv_normal_equations(f, t, 3, mask)
        total = part if total is None else total + part
    return total


@pytest.mark.parametrize("tile", [5, 32])  # many tiles with a flush last one; one tile larger than the image
def test_tiled_system_equals_whole_image_system(small_pairs, tile):
    model = build_model(3)
    params = init_params(model, jax.random.PRNGKey(1))
    got = training_system(model, params, small_pairs, 3, 4, tile=tile, batch=3, progress=False)
    want = whole_image_system(model, params, small_pairs, 4)
    assert got.count == want.count == sum(p.lr.size for p in small_pairs)
    np.testing.assert_allclose(got.a, want.a, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(got.b, want.b, rtol=1e-5, atol=1e-6)


def test_tiles_cover_every_pixel_once(small_pairs):
    for p in small_pairs:
        assert sum(int(m.sum()) for _, _, m in image_tiles(p, 3, 4, 7)) == p.lr.size


def test_refit_lowers_the_training_error_to_the_least_squares_optimum(small_pairs):
    model = build_model(3)
    params = init_params(model, jax.random.PRNGKey(2))
    new, info = refit_last_layer(model, params, small_pairs, 3, 4, augment=True, progress=False, tile=16)
    assert info["train_mse_after"] < info["train_mse_before"]
    # the system's MSE equals the MSE of actual predictions over all 8 symmetries (unclipped)
    errs = []
    for p in small_pairs:
        for t in range(8):
            lr, hr = sr_data.dihedral(p.lr, t), sr_data.dihedral(p.hr, t)
            x = jnp.pad(
                jnp.asarray(lr, jnp.float32)[None, ..., None], ((0, 0), (4, 4), (4, 4), (0, 0)), mode="symmetric"
            )
            y = model.apply({"params": new}, x)[0, 12:-12, 12:-12, 0]
            errs.append(np.asarray((y - hr) ** 2).ravel())
    assert np.mean(np.concatenate(errs)) == pytest.approx(info["train_mse_after"], rel=1e-4)
    assert info["rows"] == 8 * sum(p.lr.size for p in small_pairs)


def test_cli_refit_last(tmp_path, data_dir):
    sr = data_dir / "sr"
    summary = main(
        [
            "--train-dir",
            str(sr / "T91"),
            "--eval-dir",
            str(sr / "Set5"),
            "--out",
            str(tmp_path),
            "--quick",
            "--steps",
            "5",
            "--refit-last",
            "--no-progress",
        ]
    )
    info = json.loads((tmp_path / "summary.json").read_text())["refit_last"]
    assert info["train_mse_after"] < info["train_mse_before"]
    assert summary["mean_psnr_y"]["espcn"] > info["psnr_y_before"]  # 5 steps leave conv3 far from its optimum
    again = main(
        [
            "--checkpoint",
            str(tmp_path / "params.npz"),
            "--eval-only",
            "--out",
            str(tmp_path / "e"),
            "--eval-dir",
            str(sr / "Set5"),
            "--no-progress",
        ]
    )
    assert again["mean_psnr_y"]["espcn"] == pytest.approx(summary["mean_psnr_y"]["espcn"], abs=1e-6)
    # the report shows the refit, and the command it prints parses back to the same configuration
    from experiments import report
    from experiments.espcn_sr import command_flags, parse_args

    s = json.loads((tmp_path / "summary.json").read_text())
    md = report.section_espcn({"summary": s, "dir": tmp_path, "command": "x", "seconds": 1, "error": None}, tmp_path)
    assert "before the refit" in md and "last conv refitted" in md and "def solve_conv_lstsq" in md
    for cfg in (s["config"], {**s["config"], "mirror_borders": False}):
        assert vars(parse_args(command_flags(cfg).split())) == cfg
