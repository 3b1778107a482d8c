"""``python -m experiments.espcn_sr --eval-only --weights NAME_OR_PATH``: evaluate ESPCN weights, no training.

The weights are a checkpoint shipped in jaxcnn (``jaxcnn.list_pretrained()``, e.g. ``espcn_x3_t91``),
a jaxcnn ``.safetensors``/``.msgpack`` file (``python -m jaxcnn.convert``), or a study's ``params.npz``.
Writes ``OUT/summary.json`` with per-image and mean PSNR-Y of ESPCN and of bicubic (the study's
protocol, ``experiments.espcn_sr_loop.PROTOCOL``) and the crops figure ``OUT/espcn_sr.png``.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path


def load_espcn(weights: str, scale: int):
    """``(model, params)`` of ESPCN weights; a scale other than the weights' raises a ValueError naming both."""
    from jaxcnn.pretrained import list_pretrained, pretrained

    if weights not in list_pretrained() and not Path(weights).is_file():
        raise ValueError(
            f"weights {weights} does not exist: neither a file nor a shipped checkpoint {list_pretrained()}"
        )
    try:
        model, variables = pretrained(weights, arch="espcn", scale=scale)
    except ValueError as e:
        raise ValueError(f"checkpoint {weights!r} does not fit the model ESPCN x{scale}: {e}") from e
    return model, variables["params"]


def eval_only(args) -> dict:
    """Evaluate ``args.weights`` (or ``args.checkpoint``) on ``args.eval_dir``; write ``summary.json``."""
    from experiments import sr_data
    from experiments.espcn_sr_loop import PROTOCOL, evaluate, save_figure
    from jaxcnn.pretrained import resolve_source

    weights = args.weights or args.checkpoint
    model, params = load_espcn(weights, args.scale)
    path = resolve_source(weights)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    pairs = sr_data.load_pairs(args.eval_dir, args.scale, args.resize)
    if not pairs:
        raise ValueError(f"--eval-dir {args.eval_dir!r} holds no images")
    config = dict(vars(args), checkpoint=weights)  # the report names eval-only results by `checkpoint`
    summary = {
        "config": config,
        "weights": {"source": weights, "file": str(path), "sha256": hashlib.sha256(path.read_bytes()).hexdigest()},
        "protocol": PROTOCOL,
    }
    summary.update(evaluate(model, params, pairs, args.scale, args.resize, args.context))
    (out / "summary.json").write_text(json.dumps(summary, indent=2))
    if not getattr(args, "no_figure", False):
        save_figure(out / "espcn_sr.png", model, params, pairs, summary, args)
    m = summary["mean_psnr_y"]
    print(
        f"{Path(args.eval_dir).name} x{args.scale}: ESPCN {m['espcn']:.2f} dB, bicubic {m['bicubic']:.2f} dB "
        f"({weights}) -> {out}"
    )
    return summary
