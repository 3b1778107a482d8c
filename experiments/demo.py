"""Quick demo: every registered model's parameter count checked against the published figure,
one model's named feature maps on real CIFAR-10 images from ``../shared/data``, then the quick
report (``experiments.report``: ESPCN, classification, trade-offs, receptive fields, gallery;
about 5 minutes on 2 cores) in ``runs/report/REPORT.md``.

    python -m experiments.demo [--data-dir ../shared/data] [--out runs/demo] [--no-report] [--steps N]

``--steps N`` adds a standalone N-step CIFAR ResNet-20 run of ``experiments.classify``.
Writes ``runs/demo/summary.json``.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

from jaxcnn import count_params
from jaxcnn.models import create_model, default_input_shape, list_models

# torchvision model cards, the ResNet paper's CIFAR section, SE-ResNet and timm resnet50d.
PUBLISHED = {
    "resnet18": 11_689_512, "resnet34": 21_797_672, "resnet50": 25_557_032, "resnet101": 44_549_160,
    "resnet152": 60_192_808, "resnext50_32x4d": 25_028_904, "resnext101_32x8d": 88_791_336,
    "wide_resnet50_2": 68_883_240, "wide_resnet101_2": 126_886_696, "mobilenet_v2": 3_504_872,
    "se_resnet50": 28_088_024, "resnet50d": 25_576_264, "cifar_resnet20": 269_722,
    "cifar_resnet32": 464_154, "cifar_resnet44": 658_586, "cifar_resnet56": 853_018,
    "cifar_resnet110": 1_727_962, "espcn": 22_729,  # ESPCN: 5*5*64+64 + 3*3*64*32+32 + 3*3*32*9+9
}

from experiments._paths import DEFAULT_DATA  # noqa: E402


def parameter_table() -> list[dict]:
    rows = []
    for name in list_models():
        model = create_model(name)
        shapes = jax.eval_shape(lambda: model.init(jax.random.key(0), jnp.zeros(default_input_shape(name))))
        n = count_params(shapes)
        pub = PUBLISHED.get(name)
        rows.append({"model": name, "params": n, "published": pub, "match": None if pub is None else n == pub})
    return rows


def load_cifar_images(data_dir: Path, count: int = 16) -> tuple[np.ndarray, list[str]]:
    from PIL import Image

    root = data_dir / "cifar10"
    lines = (root / "labels.csv").read_text().splitlines()[1 : count + 1]
    paths = [root / line.split(",")[0] for line in lines]
    imgs = np.stack([np.asarray(Image.open(p).convert("RGB"), np.float32) / 255.0 for p in paths])
    return imgs, [line.split(",")[-1] for line in lines]


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data-dir", type=Path, default=DEFAULT_DATA, help="folder holding cifar10/, mnist/, sr/")
    ap.add_argument("--out", type=Path, default=Path("runs/demo"))
    ap.add_argument("--steps", type=int, default=0, help="steps of a standalone CIFAR ResNet-20 run (0 skips it)")
    ap.add_argument("--no-report", action="store_true", help="skip the quick report")
    ap.add_argument("--report-out", type=Path, default=Path("runs/report"))
    args = ap.parse_args(argv)
    t0 = time.time()

    rows = parameter_table()
    print(f"{'model':26s} {'params':>12s} {'published':>12s}")
    for r in rows:
        pub = f"{r['published']:,}" if r["published"] else "-"
        flag = {True: "ok", False: "MISMATCH", None: ""}[r["match"]]
        print(f"{r['model']:26s} {r['params']:12,d} {pub:>12s} {flag}")

    summary = {"models": rows}
    if (args.data_dir / "cifar10").is_dir():
        images, labels = load_cifar_images(args.data_dir)
        model = create_model("cifar_resnet20")
        variables = model.init(jax.random.key(0), jnp.asarray(images))
        feats = model.apply(variables, jnp.asarray(images), method="features")
        print(f"\ncifar_resnet20 feature maps on {len(images)} real CIFAR-10 images:")
        for k, v in feats.items():
            print(f"  {k:8s} {tuple(v.shape)}")
        summary["features"] = {k: list(v.shape) for k, v in feats.items()}
        if args.steps > 0:
            from experiments import classify

            print(f"\ntraining cifar_resnet20 for {args.steps} steps on the CIFAR-10 subset:")
            summary["classify"] = classify.main([
                "--model", "cifar_resnet20", "--dataset", "cifar10", "--data-root", str(args.data_dir),
                "--steps", str(args.steps), "--batch-size", "64", "--lr", "0.1", "--out", str(args.out / "classify"),
            ])
        if not args.no_report:
            from experiments import report

            print("\nquick report (python -m experiments.report):")
            report.main(["--data-root", str(args.data_dir), "--out", str(args.report_out)])
            summary["report"] = str(args.report_out / "REPORT.md")
    else:
        print(f"\n(no data at {args.data_dir}; pass --data-dir)")
    summary["seconds"] = round(time.time() - t0, 1)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "summary.json").write_text(json.dumps(summary, indent=1, default=str))
    print(f"\nwrote {args.out / 'summary.json'} in {summary['seconds']} s")
    if any(r["match"] is False for r in rows):
        raise SystemExit("parameter count mismatch")


if __name__ == "__main__":
    main()
