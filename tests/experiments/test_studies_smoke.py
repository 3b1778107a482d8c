"""Every study of the report in its smallest mode, so a broken study fails CI; then the report
itself, built from those outputs (``--results``) without running anything again."""

import json

import pytest


@pytest.fixture(scope="module")
def outputs(tmp_path_factory):
    return tmp_path_factory.mktemp("studies")


def test_classification_study_smoke(data_dir, outputs):
    from experiments import classification_study

    out = outputs / "classification_study"
    summary = classification_study.main(["--smoke", "--data", str(data_dir), "--out", str(out), "--no-progress"])
    arms = summary["results"]["mnist"]
    assert set(arms) == set(classification_study.ARMS)
    for arm in arms.values():
        assert 0.0 <= arm["aggregate"]["test_accuracy_mean"] <= 1.0
        assert len(arm["runs"][0]["train_loss"]) == 2
    assert (out / "curves.png").is_file() and (out / "table.md").is_file()


def test_cutout_arm_is_the_plain_net_behind_cutout():
    """The Cutout arm's network is the plain one at test time (same weights, same logits); in
    training it cuts squares out of the inputs from the 'augment' stream, which the plain step
    does not provide (Flax refuses), and changes what the net learns from."""
    import jax
    import jax.numpy as jnp
    import numpy as np

    from experiments.classification_study import make_step, with_cutout
    from jaxcnn.models import create_model
    from jaxcnn.train import create_train_state, make_optimizer

    plain = create_model("cifar_resnet20", stage_sizes=(1, 1, 1))
    batch = {"image": jax.random.normal(jax.random.key(1), (4, 16, 16, 3)), "label": jnp.arange(4)}
    fresh = lambda m: create_train_state(m, jax.random.key(0), batch["image"][:1], make_optimizer(0.1))
    a, b = fresh(plain), fresh(with_cutout(plain, 8))
    copy = lambda t: jax.tree.map(jnp.array, t)  # the steps donate their state
    b = b.replace(
        params={"inner": copy(a.params)},
        batch_stats={"inner": copy(a.batch_stats)},
        opt_state=b.tx.init({"inner": copy(a.params)}),
    )
    np.testing.assert_array_equal(a.apply_fn(a.variables, batch["image"]), b.apply_fn(b.variables, batch["image"]))
    with pytest.raises(Exception, match="augment"):
        make_step(None)(b, batch)
    a_new, _ = make_step(None)(a, batch)
    b_new, _ = make_step(8)(b, batch)
    diff = [
        float(jnp.max(jnp.abs(x - y))) for x, y in zip(jax.tree.leaves(a_new.params), jax.tree.leaves(b_new.params))
    ]
    assert max(diff) > 1e-4


def test_tradeoffs_smoke(data_dir, outputs):
    from experiments import tradeoffs

    out = outputs / "tradeoffs"
    summary = tradeoffs.main(["--smoke", "--data", str(data_dir), "--out", str(out), "--no-progress"])
    rows = {r["block"]: r for r in summary["rows"]}
    assert set(rows) == {"basic", "bottleneck", "bottleneck_narrow", "resnext", "se", "mbconv"}
    # the narrow bottleneck is the cheap one; the same-inner-width bottleneck costs about a basic block
    assert rows["bottleneck_narrow"]["macs"] < rows["basic"]["macs"] < rows["resnext"]["macs"]
    assert rows["se"]["params"] > rows["bottleneck"]["params"] and rows["se"]["macs"] >= rows["bottleneck"]["macs"]
    assert all(r["peak_bytes"] is None or r["peak_bytes"] > 0 for r in rows.values())
    assert (out / "table.md").is_file() and (out / "tradeoffs.png").is_file()


def test_gallery_smoke(data_dir, outputs):
    from experiments import gallery

    out = outputs / "gallery"
    summary = gallery.main(["--smoke", "--data", str(data_dir), "--out", str(out), "--no-progress"])
    cm = summary["conv_matrix"]
    assert len(cm["C"]) == 4 and len(cm["C"][0]) == 16
    assert cm["max_abs_CTy_minus_vjp"] < 1e-4 and cm["max_abs_Cx_minus_conv"] < 1e-4
    psnr = summary["upsampling"]["psnr_y"]
    assert psnr["bicubic (MATLAB)"] == pytest.approx(24.04, abs=0.02)  # published bicubic x3, butterfly
    # a bilinear-initialised transposed conv *is* bilinear interpolation
    assert psnr["transposed conv (bilinear init)"] == pytest.approx(psnr["bilinear"], abs=0.02)
    # ... and so is the sub-pixel conv holding that kernel's phases (Shi et al.'s equivalence)
    assert psnr["sub-pixel conv (bilinear phases, untrained)"] == pytest.approx(psnr["bilinear"], abs=0.02)
    assert summary["checkerboard"]["subpixel_icnr_block_deviation"] < 1e-6
    assert summary["checkerboard"]["subpixel_random_block_deviation"] > 0.05
    for name in ("upsampling.png", "checkerboard.png", "conv_matrix.png", "masks.png"):
        assert (out / name).is_file()


def test_report_from_results(data_dir, outputs):
    from experiments import report

    studies = ["classification_study", "tradeoffs", "gallery"]
    missing = [s for s in studies if not (outputs / s / "summary.json").is_file()]
    if missing:
        pytest.skip(f"needs the smoke outputs of {missing} (run the whole module)")
    out = outputs / "report"
    argv = ["--smoke", "--out", str(out), "--only", ",".join(studies)]
    for s in studies:
        argv += ["--results", f"{s}={outputs / s}"]
    report.main(argv)
    text = (out / "REPORT.md").read_text()
    for heading in (
        "## 2. Classification",
        "## 3. Block trade-offs",
        "### Transposed convolution",
        "### Cutout vs DropBlock",
        "### MBConv",
        "### Squeeze-and-Excitation",
        "### ResNeXt",
        "### Pre-activation",
        "### Stochastic depth",
    ):
        assert heading in text, heading
    assert "```python" in text  # the code behind the numbers is embedded
    assert json.loads((out / "summary.json").read_text())["mode"] == "smoke"


CLIS = ("classification_study", "tradeoffs", "gallery", "report", "demo", "classify", "espcn_sr", "receptive_fields")


def test_help_of_every_cli_shows_defaults():
    import subprocess
    import sys

    for cli in CLIS:
        res = subprocess.run(
            [sys.executable, "-m", f"experiments.{cli}", "--help"], capture_output=True, text=True, timeout=60
        )
        assert res.returncode == 0 and "usage" in res.stdout, (cli, res.stderr[-500:])
        assert "(default:" in res.stdout, cli
