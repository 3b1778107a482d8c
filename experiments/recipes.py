"""Named training recipes: ``python -m experiments.recipes cifar10_resnet20 --data ../shared/data/cifar10-full``.

A recipe is a fixed set of ``experiments.classify`` flags (printed before the run), so its result is
reproduced by one command; flags after the name (``--data``, ``--out``, ``--resume``, ``--workers``,
``--no-progress``, ...) are passed on and override the recipe's. ``--list`` prints the recipes.

``cifar10_resnet20``: CIFAR ResNet-20 (He et al. 2016, option A shortcuts) on the 50,000 training
images of an ImageFolder with pad-4 crop + flip, oneDNN's convolution on CPU, SGD momentum 0.9 (no Nesterov), batch 128, learning
rate 0.1 on a cosine schedule over 30 epochs (390 steps each), L2 5e-4 on the kernels, evaluated on
the 10,000 test images every 5 epochs. Its PyTorch twin is ``benchmarks/torch_cifar_reference.py``;
the shipped weights ``cifar10_resnet20`` and their model card come from this recipe.
"""

from __future__ import annotations

import argparse
import shlex
import sys

EPOCH_STEPS = 50_000 // 128  # the loader drops each epoch's last partial batch

RECIPES = {
    "cifar10_resnet20": [
        "--model", "cifar_resnet20", "--dataset", "cifar10", "--augment", "--conv", "onednn",
        "--steps", str(30 * EPOCH_STEPS), "--batch-size", "128",
        "--lr", "0.1", "--schedule", "cosine", "--momentum", "0.9", "--no-nesterov", "--weight-decay", "5e-4",
        "--eval-every", str(5 * EPOCH_STEPS), "--ckpt-every", str(EPOCH_STEPS), "--seed", "0",
        "--out", "runs/cifar10_resnet20",
    ],
}  # fmt: skip


def recipe_argv(name: str, extra: list[str]) -> list[str]:
    """The ``experiments.classify`` argv of recipe ``name`` followed by ``extra`` (later flags win)."""
    if name not in RECIPES:
        raise ValueError(f"recipe: unknown recipe {name!r}; choose from {sorted(RECIPES)}")
    return [*RECIPES[name], *extra]


def main(argv=None) -> dict | None:
    p = argparse.ArgumentParser(
        prog="python -m experiments.recipes",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="Any other flag is an experiments.classify flag (python -m experiments.classify --help).",
    )
    p.add_argument("recipe", nargs="?", choices=sorted(RECIPES), help="recipe name")
    p.add_argument("--list", action="store_true", help="print each recipe's classify command and exit")
    args, extra = p.parse_known_args(argv)
    if args.list or args.recipe is None:
        for name, flags in RECIPES.items():
            print(f"{name}: python -m experiments.classify {shlex.join(flags)}")
        return None
    from experiments import classify

    full = recipe_argv(args.recipe, extra)
    print(f"python -m experiments.classify {shlex.join(full)}", flush=True)
    return classify.main(full)


if __name__ == "__main__":  # the guard also keeps grain's worker processes from re-running main
    try:
        main()
    except ValueError as e:
        sys.exit(f"error: {e}")
