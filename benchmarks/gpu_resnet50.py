"""ResNet-50 training throughput on one accelerator: bf16 compute, fp32 params, synthetic data.

Prints images/s and model FLOPs utilisation (MFU = XLA's counted FLOPs of one train step x
steps/s / the chip's dense bf16 peak). Anchor: NVIDIA's PyTorch ResNet-50 with AMP on one A100,
2,470 img/s. ``--smoke`` runs a tiny configuration on CPU to check the script itself.

``python benchmarks/gpu_resnet50.py [--batch 256] [--steps 50] [--smoke]``
"""

from __future__ import annotations

import argparse
import time

import jax
import jax.numpy as jnp
import numpy as np

from jaxcnn.models import create_model
from jaxcnn.train import state as st
from jaxcnn.train import steps

# Dense bf16 peak FLOP/s by device kind (substring match); unknown devices report no MFU.
PEAK_BF16 = {
    "H200": 989e12,
    "H100": 989e12,
    "A100": 312e12,
    "L4": 121e12,
    "V100": 125e12,
    "TPU v4": 275e12,
    "TPU v5e": 197e12,
    "TPU v5p": 459e12,
}


def peak_flops(device) -> float | None:
    kind = getattr(device, "device_kind", "")
    return next((v for k, v in PEAK_BF16.items() if k.lower() in kind.lower()), None)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--batch", type=int, default=256)
    p.add_argument("--size", type=int, default=224)
    p.add_argument("--steps", type=int, default=50)
    p.add_argument("--remat", action="store_true")
    p.add_argument("--scan", action="store_true")
    p.add_argument("--smoke", action="store_true", help="tiny run (batch 4, 64 px, 2 steps) for CPU")
    args = p.parse_args(argv)
    if args.smoke:
        args.batch, args.size, args.steps = 4, 64, 2
    device = jax.devices()[0]
    model = create_model("resnet50", remat=args.remat, scan_stages=args.scan)
    shape = (args.size, args.size, 3)
    state = st.create_train_state(model, jax.random.key(0), jnp.zeros((1,) + shape), st.make_optimizer(0.1))
    rng = np.random.default_rng(0)
    batch = jax.device_put(
        {
            "image": rng.normal(size=(args.batch,) + shape).astype(np.float32),
            "label": rng.integers(0, 1000, args.batch).astype(np.int32),
        }
    )
    t = time.perf_counter()
    step = jax.jit(steps.make_train_step(compute_dtype=jnp.bfloat16), donate_argnums=0).lower(state, batch).compile()
    compile_s = time.perf_counter() - t
    cost = step.cost_analysis()
    flops = float((cost[0] if isinstance(cost, (list, tuple)) else cost).get("flops", 0.0))
    state, m = step(state, batch)  # warm-up
    m["loss"].block_until_ready()
    t = time.perf_counter()
    for _ in range(args.steps):
        state, m = step(state, batch)
    m["loss"].block_until_ready()
    dt = (time.perf_counter() - t) / args.steps
    ips, peak = args.batch / dt, peak_flops(device)
    mfu = flops / dt / peak if peak and flops else None
    print(
        f"device {device.device_kind} | resnet50 bf16 b{args.batch} {args.size}px | compile {compile_s:.1f}s | "
        f"{ips:.0f} img/s ({ips / 2470:.2f}x the A100 PyTorch AMP anchor) | step {dt * 1e3:.1f} ms | "
        f"{flops / 1e9:.1f} GFLOP/step | MFU {'n/a' if mfu is None else f'{mfu:.1%}'} | loss {float(m['loss']):.3f}"
    )
    return ips, mfu


if __name__ == "__main__":
    main()
