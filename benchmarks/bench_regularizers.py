"""Regularizer speed, as ratios measured side by side in one run (never timed tests).

  sd         CIFAR ResNet-110 train step: paper stochastic depth (p_L = 0.5, batch mode,
             nn.cond skip) vs none with the same conv lowering (canonical gradients on CPU). Huang et al. report ~25% less training time; goal >= 1.25x.
  dropblock  the same train step (or --dropblock-model) with DropBlock (bs 3, rate 0.1) after every block of the
             last two stages vs none; goal <= 1.10x.
  fractions  realised DropBlock drop fractions, paper gamma vs solved ('exact') gamma.

Variants are timed in interleaved rounds (A, B, A, B, ...) so a busy machine slows both
alike; each figure is the median step time. Every step draws a new dropout key
(``fold_in(rng, step)``), so the skipped blocks differ from step to step.

``python benchmarks/bench_regularizers.py [sd|dropblock|fractions|all] [--batch 128] [--rounds 6]``
"""

from __future__ import annotations

import argparse
import time

import jax
import jax.numpy as jnp
import numpy as np

from jaxcnn.models import create_model
from jaxcnn.regularizers import drop_block, dropblock_gamma
from jaxcnn.train import state as st
from jaxcnn.train import steps
from jaxcnn.xla_cpu import default_conv


def _stepper(model, batch_size):
    state = st.create_train_state(model, jax.random.key(0), jnp.zeros((1, 32, 32, 3)), st.make_optimizer(0.1))
    rng = np.random.default_rng(0)
    batch = jax.device_put(
        {
            "image": rng.normal(size=(batch_size, 32, 32, 3)).astype(np.float32),
            "label": rng.integers(0, 10, batch_size).astype(np.int32),
        }
    )
    step = jax.jit(steps.make_train_step(), donate_argnums=0)
    box = [state]

    def run():
        box[0], m = step(box[0], batch)
        m["loss"].block_until_ready()

    t = time.perf_counter()
    run()  # compile + first step
    return run, time.perf_counter() - t


def side_by_side(models: dict, batch_size: int, rounds: int) -> dict:
    runners, times = {}, {k: [] for k in models}
    for name, model in models.items():
        runners[name], first = _stepper(model, batch_size)
        print(f"  {name}: compile + first step {first:.1f} s", flush=True)
    for r in range(rounds):
        for name, run in runners.items():
            t = time.perf_counter()
            run()
            times[name].append(time.perf_counter() - t)
        print(f"  round {r + 1}: " + ", ".join(f"{k} {v[-1]:.2f} s" for k, v in times.items()), flush=True)
    return {k: float(np.median(v)) for k, v in times.items()}


def bench_sd(args):
    """SD against a baseline with the *same* conv lowering: the SD blocks run in ``nn.cond`` and
    get ``default_conv(control_flow=True)`` (canonical gradients on XLA:CPU), so the baseline uses
    that conv too; a baseline on the plain conv is shown as well, which measures the lowering."""
    same = default_conv(control_flow=True)
    sd = create_model(args.sd_model, drop_path_rate=0.5)
    variants = {"none": create_model(args.sd_model, conv=same), "sd": sd}
    if same is not default_conv():
        variants["none, plain conv"] = create_model(args.sd_model)
    p = 1.0 - np.array(sd.drop_rates())
    print(
        f"{args.sd_model} stochastic depth, batch {args.batch}, conv {same.__name__} in both: mean survival "
        f"{np.mean(p):.3f} (ideal speed-up of the blocks alone 1/{np.mean(p):.3f} = {1 / np.mean(p):.2f}x)"
    )
    t = side_by_side(variants, args.batch, args.rounds)
    print(
        f"  step time none {t['none']:.3f} s, sd {t['sd']:.3f} s -> speed-up {t['none'] / t['sd']:.2f}x (goal >= 1.25x)"
    )
    if "none, plain conv" in t:
        print(
            f"  baseline on the plain conv {t['none, plain conv']:.3f} s (its ratio to the same-conv baseline "
            f"{t['none'] / t['none, plain conv']:.2f}x is the lowering, not the skip)"
        )


def bench_dropblock(args):
    print(f"{args.dropblock_model} DropBlock (bs 3, rate 0.1, stages 2-3), batch {args.batch}")
    t = side_by_side(
        {
            "none": create_model(args.dropblock_model),
            "dropblock": create_model(
                args.dropblock_model, drop_block_rate=0.1, drop_block_size=3, drop_block_stages=(2, 3)
            ),
        },
        args.batch,
        args.rounds,
    )
    print(
        f"  step time none {t['none']:.3f} s, dropblock {t['dropblock']:.3f} s "
        f"-> overhead {t['dropblock'] / t['none']:.3f}x (goal <= 1.10x)"
    )


def bench_fractions(args):
    print("DropBlock realised drop fraction (valid seeds, per-channel masks), paper vs solved gamma")
    for h, bs, rate in [(56, 7, 0.2), (14, 3, 0.3), (7, 7, 0.1), (7, 3, 0.1), (28, 5, 0.15)]:
        x = jnp.ones((max(8, 2_000_000 // (h * h * 8)), h, h, 8))
        row = [f"  {h}x{h} bs {bs} target {rate:.2f}:"]
        for rule in ("paper", "exact"):
            g = float(dropblock_gamma(rate, h, h, bs, rule))
            frac = 1.0 - float(jnp.mean(drop_block(jax.random.key(h), x, rate, bs, gamma_rule=rule, normalize=False)))
            row.append(f"{rule} gamma {g:.5f} -> {frac:.4f}")
        print("  ".join(row))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("what", nargs="?", default="all", choices=["sd", "dropblock", "fractions", "all"])
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--rounds", type=int, default=6)
    ap.add_argument("--sd-model", default="cifar_resnet110", help="cifar_resnet20 compiles in a fraction")
    ap.add_argument("--dropblock-model", default="cifar_resnet110", help="e.g. cifar_resnet56 to compile faster")
    args = ap.parse_args()
    print(f"devices: {jax.devices()}")
    for name, fn in (("fractions", bench_fractions), ("sd", bench_sd), ("dropblock", bench_dropblock)):
        if args.what in (name, "all"):
            fn(args)


if __name__ == "__main__":
    main()
