"""Receptive-field figures: growth per layer (resnet18, resnet50, cifar_resnet20) and
effective-receptive-field heatmaps (Luo et al. 2016), untrained and, given --checkpoint, trained.

Writes PNG + JSON under runs/receptive_fields/. Example: python -m experiments.receptive_fields --quick
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import matplotlib

from experiments._cli import HelpFormatter, existing_dir_path, positive_int

matplotlib.use("Agg")
import jax  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from tqdm import tqdm  # noqa: E402

from jaxcnn.analysis import layerwise_receptive_fields, model_function  # noqa: E402
from jaxcnn.analysis.measured import effective_receptive_field  # noqa: E402
from jaxcnn.models import create_model  # noqa: E402

GROWTH = [("resnet18", 224), ("resnet50", 224), ("cifar_resnet20", 32)]
ERF = [("cifar_resnet20", 64), ("resnet18", 224)]


def parse_args(argv=None):
    p = argparse.ArgumentParser(
        prog="python -m experiments.receptive_fields", description=__doc__, formatter_class=HelpFormatter
    )
    p.add_argument("--out", type=Path, default=Path("runs/receptive_fields"), help="output folder")
    p.add_argument("--quick", action="store_true", help="small inputs and few ERF samples (a smoke run)")
    p.add_argument("--samples", type=positive_int, default=32, help="random inputs averaged per ERF map")
    p.add_argument(
        "--checkpoint",
        type=existing_dir_path,
        default=None,
        help="trained variables for cifar_resnet20 (jaxcnn.train.checkpoint) for a trained ERF",
    )
    return p.parse_args(argv)


def growth_figure(out: Path, bar) -> dict:
    fig, ax = plt.subplots(figsize=(7, 4))
    data = {}
    for name, hw in GROWTH:
        fn, variables = model_function(create_model(name), (1, hw, hw, 3))
        layers = layerwise_receptive_fields(lambda x, v: fn(x, v)["final"], (1, hw, hw, 3), variables)
        layers = [
            l
            for l in layers
            if l.primitive == "conv_general_dilated" or "pool" in l.primitive or "reduce_window" in l.primitive
        ]
        sizes = [l.size[0] for l in layers]
        data[name] = [{"name": l.name, "size": l.size[0], "stride": str(l.stride[0])} for l in layers]
        ax.plot(range(1, len(sizes) + 1), sizes, marker=".", label=f"{name} (final {sizes[-1]})")
        bar.update()
    ax.set(xlabel="conv / pool layer (program order)", ylabel="receptive field (px)", title="Receptive-field growth")
    ax.legend()
    fig.tight_layout()
    fig.savefig(out / "growth.png", dpi=120)
    plt.close(fig)
    return data


def erf_figure(out: Path, samples: int, quick: bool, checkpoint, bar) -> dict:
    maps = {}
    for name, hw in ERF:
        hw = min(hw, 96) if quick else hw
        model = create_model(name)
        fn, _ = model_function(model, (1, hw, hw, 3))
        variables = jax.jit(model.init)(jax.random.key(0), np.zeros((1, hw, hw, 3), np.float32))
        maps[f"{name} untrained"] = effective_receptive_field(
            lambda x, v: fn(x, v)["final"], (1, hw, hw, 3), variables, num_samples=samples
        )
        if checkpoint is not None and name == "cifar_resnet20":
            from jaxcnn.train.checkpoint import restore_arrays  # noqa: PLC0415 - optional path

            tree = restore_arrays(checkpoint)  # a saved TrainState: take its variable collections
            trained = {k: tree[k] for k in ("params", "batch_stats") if k in tree}
            maps[f"{name} trained"] = effective_receptive_field(
                lambda x, v: fn(x, v)["final"], (1, hw, hw, 3), trained, num_samples=samples
            )
        bar.update()
    fig, axes = plt.subplots(1, len(maps), figsize=(4 * len(maps), 4))
    for ax, (title, erf) in zip(np.atleast_1d(axes), maps.items()):
        ax.imshow(erf / erf.max(), cmap="magma")
        ax.set_title(title)
        ax.axis("off")
    fig.tight_layout()
    fig.savefig(out / "erf.png", dpi=120)
    plt.close(fig)
    return {k: {"shape": list(v.shape), "peak": float(v.max())} for k, v in maps.items()}


def main(argv=None):
    args = parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    samples = 4 if args.quick else args.samples
    with tqdm(total=len(GROWTH) + len(ERF), desc="receptive fields") as bar:
        summary = {
            "growth": growth_figure(args.out, bar),
            "erf": erf_figure(args.out, samples, args.quick, args.checkpoint, bar),
        }
    (args.out / "summary.json").write_text(json.dumps(summary, indent=1))
    print(f"wrote {args.out}/growth.png, erf.png, summary.json")


if __name__ == "__main__":
    main()
