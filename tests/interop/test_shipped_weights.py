"""The ESPCN x3 weights shipped in the package: they load by name with the right shapes, and the
eval-only command reproduces the Set5 figure recorded when they were trained (a separate process,
on the study's own ``params.npz``, before conversion) and written into the file and its model card."""

import numpy as np
import pytest

import jaxcnn
from jaxcnn.interop import read_safetensors
from jaxcnn.pretrained import WEIGHTS_DIR, model_card

NAME = "espcn_x3_t91"


def test_shipped_espcn_loads_by_name_with_the_papers_shapes():
    assert NAME in jaxcnn.list_pretrained()
    model, variables = jaxcnn.pretrained(NAME)
    assert type(model).__name__ == "ESPCN" and model.scale == 3 and model.channels == 1
    shapes = {k: v.shape for k, v in read_safetensors(WEIGHTS_DIR / f"{NAME}.safetensors")[0].items()}
    # 5-3-3 kernels, 64-32 channels, 1 * 3^2 outputs (Shi et al. 2016): 22,729 float32 weights
    assert shapes == {
        "params/conv1/kernel": (5, 5, 1, 64),
        "params/conv1/bias": (64,),
        "params/conv2/kernel": (3, 3, 64, 32),
        "params/conv2/bias": (32,),
        "params/conv3/kernel": (3, 3, 32, 9),
        "params/conv3/bias": (9,),
    }
    assert jaxcnn.count_params(variables) == 22729
    y = model.apply(variables, np.full((1, 6, 7, 1), 0.5, np.float32))
    assert y.shape == (1, 18, 21, 1) and np.isfinite(np.asarray(y)).all()
    assert 80_000 < (WEIGHTS_DIR / f"{NAME}.safetensors").stat().st_size < 100_000


def test_model_card_states_data_recipe_command_and_figure():
    card = model_card(NAME)
    meta = read_safetensors(WEIGHTS_DIR / f"{NAME}.safetensors")[1]
    assert f"{float(meta['set5_x3_psnr_y']):.2f} dB" in card
    for needed in (
        "T91",
        "--augment",
        "--rescale 0.9 0.8 0.7 0.6",
        "--refit-last",
        "python -m experiments.espcn_sr",
        "--eval-only --weights espcn_x3_t91",
    ):
        assert needed in card, needed
    with pytest.raises(ValueError, match="unknown shipped checkpoint"):
        model_card("espcn_x9")


def test_eval_only_reproduces_the_recorded_set5_figure(tmp_path, data_dir):
    from experiments.espcn_sr import main

    recorded = float(read_safetensors(WEIGHTS_DIR / f"{NAME}.safetensors")[1]["set5_x3_psnr_y"])
    summary = main(
        [
            "--eval-only",
            "--weights",
            NAME,
            "--eval-dir",
            str(data_dir / "sr" / "Set5"),
            "--scale",
            "3",
            "--out",
            str(tmp_path),
            "--no-figure",
            "--no-progress",
        ]
    )
    assert (tmp_path / "summary.json").is_file()
    assert summary["mean_psnr_y"]["espcn"] == pytest.approx(recorded, abs=1e-3)
    assert summary["mean_psnr_y"]["bicubic"] == pytest.approx(30.39, abs=0.01)  # SRCNN's published bicubic mean
    assert summary["weights"]["source"] == NAME


def test_eval_only_rejects_a_wrong_scale(tmp_path, data_dir):
    from experiments.espcn_sr import main

    with pytest.raises(ValueError, match=r"does not fit the model ESPCN x4.*conv3"):
        main(
            [
                "--eval-only",
                "--weights",
                NAME,
                "--eval-dir",
                str(data_dir / "sr" / "Set5"),
                "--scale",
                "4",
                "--out",
                str(tmp_path),
                "--no-figure",
            ]
        )
