"""ESPCN study: MATLAB-bicubic calibration on Set5 x3 (published 30.39 dB), imresize against
hand-computed weights and jax.image.resize, patch pairs, and the CLI in its quick mode."""

import json

import numpy as np
import pytest

from experiments import sr_data
from experiments.espcn_sr import main

# Bicubic x3 on Set5, Y channel (SRCNN, Dong et al. TPAMI 2016, Table; ESPCN's table repeats the mean).
PUBLISHED_BICUBIC = {"baby": 33.91, "bird": 32.58, "butterfly": 24.04, "head": 32.88, "woman": 28.56}
PUBLISHED_MEAN = 30.39


@pytest.fixture(scope="module")
def set5(data_dir):
    return sr_data.load_pairs(data_dir / "sr" / "Set5", 3)


def _bicubic_psnr(pairs, resize="matlab"):
    from jaxcnn.metrics import psnr_y

    return {p.name: psnr_y(p.hr * 255, sr_data.upscale_bicubic(p.lr, 3, resize) * 255, 3) for p in pairs}


def test_bicubic_calibration_set5_x3(set5):
    got = _bicubic_psnr(set5)
    assert np.mean(list(got.values())) == pytest.approx(PUBLISHED_MEAN, abs=0.05)
    for name, value in PUBLISHED_BICUBIC.items():
        assert got[name] == pytest.approx(value, abs=0.02), name


def test_jax_resize_agrees_inside_and_differs_at_the_border(set5):
    hr = set5[0].hr  # baby, 510 x 510
    ours, theirs = sr_data.imresize(hr, 1 / 3), sr_data.jax_resize(hr, 3, up=False)
    np.testing.assert_allclose(ours[2:-2, 2:-2], theirs[2:-2, 2:-2], atol=1e-6)
    assert np.abs(ours - theirs).max() > 1e-3  # mirror (MATLAB) vs renormalised truncation (jax)
    jax_pairs = [sr_data.SRPair(p.name, p.hr, sr_data.jax_resize(p.hr, 3, up=False)) for p in set5]
    jax_mean = np.mean(list(_bicubic_psnr(jax_pairs, "jax").values()))
    assert jax_mean == pytest.approx(PUBLISHED_MEAN, abs=0.05)


def test_imresize_weights_hand_computed():
    # x2 up: u = x/2 + 1/4, so interior rows use Keys(a=-0.5) at distances 1.75, 0.75, 0.25, 1.25.
    keys = [-0.0234375, 0.2265625, 0.8671875, -0.0703125]
    m = sr_data.resize_matrix(8, 16, 2.0)
    np.testing.assert_allclose(m[6, 1:5], keys)
    np.testing.assert_allclose(m[7, 2:6], keys[::-1])
    # row 0 reaches indices -1, -2 (0-based), mirrored onto 0 and 1 (MATLAB's symmetric padding)
    np.testing.assert_allclose(m[0, :3], [keys[1] + keys[2], keys[0] + keys[3], 0.0])


def test_imresize_downscale_is_the_widened_kernel():
    m = sr_data.resize_matrix(30, 10, 1 / 3)
    row = m[5]  # interior: centre u = 3x - 1 = 17 (1-based) for output x = 6
    # Keys(d / 3) / 3 for d = -5..5, by hand; it sums to 1 already, and is 0 at d = +-3
    want = np.array([-1, -2, 0, 9, 21, 27, 21, 9, 0, -2, -1]) / 81
    np.testing.assert_allclose(row[11:22], want, atol=1e-12)
    assert not row[:11].any() and not row[22:].any()
    np.testing.assert_allclose(m.sum(1), 1.0)


def test_imresize_shapes_and_constants():
    img = np.full((13, 20, 2), 0.7)
    assert sr_data.imresize(img, 3).shape == (39, 60, 2)
    out = sr_data.imresize(img, 1 / 3)
    assert out.shape == (5, 7, 2)  # ceil, as MATLAB
    np.testing.assert_allclose(out, 0.7)
    with pytest.raises(ValueError, match="scale"):
        sr_data.imresize(img, 0)


def test_patch_pairs_are_aligned_and_deterministic(set5):
    lr, hr = sr_data.patch_batch(set5, 3, 17, 4, seed=1, step=5)
    assert lr.shape == (4, 17, 17, 1) and hr.shape == (4, 51, 51, 1) and lr.dtype == np.float32
    lr2, hr2 = sr_data.patch_batch(set5, 3, 17, 4, seed=1, step=5)
    assert np.array_equal(lr, lr2) and np.array_equal(hr, hr2)
    assert not np.array_equal(lr, sr_data.patch_batch(set5, 3, 17, 4, seed=1, step=6)[0])
    for a, b in zip(lr, hr):  # away from the patch border, LR patch = imresize(HR patch)
        np.testing.assert_allclose(a[2:-2, 2:-2, 0], sr_data.imresize(b[..., 0], 1 / 3)[2:-2, 2:-2], atol=1e-5)
    with pytest.raises(ValueError, match="lr_size"):
        sr_data.patch_batch(set5, 3, 1000, 4, seed=0, step=0)


def test_quick_study_then_eval_only(tmp_path, data_dir):
    sr = data_dir / "sr"
    out = tmp_path / "run"
    summary = main(
        [
            "--train-dir",
            str(sr / "T91"),
            "--eval-dir",
            str(sr / "Set5"),
            "--scale",
            "3",
            "--out",
            str(out),
            "--quick",
            "--no-progress",
        ]
    )
    disk = json.loads((out / "summary.json").read_text())
    assert disk["mean_psnr_y"] == summary["mean_psnr_y"]
    assert [r["image"] for r in disk["per_image"]] == sorted(PUBLISHED_BICUBIC)
    assert disk["mean_psnr_y"]["bicubic"] == pytest.approx(PUBLISHED_MEAN, abs=0.05)
    assert np.isfinite(disk["mean_psnr_y"]["espcn"])
    losses = [json.loads(ln)["loss"] for ln in (out / "metrics.jsonl").read_text().splitlines()]
    assert losses[-1] < losses[0]  # training moves
    again = main(
        [
            "--checkpoint",
            str(out / "params.npz"),
            "--eval-only",
            "--eval-dir",
            str(sr / "Set5"),
            "--out",
            str(tmp_path / "eval"),
            "--no-progress",
        ]
    )
    assert again["mean_psnr_y"]["espcn"] == pytest.approx(summary["mean_psnr_y"]["espcn"], abs=1e-6)
    assert "training" not in again


@pytest.mark.parametrize(
    "argv, match",
    [
        (["--eval-only"], "--checkpoint"),
        (["--scale", "0"], "--scale"),
        (["--lr-final", "1.0"], "--lr-final"),
    ],
)
def test_bad_arguments_exit_with_a_message(argv, match, capsys):
    with pytest.raises(SystemExit):
        main(argv)
    assert match in capsys.readouterr().err


def test_missing_folder_and_bad_checkpoint_name_the_problem(tmp_path, data_dir):
    with pytest.raises(ValueError, match="does not exist"):
        main(
            [
                "--eval-only",
                "--checkpoint",
                str(tmp_path / "nope.npz"),
                "--eval-dir",
                str(data_dir / "sr" / "Set5"),
                "--out",
                str(tmp_path),
            ]
        )
    with pytest.raises(ValueError, match="missing does not exist"):
        sr_data.list_images(tmp_path / "missing")
    np.savez(tmp_path / "bad.npz", w=np.zeros(3))
    with pytest.raises(ValueError, match="does not fit the model"):
        main(
            [
                "--eval-only",
                "--checkpoint",
                str(tmp_path / "bad.npz"),
                "--eval-dir",
                str(data_dir / "sr" / "Set5"),
                "--out",
                str(tmp_path),
            ]
        )


def test_missing_eval_dir_is_an_argparse_error(tmp_path, capsys):
    with pytest.raises(SystemExit):
        main(
            [
                "--eval-only",
                "--weights",
                "espcn_x3_t91",
                "--eval-dir",
                str(tmp_path / "missing"),
                "--out",
                str(tmp_path),
            ]
        )
    assert "argument --eval-dir" in capsys.readouterr().err


def test_help_exits_cleanly(capsys):
    with pytest.raises(SystemExit) as e:
        main(["--help"])
    assert e.value.code == 0 and "--eval-only" in capsys.readouterr().out


def test_loss_ignores_the_context_ring():
    import jax
    import jax.numpy as jnp

    from experiments.espcn_sr_loop import crop_loss

    pred = jnp.asarray(np.random.default_rng(0).random((2, 27, 27, 1), np.float32))
    hr = np.zeros((2, 27, 27, 1), np.float32)
    ring = hr.copy()
    ring[:, :3] = ring[:, -3:] = ring[:, :, :3] = ring[:, :, -3:] = 1.0  # differs only outside the loss region
    loss = lambda target: float(jax.jit(crop_loss(3))(pred, {"target": target})[0])
    assert loss(ring) == loss(hr)
    np.testing.assert_allclose(loss(hr), np.mean(np.asarray(pred)[:, 3:-3, 3:-3] ** 2), rtol=1e-6)
    inner = hr.copy()
    inner[:, 13, 13] = 1.0
    assert loss(inner) != loss(hr)


def test_predict_with_mirrored_context_keeps_the_size():
    import jax

    from experiments.espcn_sr_loop import build_model, init_params, predict, super_resolve

    model = build_model(3)
    params = init_params(model, jax.random.PRNGKey(0))
    lr = np.random.default_rng(1).random((7, 10), np.float32)
    plain = super_resolve(model, params, lr, 0)
    padded = super_resolve(model, params, lr, 4)
    assert plain.shape == padded.shape == (21, 30)
    # the receptive radius is 4 LR pixels: away from the border, padding changes nothing
    np.testing.assert_allclose(plain[12:-12, 12:-12], padded[12:-12, 12:-12], atol=1e-6)
    assert not np.allclose(plain, padded)
    direct = np.clip(np.asarray(model.apply({"params": params}, lr[None, ..., None]))[0, ..., 0], 0, 1)
    np.testing.assert_allclose(np.asarray(predict(model, params, lr[None, ..., None]))[0, ..., 0], direct, atol=1e-6)


def test_dihedral_patches_are_patches_of_the_transformed_image(set5):
    # Oracle: bicubic downscaling commutes with flips/rotations, so an augmented pair must equal
    # the pair made from the transformed HR image (computed independently by imresize).
    hr = set5[0].hr[:60, :75]
    for k in range(8):
        t = sr_data.dihedral(hr, k)
        np.testing.assert_allclose(
            sr_data.dihedral(sr_data.imresize(hr, 1 / 3), k), sr_data.imresize(t, 1 / 3), atol=1e-12
        )
    assert len({sr_data.dihedral(np.arange(4).reshape(2, 2), k).tobytes() for k in range(8)}) == 8
    lr, hr = sr_data.patch_batch(set5, 3, 17, 16, seed=2, step=0, augment=True)
    for a, b in zip(lr, hr):  # still aligned after the per-patch transform
        np.testing.assert_allclose(a[2:-2, 2:-2, 0], sr_data.imresize(b[..., 0], 1 / 3)[2:-2, 2:-2], atol=1e-5)


def test_rescaled_pairs(set5):
    pairs = sr_data.rescaled_pairs(set5[:2], [0.5], 3)
    assert [p.name for p in pairs][2:] == [f"{p.name}@0.5" for p in set5[:2]]
    small = pairs[2]
    assert small.hr.shape[0] % 3 == 0 and abs(small.hr.shape[0] - set5[0].hr.shape[0] * 0.5) <= 3
    np.testing.assert_allclose(small.lr, sr_data.imresize(small.hr, 1 / 3))
    with pytest.raises(ValueError, match="rescale"):
        sr_data.rescaled_pairs(set5[:1], [1.5], 3)


def test_mirror_padded_patches_reach_every_border_pixel_with_test_time_context(set5):
    """A patch at the padded image's corner has the image's corner as its loss region (LR and HR
    aligned) and a context ring equal to what predict() pads at test time (jnp.pad symmetric)."""
    import jax.numpy as jnp

    c, patch, r = 4, 5, 3
    p = set5[1]
    (q,) = sr_data.mirror_padded([p], c, r)
    assert q.lr.shape == (p.lr.shape[0] + 2 * c, p.lr.shape[1] + 2 * c) and q.hr.shape == tuple(
        3 * n for n in q.lr.shape
    )
    side = patch + 2 * c
    h, w = p.lr.shape
    for y, x in [(0, 0), (h - patch, w - patch)]:  # the first and last loss-region origins
        lr, hr = q.lr[y : y + side, x : x + side], q.hr[y * r : (y + side) * r, x * r : (x + side) * r]
        np.testing.assert_array_equal(lr[c : c + patch, c : c + patch], p.lr[y : y + patch, x : x + patch])
        np.testing.assert_array_equal(
            hr[c * r : (c + patch) * r, c * r : (c + patch) * r], p.hr[y * r : (y + patch) * r, x * r : (x + patch) * r]
        )
    test_time = np.asarray(jnp.pad(jnp.asarray(p.lr), c, mode="symmetric"))
    np.testing.assert_allclose(q.lr, test_time, atol=1e-7)
    with pytest.raises(ValueError, match="context"):
        sr_data.mirror_padded([p], -1, r)
