"""Run the studies and write ``runs/report/REPORT.md``: figures, tables and an explainer of every
concept, each with the code that produced its numbers.

    python -m experiments.report            # quick (default): a few minutes, no training
    python -m experiments.report --full     # the real runs (hours on 2 CPU cores)
    python -m experiments.report --results classification_study=runs/classification_study

Studies: ``espcn_sr``, ``classification_study``, ``tradeoffs``, ``receptive_fields`` and ``gallery``.
Each writes into ``OUT/<study>/`` unless ``--results STUDY=DIR`` points at the output of an earlier
run, which is then reported instead of rerun.

Quick mode shows only numbers that mean something: ESPCN is the shipped ``espcn_x3_t91`` evaluated
on Set5 (no training), receptive fields and the gallery run as in the demo, and the studies whose
honest result needs hours of training (``classification_study``, ``tradeoffs``) are not rerun: their
last full-run tables are shown, marked as recorded, with the command and date
(``experiments/recorded_full_runs.md``). ``--smoke`` runs every study in its smallest mode (CI: it
checks the code paths; its numbers mean nothing).
"""

from __future__ import annotations

import argparse
import importlib
import inspect
import json
import os
import sys
import time
import traceback
from pathlib import Path

from experiments._cli import HelpFormatter, comma_list, existing_dir_path, weights_source
from experiments._paths import DEFAULT_DATA  # noqa: E402
from experiments.espcn_sr import command_flags
from experiments.markdown import image, percent, table

STUDIES = ("espcn_sr", "classification_study", "tradeoffs", "receptive_fields", "gallery")
LONG_STUDIES = ("classification_study", "tradeoffs")  # only --full runs them; quick shows the recorded tables
RECORDED = Path(__file__).with_name("recorded_full_runs.md")
SHIPPED_ESPCN = "espcn_x3_t91"


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m experiments.report", description=__doc__, formatter_class=HelpFormatter)
    mode = p.add_mutually_exclusive_group()
    mode.add_argument("--quick", action="store_true", help="quick studies (the default)")
    mode.add_argument("--full", action="store_true", help="full studies (long)")
    mode.add_argument("--smoke", action="store_true", help="smallest mode of every study (CI)")
    p.add_argument("--data", dest="data_root", type=existing_dir_path, default=DEFAULT_DATA, help="the data folder")
    p.add_argument("--out", type=Path, default=Path("runs/report"))
    p.add_argument(
        "--results",
        action="append",
        default=[],
        metavar="STUDY=DIR",
        help="report an existing output folder instead of running STUDY (repeatable)",
    )
    p.add_argument(
        "--only", type=comma_list(STUDIES), default=",".join(STUDIES), help="comma list of studies to include"
    )
    p.add_argument(
        "--espcn-weights",
        default=None,
        type=weights_source(),
        help="ESPCN weights for the gallery (default: the shipped espcn_x3_t91; with --full, the "
        "params.npz that the espcn_sr study trained)",
    )
    args = p.parse_args(argv)
    args.mode = "full" if args.full else "smoke" if args.smoke else "quick"
    args.only = [s for s in args.only.split(",") if s]
    existing = {}
    for item in args.results:
        study, sep, folder = item.partition("=")
        if not sep or study not in STUDIES:
            p.error(f"argument --results: expects STUDY=DIR with STUDY in {list(STUDIES)}, got {item!r}")
        if not Path(folder).is_dir():
            p.error(f"argument --results: {folder!r} (for {study}) is not an existing directory")
        existing[study] = Path(folder)
    args.results = existing
    return args


def study_argv(study: str, args, out: Path) -> list[str]:
    """Command-line arguments of each study in the report's mode."""
    data = args.data_root
    if study == "espcn_sr":
        base = [
            "--train-dir",
            str(data / "sr" / "T91"),
            "--eval-dir",
            str(data / "sr" / "Set5"),
            "--scale",
            "3",
            "--out",
            str(out),
            "--no-progress",
        ]
        if args.mode == "smoke":
            return base + ["--quick", "--steps", "2", "--eval-every", "0"]
        return base + (["--eval-only", "--weights", SHIPPED_ESPCN] if args.mode == "quick" else ["--steps", "50000"])
    if study == "receptive_fields":
        return ["--out", str(out)] + ([] if args.mode == "full" else ["--quick"])
    flag = {"quick": ["--quick"], "smoke": ["--smoke"], "full": []}[args.mode]
    extra = ["--data", str(data), "--out", str(out)] + flag
    if study == "gallery":
        trained = args.results.get("espcn_sr", args.out / "espcn_sr") / "params.npz"
        espcn = args.espcn_weights or (str(trained) if args.mode == "full" else SHIPPED_ESPCN)
        extra += ["--espcn-weights", str(espcn)]
    return extra


def recorded_table(study: str) -> str | None:
    """The last full run's table of ``study`` from ``recorded_full_runs.md`` (its ``## study`` part)."""
    if not RECORDED.is_file():
        return None
    parts = RECORDED.read_text().split("\n## ")
    for part in parts[1:]:
        name, _, body = part.partition("\n")
        if name.strip() == study:
            return body.strip() + "\n"
    return None


def run_study(study: str, args) -> dict:
    """Run (or reuse) one study; returns ``{'dir', 'summary', 'seconds', 'command', 'error'}``."""
    if study in args.results:
        folder = args.results[study]
        summary = json.loads((folder / "summary.json").read_text()) if (folder / "summary.json").is_file() else None
        command = (summary or {}).get("command") or f"(existing results in {folder})"
        if isinstance(summary, dict) and "config" in summary and study == "espcn_sr":
            command = "python -m experiments.espcn_sr " + command_flags(summary["config"])
        return {
            "dir": folder,
            "summary": summary,
            "seconds": None,
            "command": command,
            "error": None if summary is not None else f"no summary.json in {folder}",
        }
    if args.mode == "quick" and study in LONG_STUDIES:
        return {
            "dir": args.out / study,
            "summary": None,
            "seconds": None,
            "command": None,
            "error": None,
            "recorded": recorded_table(study) or "*No recorded full run.*\n",
        }
    out = args.out / study
    argv = study_argv(study, args, out)
    command = f"python -m experiments.{study} " + " ".join(argv)
    print(f"\n== {command}", flush=True)
    t0 = time.time()
    try:
        module = importlib.import_module(f"experiments.{study}")
        module.main(argv)
        error = None
    except Exception as e:  # a broken study must not lose the others' results; the report says what failed
        traceback.print_exc()
        error = f"{type(e).__name__}: {e}"
    summary = json.loads((out / "summary.json").read_text()) if (out / "summary.json").is_file() else None
    return {"dir": out, "summary": summary, "seconds": round(time.time() - t0, 1), "command": command, "error": error}


# -- markdown ------------------------------------------------------------------------------


def _source(ref: str) -> str:
    module, _, qual = ref.partition(":")
    obj = importlib.import_module(module)
    for part in qual.split("."):
        obj = getattr(obj, part)
    try:
        src = inspect.getsource(obj)
    except (OSError, TypeError):
        return ""
    path = Path(inspect.getsourcefile(obj)).resolve()
    try:
        path = path.relative_to(Path(__file__).resolve().parents[1])
    except ValueError:
        pass
    return f"<details><summary><code>{qual}</code> ({path})</summary>\n\n```python\n{src}```\n</details>\n"


def concept(name: str) -> str:
    from experiments.report_text import CONCEPTS

    c = CONCEPTS[name]
    code = "".join(_source(ref) for ref in c["code"])
    return f"### {c['title']}\n\n{c['text']}\n\n{code}\n"


def _img(report_dir: Path, folder: Path, name: str, alt: str) -> str:
    path = folder / name
    if not path.is_file():
        return f"*(figure {path} missing)*\n"
    return image(os.path.relpath(path, report_dir), alt)


def _ran(res: dict) -> str:
    """How a section's numbers came about: the command and its time, a failure, or the recorded run."""
    if res.get("recorded"):
        return (
            "**Not rerun in quick mode** (its honest result needs hours of training: `python -m "
            "experiments.report --full`). The last full run, as recorded:\n\n" + res["recorded"]
        )
    took = "" if res["seconds"] is None else f", {res['seconds']} s"
    text = f"Produced by `{res['command']}`{took}.\n"
    if res["error"]:
        text += f"\n**This study failed**: `{res['error']}`\n"
    return text


def _espcn_trained(cfg: dict) -> str:
    """Where the evaluated ESPCN weights came from, as the table's rows name them."""
    if cfg.get("eval_only"):
        weights = cfg.get("weights") or cfg.get("checkpoint")
        return f"weights `{weights}` (evaluated, not trained here)"
    text = f"{cfg.get('steps')} training steps"
    if cfg.get("checkpoint"):
        text += f" from `{cfg['checkpoint']}`"
    return text


def _espcn_tables(s: dict) -> list[str]:
    """Set5 means (bicubic, ESPCN before and after ``--refit-last``), the paper's figure, per-image PSNR."""
    m, cfg = s["mean_psnr_y"], s.get("config", {})
    trained = _espcn_trained(cfg)
    rows = [("bicubic (calibration; published 30.39)", f"{m['bicubic']:.2f}")]
    refit = s.get("refit_last")
    if refit:
        mse = f"training MSE {refit['train_mse_before']:.3e} -> {refit['train_mse_after']:.3e} after it"
        rows.append((f"ESPCN, {trained} (before the refit; {mse})", f"{refit['psnr_y_before']:.2f}"))
    name = f"ESPCN, {trained}"
    if "refit_last" in s:
        name += ", last conv refitted by least squares"
    rows.append((name, f"{m['espcn']:.2f}"))
    out = ["\n", table(["method", "Set5 x3 mean PSNR-Y (dB)"], rows), "\n"]
    if (cfg.get("steps") or 0) < 1000 and not (cfg.get("checkpoint") or cfg.get("eval_only")):
        out.append(
            "The paper reports 32.55 dB for ESPCN trained on T91; the quick mode trains for a few "
            "steps only, so only the bicubic calibration is meaningful there.\n\n"
        )
    else:
        gap = m["espcn"] - 32.55
        out.append(
            f"The paper reports 32.55 dB for ESPCN trained on T91: {gap:+.2f} dB from it (augmentation "
            "and schedule as in the command above; see `experiments/espcn_sr.py`).\n\n"
        )
    per_image = s.get("per_image", [])
    if per_image:
        rows = [(r["image"], f"{r['psnr_y']['bicubic']:.2f}", f"{r['psnr_y']['espcn']:.2f}") for r in per_image]
        out += [table(["image", "bicubic", "ESPCN"], rows), "\n"]
    return out


def section_espcn(res, rd) -> str:
    s = res["summary"] or {}
    md = ["## 1. ESPCN super-resolution x3 (Set5)\n\n", _ran(res)]
    if "mean_psnr_y" in s:
        md += _espcn_tables(s)
    md += [_img(rd, res["dir"], "espcn_sr.png", "ESPCN crops"), "\n", concept("subpixel")]
    if "refit_last" in s:
        md.append(concept("lstsq_refit"))
    return "".join(md)


def section_classification(res, rd) -> str:
    s = res["summary"] or {}
    title = "## 2. Classification: ResNet-20 baseline vs pre-activation, stochastic depth, DropBlock, Cutout\n\n"
    md = [title, _trained_to_accuracy(), _ran(res)]
    if s:
        from experiments.classification_study import markdown_table

        setup = (
            f"Mode `{s.get('mode')}`; model `{s.get('model')}`; batch {s.get('batch_size')}, lr {s.get('lr')} "
            f"cosine, {s.get('optimizer')}; splits {s.get('split')}; crop+flip augmentation on CIFAR only. "
            "Mean ± sample std over seeds of the final test accuracy.\n\n"
        )
        md += ["\n", setup, markdown_table(s["results"]), "\n", _observations(s["results"])]
    md += [_img(rd, res["dir"], "curves.png", "training curves"), "\n"]
    md += [concept(name) for name in ("resnet", "preact", "stochastic_depth", "cutout_dropblock")]
    return "".join(md)


def _trained_to_accuracy() -> str:
    """The recipe run on the whole of CIFAR-10 (recorded: hours of training), before the subset study."""
    table = recorded_table("cifar10_resnet20")
    if table is None:
        return ""
    return (
        "### Trained to a known accuracy: the whole CIFAR-10, 30 epochs\n\n"
        + table
        + "\n### The regulariser study: short runs on a 4,000-image subset\n\n"
    )


def _observations(results: dict) -> str:
    """Differences to the baseline in units of the pooled seed std: what the data do and do not say."""
    lines = []
    for ds, arms in results.items():
        base = arms.get("baseline", {}).get("aggregate")
        if not base:
            continue
        for arm, r in arms.items():
            a = r["aggregate"]
            if arm == "baseline" or a["n"] < 2:
                continue
            diff = 100 * (a["test_accuracy_mean"] - base["test_accuracy_mean"])
            noise = 100 * max(((a["test_accuracy_std"] ** 2 + base["test_accuracy_std"] ** 2) / 2) ** 0.5, 1e-9)
            verdict = "within seed noise" if abs(diff) < 2 * noise else ("better" if diff > 0 else "worse")
            lines.append(f"- {ds}, {arm}: {diff:+.1f} points vs baseline (seed std ≈ {noise:.1f}): {verdict}.")
    if not lines:
        return "*One seed per arm in this mode: no claim about differences.*\n\n"
    return "Against the baseline (a difference counts only beyond twice the seed std):\n\n" + "\n".join(lines) + "\n\n"


def section_tradeoffs(res, rd) -> str:
    s = res["summary"] or {}
    md = ["## 3. Block trade-offs at matched depth and width (CIFAR)\n\n", _ran(res)]
    if s.get("rows"):
        from experiments.tradeoffs import markdown_table

        note = s.get("note", "")
        md += ["\n", markdown_table(s["rows"]), f"\n*{note}.*\n\n", _tradeoff_reading(s["rows"])]
    md += [_img(rd, res["dir"], "tradeoffs.png", "trade-offs"), "\n"]
    md += [concept(name) for name in ("blocks", "resnext", "se", "mbconv")]
    return "".join(md)


def _ratio(a: dict, b: dict, key: str) -> str:
    return f"{a[key] / b[key]:.2f}x"


def _tradeoff_reading(rows: list[dict]) -> str:
    """Bottleneck over basic block at each depth: cost ratios and the two accuracies."""
    by = {(r["block"], r["blocks_per_stage"]): r for r in rows}
    out = []
    for n in sorted({r["blocks_per_stage"] for r in rows}):
        b, k = by.get(("basic", n)), by.get(("bottleneck", n))
        if b and k:
            parts = [
                _ratio(k, b, "params") + " parameters",
                _ratio(k, b, "macs") + " MACs",
                _ratio(k, b, "train_step_ms") + " training-step time",
            ]
            if b["peak_bytes"] and k["peak_bytes"]:
                parts.append(_ratio(k, b, "peak_bytes") + " peak memory")
            parts.append(f"accuracy {percent(k['test_accuracy'])} vs {percent(b['test_accuracy'])} %.")
            out.append(f"- n = {n}: bottleneck / basic = " + ", ".join(parts))
        nb = by.get(("bottleneck_narrow", n))
        if b and nb:
            out.append(
                f"- n = {n}: the narrow bottleneck (same output width as basic) needs "
                f"{_ratio(nb, b, 'macs')} the MACs and {_ratio(nb, b, 'params')} the parameters, "
                f"accuracy {percent(nb['test_accuracy'])} %."
            )
    if not out:
        return ""
    return (
        "Reading the table (one short run per row: accuracy differences of a few points are noise):\n\n"
        + "\n".join(out)
        + "\n\n"
    )


def section_receptive(res, rd) -> str:
    s = res["summary"] or {}
    md = ["## 4a. Receptive fields\n\n", _ran(res)]
    for name, layers in (s.get("growth") or {}).items():
        if layers:
            md.append(f"- {name}: final theoretical receptive field {layers[-1]['size']} px\n")
    md += [
        "\n",
        _img(rd, res["dir"], "growth.png", "receptive-field growth"),
        _img(rd, res["dir"], "erf.png", "effective receptive fields"),
        "\n",
        concept("receptive_field"),
    ]
    return "".join(md)


def _upsampling(up: dict) -> list[str]:
    intro = (
        f"Set5 `{up['image']}` x3, PSNR on Y (3 px shaved); learned upsamplers trained {up['train_steps']} "
        f"Adam steps on {up['train_images']} T91 images.\n\n"
    )
    rows = [(k, f"{v:.2f}") for k, v in up["psnr_y"].items()]
    return ["\n", intro, table(["method", "PSNR-Y (dB)"], rows), "\n"]


def _checkerboard(cb: dict) -> str:
    return (
        "\n**Checkerboard.** A 3x3 stride-2 transposed conv of an all-ones input with an all-ones kernel "
        f"gives values {cb['deconv_k3_s2_overlap_values']} (uneven overlap); 4x4 stride 2 gives "
        f"{cb['deconv_k4_s2_overlap_values']}. Sub-pixel conv cell deviation: random init "
        f"{cb['subpixel_random_block_deviation']:.3f}, ICNR {cb['subpixel_icnr_block_deviation']:.3f}.\n\n"
    )


def _conv_matrix(cm: dict) -> str:
    shape = f"{len(cm['C'])} x {len(cm['C'][0])}"
    return (
        f"\n**The worked example.** Kernel 1..9, 4x4 input: C is {shape}; "
        f"max |Cᵀy − vjp| = {cm['max_abs_CTy_minus_vjp']:.1e}, "
        f"max |Cᵀy − conv_transpose| = {cm['max_abs_CTy_minus_conv_transpose']:.1e}, "
        f"max |Cx − conv(x)| = {cm['max_abs_Cx_minus_conv']:.1e}.\n\n"
    )


def _masks(mk: dict) -> list[str]:
    rows = [(k, f"{v:.3f}") for k, v in mk["dropblock_realised_at_nominal_0.1"].items()]
    return [
        "\n**Masks.** Realised DropBlock drop fraction at nominal rate 0.1 (64 maps x 8 channels):\n\n",
        table(["map, block, gamma rule", "realised"], rows),
        "\n",
    ]


def section_gallery(res, rd) -> str:
    s = res["summary"] or {}
    md = ["## 4b. Upsampling gallery, checkerboards, the conv matrix, regulariser masks\n\n", _ran(res)]
    if s.get("upsampling"):
        md += _upsampling(s["upsampling"])
    md += [_img(rd, res["dir"], "upsampling.png", "upsampling gallery"), "\n"]
    md += [concept(name) for name in ("interpolation", "unpool")]
    if s.get("checkerboard"):
        md.append(_checkerboard(s["checkerboard"]))
    md += [_img(rd, res["dir"], "checkerboard.png", "checkerboard"), "\n"]
    if s.get("conv_matrix"):
        md.append(_conv_matrix(s["conv_matrix"]))
    md += [_img(rd, res["dir"], "conv_matrix.png", "conv matrix"), "\n", concept("transposed")]
    if s.get("masks"):
        md += _masks(s["masks"])
    md += [_img(rd, res["dir"], "masks.png", "Cutout and DropBlock masks"), "\n"]
    return "".join(md)


SECTIONS = {
    "espcn_sr": section_espcn,
    "classification_study": section_classification,
    "tradeoffs": section_tradeoffs,
    "receptive_fields": section_receptive,
    "gallery": section_gallery,
}


def main(argv=None) -> dict:
    args = parse_args(argv)
    from experiments.report_text import INTRO

    args.out.mkdir(parents=True, exist_ok=True)
    t0 = time.time()
    order = [s for s in STUDIES if s in args.only]  # espcn_sr first: the gallery uses its weights
    results = {s: run_study(s, args) for s in order}
    total = round(time.time() - t0, 1)
    cli = " ".join(sys.argv[1:] if argv is None else argv)
    md = [
        f"# jaxcnn: experiments report ({args.mode} mode)\n\n",
        INTRO,
        "\n",
        f"Generated by `python -m experiments.report {cli}` in {total} s.\n\n",
    ]
    failed = [s for s, r in results.items() if r["error"]]
    if failed:
        md.append(f"**Failed studies: {', '.join(failed)}** (see their sections).\n\n")
    for s in order:
        md.append(SECTIONS[s](results[s], args.out) + "\n")
    (args.out / "REPORT.md").write_text("".join(md))
    index = {
        s: {"dir": str(r["dir"]), "seconds": r["seconds"], "error": r["error"], "command": r["command"]}
        for s, r in results.items()
    }
    (args.out / "summary.json").write_text(
        json.dumps({"mode": args.mode, "seconds": total, "studies": index}, indent=1)
    )
    print(f"\nwrote {args.out / 'REPORT.md'} in {total} s" + (f"; FAILED: {failed}" if failed else ""))
    if failed:
        raise SystemExit(f"studies failed: {failed}")
    return index


if __name__ == "__main__":
    main()
