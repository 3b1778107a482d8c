"""Block trade-offs at matched depth and width on CIFAR: basic vs bottleneck vs ResNeXt vs SE vs MBConv.

    python -m experiments.tradeoffs [--quick | --smoke] [--steps 150]

Every network is the CIFAR ResNet-20 layout (3x3 stem to 16 channels, three stages of n blocks,
strides 1/2/2, stage widths 16/32/64, global pool, linear head); only the block changes:

* basic       -- two 3x3 convs (cifar_resnet20, option-A shortcuts);
* bottleneck  -- 1x1 (w) -> 3x3 (w) -> 1x1 (4w): same inner width w, 4x wider outputs (the ResNet
                 paper's ResNet-34 -> ResNet-50 swap: about the same cost per block);
* bottleneck_narrow -- the same block with w/4 inside, so outputs match the basic net (16/32/64);
* resnext     -- bottleneck, 3x3 grouped into 4 paths of width w/2 (inner 2w);
* se          -- bottleneck + squeeze-and-excitation (reduction 16) on the branch output;
* mbconv      -- MobileNetV2 inverted residual (1x1 expand x6, 3x3 depthwise, linear 1x1).

Measured per network: parameters and MACs (``jaxcnn.analysis.complexity``, from the jaxpr),
CPU latency (batch-1 inference, median of repeats; training step at the study's batch, median
over the run), peak memory of the compiled training step from XLA ``memory_analysis()``
(temporaries + arguments + outputs - aliased), and test accuracy after a short training on the
CIFAR-10 subset (``jaxcnn.train.fit``, through ``experiments.classification_study.train_run``).
``--full`` (the default without --quick) adds the deep pair (n = 9: 56-layer basic vs 83-layer
bottleneck). The ResNet-family weight gradients are computed by GEMMs (``--conv-grad gemm``, the
default; ``jaxcnn.xla_cpu.GemmGradConv``): XLA:CPU's own grouped-conv weight gradient
(``--conv-grad xla``) makes the ResNeXt row's training step ~4x slower than its MACs warrant; the
GEMMs' column buffers raise the peak-memory column (basic n=3: 475 vs 148 MiB).
Writes ``runs/tradeoffs/{summary.json,table.md,tradeoffs.png}``.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

from experiments._cli import HelpFormatter, comma_ints, existing_dir_path, nonnegative_int, positive_int
from experiments._paths import DEFAULT_DATA  # noqa: E402
from experiments.markdown import percent, table


# name -> (kind, options); "resnet" options go to create_model("cifar_resnet20", ...).
def configs(n: int) -> dict:
    sizes = (n,) * 3
    return {
        "basic": ("resnet", dict(stage_sizes=sizes)),
        "bottleneck": ("resnet", dict(stage_sizes=sizes, block="bottleneck")),
        "bottleneck_narrow": ("resnet", dict(stage_sizes=sizes, block="bottleneck", widths=(4, 8, 16))),
        "resnext": ("resnet", dict(stage_sizes=sizes, block="bottleneck", groups=4, base_width=32)),
        "se": ("resnet", dict(stage_sizes=sizes, block="bottleneck", se_reduction=16)),
        "mbconv": ("mbconv", dict(stage_sizes=sizes)),
    }


def build(kind: str, kw: dict, num_classes: int = 10):
    """The study's network ``kind`` (``'resnet'``: ``create_model('cifar_resnet20', **kw)``; ``'mbconv'``:
    :class:`experiments.cifar_mbconv.CifarMBConv`), imported here so that ``--help`` needs no jax."""
    if kind == "resnet":
        from jaxcnn.models import create_model

        return create_model("cifar_resnet20", num_classes=num_classes, **kw)
    from experiments.cifar_mbconv import CifarMBConv

    return CifarMBConv(num_classes=num_classes, **kw)


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="python -m experiments.tradeoffs", description=__doc__, formatter_class=HelpFormatter
    )
    p.add_argument("--data", dest="data_root", type=existing_dir_path, default=DEFAULT_DATA, help="the data folder")
    p.add_argument("--out", type=Path, default=Path("runs/tradeoffs"))
    p.add_argument("--steps", type=nonnegative_int, default=150, help="training steps for the accuracy column")
    p.add_argument("--batch-size", type=positive_int, default=64)
    p.add_argument(
        "--depths", type=comma_ints, default="3,9", help="blocks per stage: 3 = 20-layer basic net, 9 = 56-layer"
    )
    p.add_argument(
        "--warmup",
        type=nonnegative_int,
        default=0,
        help="linear learning-rate warm-up steps (the bottleneck nets spike at lr 0.1 without)",
    )
    p.add_argument(
        "--conv-grad",
        choices=("xla", "canonical", "gemm"),
        default="gemm",
        help="conv gradient lowering of the ResNet-family nets (ResNet(conv=jaxcnn.xla_cpu.CONV_LOWERINGS[...])); with 'xla' "
        "ResNeXt's grouped weight gradients are ~5x slower on XLA:CPU (default: gemm)",
    )
    p.add_argument("--repeats", type=positive_int, default=20, help="timed batch-1 inference calls")
    p.add_argument("--quick", action="store_true", help="n = 3 only, 20 training steps")
    p.add_argument("--smoke", action="store_true", help="CI: n = 1, no training (accuracy n/a), batch 8")
    p.add_argument("--no-progress", action="store_true")
    args = p.parse_args(argv)
    if args.quick:
        args.steps, args.depths, args.repeats = 20, "3", 10
    if args.smoke:
        args.steps, args.depths, args.repeats, args.batch_size = 0, "1", 2, 8
    args.depths = [int(d) for d in args.depths.split(",") if d]
    if args.warmup > args.steps:
        p.error(f"argument --warmup: must be in [0, --steps], got {args.warmup} with --steps {args.steps}")
    return args


def peak_training_memory(step_fn, state, batch) -> dict:
    """XLA's memory analysis of the compiled training step (bytes)."""
    mem = step_fn.lower(state, batch).compile().memory_analysis()
    if mem is None:
        return {"peak_bytes": None, "temp_bytes": None}
    peak = mem.temp_size_in_bytes + mem.argument_size_in_bytes + mem.output_size_in_bytes - mem.alias_size_in_bytes
    return {"peak_bytes": int(peak), "temp_bytes": int(mem.temp_size_in_bytes)}


def inference_latency_ms(model, variables, repeats: int) -> float:
    import jax
    import numpy as np

    fn = jax.jit(lambda v, x: model.apply(v, x, train=False))
    x = np.random.default_rng(0).standard_normal((1, 32, 32, 3)).astype(np.float32)
    fn(variables, x).block_until_ready()
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn(variables, x).block_until_ready()
        times.append(time.perf_counter() - t)
    return 1e3 * float(np.median(times))


def measure(name: str, n: int, kind: str, kw: dict, ds, args, bar) -> dict:
    import jax
    import jax.numpy as jnp
    import numpy as np

    from experiments.classification_study import train_run
    from jaxcnn.analysis.complexity import model_complexity
    from jaxcnn.train import create_train_state, data, make_optimizer, make_train_step
    from jaxcnn.xla_cpu import CONV_LOWERINGS

    model = build(kind, dict(kw, conv=CONV_LOWERINGS[args.conv_grad]) if kind == "resnet" else kw, ds.num_classes)
    cx = model_complexity(model, (1, 32, 32, 3))
    state = create_train_state(model, jax.random.key(0), jnp.zeros((1, 32, 32, 3)), make_optimizer(0.1))
    step_fn = jax.jit(make_train_step(), donate_argnums=0)  # the step fit runs (donated state)
    mem = peak_training_memory(step_fn, state, data.train_batch(ds, args.batch_size, 0, 0))
    lat = inference_latency_ms(model, state.variables, args.repeats)
    run = {"test_accuracy": None, "train_loss": [float("nan")], "step_s": [float("nan")]}
    if args.steps > 0:
        run = train_run(ds, model, 0, args.steps, args.batch_size, 0.1, True, None, 1, bar, warmup=args.warmup)
    else:
        bar.update()
    step_ms = 1e3 * float(np.median(run["step_s"][1:] or run["step_s"]))  # the first step compiles
    layers = {"basic": 2, "bottleneck": 3, "bottleneck_narrow": 3, "resnext": 3, "se": 3, "mbconv": 3}[name] * 3 * n + 2
    return {
        "block": name,
        "blocks_per_stage": n,
        "layers": layers,
        "params": cx.params,
        "macs": cx.macs,
        "infer_ms_b1": lat,
        "train_step_ms": step_ms,
        **mem,
        "test_accuracy": run["test_accuracy"],
        "train_loss_last": float(np.mean(run["train_loss"][-10:])),
        "steps": args.steps,
        "batch_size": args.batch_size,
    }


def markdown_table(rows: list[dict]) -> str:
    """One line per measured network; the batch and step count of the first row head their columns."""
    header = [
        "block",
        "blocks/stage",
        "layers",
        "params",
        "MMACs",
        "infer ms (b=1)",
        f"train step ms (b={rows[0]['batch_size']})",
        "peak train MiB",
        f"test acc % ({rows[0]['steps']} steps)",
    ]
    cells = []
    for r in rows:
        peak = "n/a" if r["peak_bytes"] is None else f"{r['peak_bytes'] / 2**20:.0f}"
        cells.append(
            (
                r["block"],
                r["blocks_per_stage"],
                r["layers"],
                f"{r['params']:,}",
                f"{r['macs'] / 1e6:.1f}",
                f"{r['infer_ms_b1']:.2f}",
                f"{r['train_step_ms']:.0f}",
                peak,
                percent(r["test_accuracy"]),
            )
        )
    return table(header, cells)


def plot(rows: list[dict], path: Path):
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(14, 4))
    for r in rows:
        label = f"{r['block']} n={r['blocks_per_stage']}"
        if r["test_accuracy"] is not None:
            axes[0].scatter(r["macs"] / 1e6, 100 * r["test_accuracy"])
            axes[0].annotate(label, (r["macs"] / 1e6, 100 * r["test_accuracy"]), fontsize=7)
        axes[1].scatter(r["params"] / 1e3, r["train_step_ms"])
        axes[1].annotate(label, (r["params"] / 1e3, r["train_step_ms"]), fontsize=7)
        if r["peak_bytes"] is not None:
            axes[2].scatter(r["macs"] / 1e6, r["peak_bytes"] / 2**20)
            axes[2].annotate(label, (r["macs"] / 1e6, r["peak_bytes"] / 2**20), fontsize=7)
    axes[0].set(
        xlabel="MMACs (one 32x32 image)", ylabel="test accuracy %", title=f"accuracy after {rows[0]['steps']} steps"
    )
    axes[1].set(xlabel="parameters (thousands)", ylabel="ms", title=f"CPU training step, batch {rows[0]['batch_size']}")
    axes[2].set(xlabel="MMACs", ylabel="MiB", title="XLA peak memory of the training step")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv=None) -> dict:
    args = parse_args(argv)
    command = "python -m experiments.tradeoffs " + " ".join(sys.argv[1:] if argv is None else argv)
    from experiments.classification_study import enable_compile_cache

    enable_compile_cache()
    from tqdm import tqdm

    from jaxcnn.train import data

    args.out.mkdir(parents=True, exist_ok=True)
    ds = data.load_dataset("cifar10", args.data_root)
    plan = [
        (name, n, kind, kw)
        for n in args.depths
        for name, (kind, kw) in configs(n).items()
        if n == args.depths[0] or name in ("basic", "bottleneck")
    ]
    t0, rows = time.time(), []
    with tqdm(total=len(plan) * max(args.steps, 1), desc="trade-offs", disable=args.no_progress) as bar:
        for name, n, kind, kw in plan:
            bar.set_description(f"{name} n={n}")
            rows.append(measure(name, n, kind, kw, ds, args, bar))
    summary = {
        "rows": rows,
        "wall_s": round(time.time() - t0, 1),
        "device": "CPU",
        "command": command,
        "conv_grad": args.conv_grad,
        "warmup": args.warmup,
        "mode": "smoke" if args.smoke else "quick" if args.quick else "full",
        "note": "latencies on a shared machine: compare rows of one run, not across runs",
    }
    table = markdown_table(rows)
    (args.out / "summary.json").write_text(json.dumps(summary, indent=1))
    (args.out / "table.md").write_text(table)
    plot(rows, args.out / "tradeoffs.png")
    print(table)
    print(f"wrote {args.out}/summary.json, table.md, tradeoffs.png in {summary['wall_s']} s")
    return summary


if __name__ == "__main__":
    main()
