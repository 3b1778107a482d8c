"""The demo: what jaxcnn proves, in about two minutes on 2 CPU cores, with no training and no torch.

    python -m experiments.demo [--data ../shared/data] [--out runs/demo]

1. every registry model's parameter count against the published figure;
2. ESPCN x3 with the shipped weights (``espcn_x3_t91``) against bicubic on Set5, per image, + crops;
3. the transposed convolution five ways (vjp, closed form, dense Cᵀ, zero insertion + flipped
   kernel, ``lax.conv_transpose``) and the worked example's 4x4 -> 2x2 conv matrix C;
4. receptive-field growth of a few models, analytic and measured by gradient;
5. the upsampling gallery (nearest, bilinear, bicubic, ESPCN) on a Set5 image;
6. DropBlock / Cutout / stochastic-depth masks: measured drop rates against their targets.

No training run: none reaches a figure worth showing in this time (the report's ``--full`` mode
holds the long studies). Writes ``OUT/summary.json`` and the figures ``OUT/*.png``; exits non-zero
if any figure fails its check (a count mismatch, ESPCN not above bicubic, forms disagreeing,
fields disagreeing, a drop rate outside its tolerance).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from experiments._cli import HelpFormatter, comma_list, existing_dir_path, weights_source
from experiments._paths import DEFAULT_DATA

IDENTITY_TOL = 1e-5  # float32 forms against the float64 closed form
SECTIONS = ("params", "espcn", "transposed", "receptive", "gallery", "masks")


def parse_args(argv=None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(prog="python -m experiments.demo", description=__doc__, formatter_class=HelpFormatter)
    ap.add_argument(
        "--data",
        dest="data_dir",
        type=existing_dir_path,
        default=DEFAULT_DATA,
        help="folder holding sr/Set5 (and cifar10/, mnist/)",
    )
    ap.add_argument("--out", type=Path, default=Path("runs/demo"), help="where summary.json and the figures go")
    ap.add_argument(
        "--espcn-weights",
        default="espcn_x3_t91",
        type=weights_source(),
        help="ESPCN x3 weights: a shipped name or a file",
    )
    ap.add_argument(
        "--skip",
        default="",
        type=comma_list(SECTIONS, allow_empty=True),
        help=f"comma list of sections to leave out ({','.join(SECTIONS)})",
    )
    return ap.parse_args(argv)


def _print_params(rows) -> list[str]:
    print(f"{'model':26s} {'params':>12s} {'published':>12s}")
    for r in rows:
        pub = f"{r['published']:,}" if r["published"] else "-"
        print(
            f"{r['model']:26s} {r['params']:12,d} {pub:>12s} {({True: 'ok', False: 'MISMATCH', None: ''})[r['match']]}"
        )
    return [f"parameter count of {r['model']}" for r in rows if r["match"] is False]


def _print_espcn(s) -> list[str]:
    print(f"Set5 x3 PSNR-Y (dB), weights {s['weights']}:")
    print(f"  {'image':10s} {'bicubic':>8s} {'ESPCN':>8s} {'gain':>6s}")
    for r in s["per_image"] + [{"image": "mean", "psnr_y": s["mean_psnr_y"]}]:
        b, e = r["psnr_y"]["bicubic"], r["psnr_y"]["espcn"]
        print(f"  {r['image']:10s} {b:8.2f} {e:8.2f} {e - b:+6.2f}")
    m = s["mean_psnr_y"]
    return [] if m["espcn"] > m["bicubic"] else ["ESPCN is not above bicubic"]


def _print_transposed(s) -> list[str]:
    print(f"y {tuple(s['y_shape'])}, kernel {tuple(s['kernel_shape'])}, {s['config']} -> {tuple(s['output_shape'])}")
    print("  max |form - closed form| (float64 closed form):")
    for k, v in s["max_abs_diff_vs_closed_form"].items():
        print(f"    {k:16s} {v:.1e}")
    print("  the worked example: 3x3 kernel on 4x4 input -> 2x2; conv(x) = C x with C (4 x 16):")
    for row in s["example_C"]:
        print("    [" + " ".join(f"{v:d}" for v in row) + "]")
    print(f"  y = {s['example_y']}, Cᵀy = {s['example_CTy']}")
    worst = max(max(s["max_abs_diff_vs_closed_form"].values()), max(s["example_max_abs_diff"].values()))
    return [] if worst < IDENTITY_TOL else [f"transposed-conv forms differ by {worst:.1e}"]


def _print_receptive(s) -> list[str]:
    print(f"  {'model':16s} {'input':>6s} {'analytic':>9s} {'measured':>9s}  growth per conv/pool layer")
    for name, r in s.items():
        growth = " ".join(map(str, r["growth"][:12])) + (" ..." if len(r["growth"]) > 12 else "")
        print(f"  {name:16s} {r['input']:6d} {r['analytic']:9d} {r['measured']:9d}  {growth}")
    return [f"receptive field of {n}" for n, r in s.items() if not r["agree"]]


def _print_gallery(s) -> list[str]:
    print(f"Set5 '{s['image']}' x3, PSNR-Y (dB):")
    for k, v in s["psnr_y"].items():
        print(f"  {k:45s} {v:6.2f}")
    return []


def _print_masks(s) -> list[str]:
    print(f"  {'':66s} {'target':>7s} {'measured':>9s} {'tol':>6s}")
    for r in s["rows"]:
        print(
            f"  {r['what']:66s} {r['target']:7.3f} {r['measured']:9.3f} {r['tolerance']:6.3f} {'ok' if r['ok'] else 'OFF'}"
        )
    return [r["what"] for r in s["rows"] if not r["ok"]]


TITLES = {
    "params": "1. Parameter counts against published figures",
    "espcn": "2. ESPCN x3 (shipped weights) against bicubic on Set5",
    "transposed": "3. The transposed convolution five ways",
    "receptive": "4. Receptive fields: analytic (jaxpr) and measured (input-gradient support)",
    "gallery": "5. Upsampling gallery",
    "masks": "6. Regulariser masks: measured drop rates against targets",
}


def main(argv=None) -> dict:
    args = parse_args(argv)
    skip = {s for s in args.skip.split(",") if s}  # names checked by parse_args
    from experiments import demo_sections as ds  # jax is imported only once the arguments are valid

    args.out.mkdir(parents=True, exist_ok=True)
    set5 = args.data_dir / "sr" / "Set5"
    if not set5.is_dir() and not {"espcn", "gallery"} <= skip:
        raise SystemExit(f"no Set5 images at {set5}: pass --data (the folder holding sr/Set5)")
    t0 = time.time()
    summary, failures = {}, []
    run = {
        "params": (lambda: ds.parameter_table(), _print_params),
        "espcn": (lambda: ds.espcn_section(args.data_dir, args.espcn_weights, args.out), _print_espcn),
        "transposed": (ds.transposed_section, _print_transposed),
        "receptive": (lambda: ds.receptive_section(args.out), _print_receptive),
        "gallery": (lambda: ds.gallery_section(args.data_dir, args.espcn_weights, args.out), _print_gallery),
        "masks": (lambda: ds.masks_section(args.out), _print_masks),
    }
    for name in SECTIONS:
        if name in skip:
            continue
        print(f"\n== {TITLES[name]}", flush=True)
        t = time.time()
        summary[name] = run[name][0]()
        failures += run[name][1](summary[name])
        print(f"   ({time.time() - t:.1f} s)", flush=True)
    summary["seconds"] = round(time.time() - t0, 1)
    summary["failures"] = failures
    (args.out / "summary.json").write_text(json.dumps(summary, indent=1, default=str))
    figures = sorted(p.name for p in args.out.glob("*.png"))
    print(
        f"\nwrote {args.out / 'summary.json'} and figures {', '.join(figures)} in {args.out}/ ({summary['seconds']} s)"
    )
    print(
        "the long studies (training runs, hours on CPU): python -m experiments.report --full; "
        "their last recorded tables: python -m experiments.report -> runs/report/REPORT.md"
    )
    if failures:
        raise SystemExit(f"demo checks failed: {failures}")
    return summary


if __name__ == "__main__":
    main()
