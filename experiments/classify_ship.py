"""Ship a classifier trained by a recipe: ``python -m experiments.classify_ship RUN --name cifar10_resnet20``.

Reads the latest checkpoint of ``RUN`` (an ``experiments.classify``/``experiments.recipes`` output
folder), writes ``jaxcnn/weights/NAME.safetensors`` (jaxcnn layout, numpy only, arch and overrides
recorded) and its model card ``NAME.md``. Before shipping, the eval-only command is run on the written
file and must reproduce the test accuracy the run recorded at that step within 0.05 points (the
run evaluated with its own conv; the file is evaluated with the default one). ``--torch-run`` adds the
PyTorch reference (``benchmarks/torch_cifar_reference.py``'s output) to the card's table.
"""

from __future__ import annotations

import argparse
import json
import platform
import shutil
import sys
import tempfile
import time
from pathlib import Path

from experiments._paths import DEFAULT_DATA
from experiments.recipes import EPOCH_STEPS, RECIPES

TOLERANCE = 5e-4  # 0.05 points: 5 of 10,000 test images


def recorded_run(run: Path) -> dict:
    """The run's last evaluation (``step``, ``test_accuracy``) and its summary (wall time, throughput)."""
    rows = [json.loads(r) for r in (run / "metrics.jsonl").read_text().splitlines() if r.strip()]
    evals = [r for r in rows if "test_accuracy" in r]
    if not evals:
        raise ValueError(f"run {str(run)!r} has no evaluation in metrics.jsonl; finish or evaluate it first")
    summary_file = run / "summary.json"
    summary = json.loads(summary_file.read_text()) if summary_file.exists() else {}
    return {**summary, "step": evals[-1]["step"], "test_accuracy": evals[-1]["test_accuracy"], "history": evals}


def torch_run(path: Path | None) -> dict | None:
    if path is None:
        return None
    summary = json.loads((path / "summary.json").read_text())
    rows = [json.loads(r) for r in (path / "metrics.jsonl").read_text().splitlines() if r.strip()]
    return {**summary, "history": [r for r in rows if "test_accuracy" in r]}


def _pct(x: float | None) -> str:
    return "n/a" if x is None else f"{100 * x:.2f} %"


def card_text(name: str, recipe: str, rec: dict, evaluated: float, ref: dict | None, machine: str) -> str:
    jax_epoch = EPOCH_STEPS * rec["batch_size"] / rec["images_per_sec"] if rec.get("images_per_sec") else None
    rows = [
        f"| jaxcnn (`fit`, oneDNN conv) | {_pct(rec['test_accuracy'])} | {rec['step'] // EPOCH_STEPS} | "
        f"{jax_epoch:.0f} s | {rec.get('wall_s', 0) / 60:.0f} min |"
    ]
    curve = " / ".join(_pct(r["test_accuracy"]) for r in rec["history"])
    if ref is not None:
        rows.append(
            f"| PyTorch reference ({ref['framework']}) | {_pct(ref['test_accuracy'])} | {ref['epochs']} | "
            f"{ref['median_epoch_s']:.0f} s | {ref['train_wall_s'] / 60:.0f} min |"
        )
        curve += "; PyTorch " + " / ".join(_pct(r["test_accuracy"]) for r in ref["history"])
    flags = " ".join(RECIPES[recipe])
    return f"""# {name}: CIFAR ResNet-20 trained on CIFAR-10 by `jaxcnn.train.fit`

**Test accuracy {_pct(evaluated)}** on the 10,000 CIFAR-10 test images (JPEG copies; see Data).
He et al. 2016 (Table 6) report 91.25 % for ResNet-20 after 64k steps (164 epochs) on the original
data; this recipe runs 30 epochs.

    model, variables = jaxcnn.pretrained("{name}")  # create_model("cifar_resnet20", num_classes=10)
    logits = model.apply(variables, images, train=False)  # NHWC, (x / 255 - mean) / std, CIFAR-10 stats

## Model
CIFAR ResNet-20 (He et al. 2016, section 4.2): 3x3 stem to 16 channels, three stages of three basic
blocks (16, 32, 64 channels, stride 2 between stages), option A shortcuts (subsample, zero-pad
channels), global average pool, linear head. 269,722 parameters, float32.

## Data
`../shared/data/cifar10-full`: the 50,000 training and 10,000 test images of CIFAR-10 (Krizhevsky
2009) as 32x32 JPEG files in an ImageFolder (`train/<class>/`, `test/<class>/`, classes in
`classes.txt` order), read by `jaxcnn.data.loader`. Per-channel mean/std normalisation
(0.4914, 0.4822, 0.4465) / (0.2470, 0.2435, 0.2616); training augmentation: zero-pad 4, random
32x32 crop, horizontal flip.

## Recipe
SGD momentum 0.9 (no Nesterov), batch 128, learning rate 0.1 on a per-step cosine to 0 over 30 epochs
({30 * EPOCH_STEPS} steps of 128; each epoch drops its last partial batch), L2 5e-4 on conv and linear
kernels (added to the gradient, as torch's `weight_decay`), BatchNorm momentum 0.1 (torch terms), seed 0.

    python -m experiments.recipes {recipe} --data ../shared/data/cifar10-full
    # = python -m experiments.classify {flags} --data ../shared/data/cifar10-full
    python -m experiments.classify_ship runs/{recipe} --name {name} --torch-run runs/torch_{recipe}

## Result, side by side with PyTorch
The same network, init scheme, files, augmentation, seed policy and recipe in plain PyTorch
(`python benchmarks/torch_cifar_reference.py --data ../shared/data/cifar10-full`), run at the same time
on the same machine: {machine}.

| run | test accuracy | epochs | one epoch (training steps only) | wall time (with evaluations) |
|---|---|---|---|---|
{chr(10).join(rows)}

Test accuracy every 5 epochs: jaxcnn {curve}.
Recorded by the training run at step {rec["step"]}: {_pct(rec["test_accuracy"])}; the shipped file, evaluated with
the default (XLA) conv: {_pct(evaluated)}. Shipped {time.strftime("%Y-%m-%d")}.

## Evaluation
    python -m experiments.classify --eval-only --weights {name} --data ../shared/data/cifar10-full --out OUT

writes `OUT/summary.json` with `test_accuracy` (a fraction) over the 10,000 test images
(`tests/interop/test_shipped_classifier.py` checks it gives the training run's {rec["test_accuracy"]:.4f} within 0.0005).
"""


def ship(run: Path, name: str, recipe: str, data: Path, dest: Path, torch_dir: Path | None, machine: str) -> dict:
    from experiments.classify import main as classify_main
    from jaxcnn.interop.files import write_flax
    from jaxcnn.train.checkpoint import restore_arrays

    rec = recorded_run(run)
    ref = torch_run(torch_dir)
    tree = restore_arrays(run / "ckpt", rec["step"])
    variables = {"params": tree["params"], "batch_stats": tree["batch_stats"]}
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / f"{name}.safetensors"
        meta = {"test_accuracy": f"{rec['test_accuracy']:.6f}", "steps": str(rec["step"]), "model_card": f"{name}.md"}
        write_flax(out, variables, "cifar_resnet20", {"num_classes": 10}, meta)
        evaluated = classify_main(
            ["--eval-only", "--weights", str(out), "--data", str(data), "--out", str(Path(tmp) / "eval")]
        )["test_accuracy"]
        if abs(evaluated - rec["test_accuracy"]) > TOLERANCE:
            raise ValueError(
                f"the written file gives {evaluated:.4f}, the run recorded {rec['test_accuracy']:.4f} at step "
                f"{rec['step']}: not shipping"
            )
        dest.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(out, dest / f"{name}.safetensors")
    (dest / f"{name}.md").write_text(card_text(name, recipe, rec, evaluated, ref, machine))
    print(f"shipped {dest / name}.safetensors: test accuracy {evaluated:.4f} (recorded {rec['test_accuracy']:.4f})")
    return {"recorded": rec["test_accuracy"], "evaluated": evaluated}


def main(argv=None) -> dict:
    from jaxcnn.pretrained import WEIGHTS_DIR

    p = argparse.ArgumentParser(
        prog="python -m experiments.classify_ship",
        description=__doc__,
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument("run", type=Path, help="output folder of the training run (metrics.jsonl, ckpt/)")
    p.add_argument("--name", required=True, help="name of the shipped checkpoint (a Python identifier)")
    p.add_argument("--recipe", default="cifar10_resnet20", choices=sorted(RECIPES), help="recipe the run followed")
    p.add_argument("--data", type=Path, default=DEFAULT_DATA / "cifar10-full", help="ImageFolder root with test/")
    p.add_argument("--torch-run", type=Path, default=None, help="output folder of the PyTorch reference run")
    p.add_argument("--dest", type=Path, default=WEIGHTS_DIR, help="folder the weights and card are written to")
    p.add_argument(
        "--machine",
        default=f"{platform.machine()} Linux, 2 CPU cores, each run pinned to one core (taskset)",
        help="machine description for the card",
    )
    args = p.parse_args(argv)
    if not args.name.isidentifier():
        p.error(f"--name must be letters, digits and underscores, got {args.name!r}")
    return ship(args.run, args.name, args.recipe, args.data, args.dest, args.torch_run, args.machine)


if __name__ == "__main__":
    try:
        main()
    except ValueError as e:
        sys.exit(f"error: {e}")
