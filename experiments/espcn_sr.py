"""ESPCN x3 super-resolution on T91, evaluated on Set5 against the bicubic baseline (Shi et al. 2016).

    python -m experiments.espcn_sr --train-dir ../shared/data/sr/T91 --eval-dir ../shared/data/sr/Set5 \\
        --scale 3 --out runs/espcn_sr
    python -m experiments.espcn_sr --eval-only --weights espcn_x3_t91 --eval-dir DIR --scale 3 --out OUT

``--weights`` is a checkpoint shipped in jaxcnn (``espcn_x3_t91``: this study's recipe, see its model
card, ``jaxcnn.pretrained.model_card``), a jaxcnn ``.safetensors``/``.msgpack`` file or a ``params.npz``.

Protocol (SRCNN's ``demo_SR.m``, which ESPCN's table follows): Y of MATLAB's ``rgb2ycbcr`` rounded
to uint8, HR modcropped to a multiple of the scale, LR by MATLAB ``imresize`` bicubic (antialiased),
PSNR on Y rounded to uint8 with ``scale`` pixels shaved, averaged over images.

Training follows the paper (17r HR targets, 5-3-3 convs of 64-32 channels, tanh, the last layer 10x
slower) with these changes: Adam with lr 1e-3 decayed exponentially to 1e-5 (the paper: SGD, 0.01 cut
to 1e-4 on plateaus); LR made by bicubic downscaling (the paper blurs with a Gaussian), as the
evaluation protocol does; patches drawn at random positions rather than on a stride-14 grid; the
model's convs are zero-padded, so the input patch carries ``--context`` 4 extra LR pixels on each side
that are left out of the loss (what the paper's valid convolutions amount to), and at test time the
LR image gets the same 4 pixels of mirrored padding (cropped from the output). ``--augment`` (the 8
flips/rotations, exact for bicubic pairs) and ``--rescale 0.9 0.8 0.7 0.6`` (T91 shrunk: 455 images)
are the usual SR augmentations; the paper uses neither.

``--mirror-borders`` (default) also trains border pixels, their context mirrored as ``predict`` pads
it at test time (measured: no change in Set5 PSNR, 32.505 with and without after 250k steps; the
border deficit -- ESPCN gains 2.2 dB over bicubic in butterfly's 12-pixel border, 3.4 dB inside --
is the missing context, not a lack of training). ``--refit-last`` then solves the last conv in closed
form on the training set as trained (see ``experiments/espcn_refit.py``).

The best Set5 figure of this recipe family (32.56 dB, from six runs chained by ``--checkpoint``) and
the figure of the shipped weights are in the model card (``jaxcnn.pretrained.model_card('espcn_x3_t91')``).

Writes ``OUT/summary.json`` (per-image and mean ``psnr_y`` for ESPCN and bicubic), ``OUT/metrics.jsonl``
(loss and Set5 PSNR during training), ``OUT/espcn_sr.png`` (crops and curve) and the weights as
``OUT/params.npz`` (never commit them).
"""

from __future__ import annotations

import argparse
import sys

from experiments._cli import (
    HelpFormatter,
    existing_dir,
    flag_error,
    nonnegative_int,
    number_in,
    positive_float,
    positive_int,
    weights_source,
)
from experiments._paths import DEFAULT_DATA  # noqa: E402


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="python -m experiments.espcn_sr", description=__doc__, formatter_class=HelpFormatter
    )
    p.add_argument("--train-dir", default=str(DEFAULT_DATA / "sr" / "T91"), help="folder of HR training images")
    p.add_argument("--eval-dir", default=str(DEFAULT_DATA / "sr" / "Set5"), help="folder of HR test images")
    p.add_argument("--scale", type=positive_int, default=3)
    p.add_argument("--out", default="runs/espcn_sr")
    p.add_argument("--checkpoint", default=None, help="params .npz to start from")
    p.add_argument(
        "--eval-only", action="store_true", help="evaluate --weights (or --checkpoint) on --eval-dir, no training"
    )
    p.add_argument(
        "--weights",
        default=None,
        metavar="NAME_OR_PATH",
        type=weights_source(),
        help="with --eval-only: a shipped checkpoint name (e.g. espcn_x3_t91), a jaxcnn .safetensors/.msgpack "
        "file or a params .npz",
    )
    p.add_argument("--no-figure", action="store_true", help="with --eval-only: write summary.json only")
    p.add_argument("--quick", action="store_true", help="smoke test: 30 steps on 4 training images")
    p.add_argument("--steps", type=nonnegative_int, default=None, help="training steps (default 50000, quick 30)")
    p.add_argument("--batch-size", type=positive_int, default=16)
    p.add_argument(
        "--patch", type=positive_int, default=17, help="LR side of the loss region; HR targets are patch * scale (17r)"
    )
    p.add_argument(
        "--context",
        type=nonnegative_int,
        default=4,
        help="LR pixels of input around the loss region (4 = the 5-3-3 receptive radius)",
    )
    p.add_argument("--optimizer", choices=("adam", "sgd"), default="adam")
    p.add_argument("--lr", type=positive_float, default=1e-3, help="initial learning rate (paper: 0.01 with SGD)")
    p.add_argument("--lr-final", type=positive_float, default=1e-5, help="learning rate reached at the last step")
    p.add_argument(
        "--last-layer-lr", type=positive_float, default=0.1, help="lr multiplier of the last conv (paper: 0.1)"
    )
    p.add_argument(
        "--eval-every", type=nonnegative_int, default=5000, help="steps between Set5 evaluations (0: only at the end)"
    )
    p.add_argument("--augment", action="store_true", help="a random flip/rotation (8 symmetries) per patch")
    p.add_argument(
        "--rescale",
        type=number_in(0, 1, low_open=True, high_open=True),
        nargs="*",
        default=[],
        metavar="F",
        help="also train on every HR image shrunk by these factors, e.g. 0.9 0.8 0.7 0.6",
    )
    p.add_argument(
        "--mirror-borders",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="train on patches whose context may reach past the image edge, mirrored as at test time, "
        "so border pixels are trained on too (--no-mirror-borders: interior patches only)",
    )
    p.add_argument(
        "--refit-last",
        action="store_true",
        help="after training (or on --checkpoint), solve the last conv in closed form on the training "
        "set (least squares; the set as trained: --rescale, and --augment's 8 symmetries)",
    )
    p.add_argument("--resize", choices=("matlab", "jax"), default="matlab", help="bicubic implementation")
    p.add_argument("--seed", type=nonnegative_int, default=0)
    p.add_argument("--no-progress", action="store_true")
    args = p.parse_args(argv)
    if args.steps is None:
        args.steps = 30 if args.quick else 50000
    if not args.lr_final <= args.lr:
        p.error(f"--lr-final must be in (0, --lr], got {args.lr_final}")
    if args.eval_only and not (args.checkpoint or args.weights):
        p.error("--eval-only needs --weights NAME_OR_PATH (or --checkpoint PATH)")
    if args.weights and not args.eval_only:
        p.error("--weights is for --eval-only; to train on from weights use --checkpoint PATH")
    if args.weights and args.refit_last:
        p.error("--refit-last refits a --checkpoint PATH, not --weights")
    # folders are checked here (not as type=: a default that this run does not read must not fail)
    if not args.eval_only or args.refit_last:
        _check_dir(p, "--train-dir", args.train_dir)
    _check_dir(p, "--eval-dir", args.eval_dir)
    return args


NEGATABLE = {"mirror_borders"}  # flags that default to on (argparse.BooleanOptionalAction): off is --no-FLAG


def command_flags(config: dict) -> str:
    """The flags that give ``config`` (a run's recorded ``vars(parse_args(...))``) back when parsed:
    ``True`` as the bare flag, lists as the flag and its values, ``False`` of a :data:`NEGATABLE`
    flag as ``--no-FLAG``, ``None``/``False``/empty lists left out (their defaults)."""
    out = []
    for key, value in config.items():
        flag = "--" + key.replace("_", "-")
        if value is True:
            out.append(flag)
        elif isinstance(value, (list, tuple)):
            out += [flag, *map(str, value)] if value else []
        elif value is False and key in NEGATABLE:
            out.append("--no-" + key.replace("_", "-"))
        elif value not in (None, False):
            out += [flag, str(value)]
    return " ".join(out)


def _check_dir(p: argparse.ArgumentParser, flag: str, folder: str) -> None:
    try:
        existing_dir(folder)
    except argparse.ArgumentTypeError as e:
        flag_error(p, flag, str(e))


def main(argv=None) -> dict:
    args = parse_args(argv)
    if args.eval_only and not args.refit_last:  # refitting a checkpoint stays with the training loop
        from experiments.espcn_eval import eval_only  # imports jax only once the arguments are valid

        return eval_only(args)
    from experiments.espcn_sr_loop import run

    return run(args)


if __name__ == "__main__":
    try:
        main()
    except ValueError as e:
        sys.exit(f"error: {e}")
