"""conv_transpose (jax.vjp of a conv) vs lax.conv_transpose vs oneDNN vs torch conv_transpose2d, on CPU.

The oneDNN form is ``jaxcnn.xla_cpu.onednn_conv_transpose`` (oneDNN's backward-data as an XLA
custom call); its column is left out when the native part is not built.

All three run side by side in one process, interleaved rep by rep so that load from other
processes hits them alike; the report is median-time ratios. The reference forms of
``jaxcnn.identities`` (closed form, dense matrix, zero insertion) are timed on a small case to
say how slow they are -- they are proofs, not fast paths.

    python benchmarks/bench_conv_transpose.py [--reps 30] [--no-references]
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import time

import jax
import jax.numpy as jnp
import numpy as np

from jaxcnn.identities import (
    conv_transpose_closed_form,
    conv_transpose_lax,
    conv_transpose_matrix,
    conv_transpose_zero_insertion,
)
from jaxcnn.upsample import conv_transpose
from jaxcnn.xla_cpu import onednn_available
from jaxcnn.xla_cpu.transposed import onednn_conv_transpose

# (name, y shape NHWC, kernel hw, out channels, stride, padding, output_padding)
CASES = [
    ("dcgan 16->32, k4 s2 p1", (8, 16, 16, 256), (4, 4), 128, 2, 1, 0),
    ("unet-ish 32->64, k3 s2 p1 op1", (4, 32, 32, 128), (3, 3), 64, 2, 1, 1),
    ("unet up-conv 64->128, k2 s2", (4, 64, 64, 64), (2, 2), 32, 2, 0, 0),
    ("bottleneck 8->16, k4 s2 p1", (16, 8, 8, 512), (4, 4), 256, 2, 1, 0),
]


def _timed(fn, *args) -> float:
    t = time.perf_counter()
    out = fn(*args)
    if hasattr(out, "block_until_ready"):
        out.block_until_ready()
    return time.perf_counter() - t


def _interleaved(fns: dict, args: dict, reps: int, stat=statistics.median) -> dict[str, float]:
    """Seconds per call (``stat`` over reps); candidates take turns, in a rotated order every rep."""
    times = {k: [] for k in fns}
    names = list(fns)
    for rep in range(reps):
        for k in names[rep % len(names) :] + names[: rep % len(names)]:
            times[k].append(_timed(fns[k], *args[k]))
    return {k: stat(v) for k, v in times.items()}


def _hlo_ops(fn, *args) -> list[str]:
    """Compiled HLO instructions without names and metadata, to compare two programs."""
    text = fn.lower(*args).compile().as_text()
    lines = [
        re.sub(r"%[\w.\-]+", "%", re.sub(r", metadata=\{[^}]*\}", "", ln)).strip()
        for ln in text.splitlines()
        if " = " in ln and "ENTRY" not in ln
    ]
    return sorted(ln.split(" = ", 1)[1] for ln in lines)


def bench_fast_paths(reps: int) -> None:
    try:
        import torch
    except ImportError:
        torch = None
    print("median ms per call; vjp/lax also from the fastest rep (min), which load disturbs least")
    print(
        f"{'case':34s} {'vjp ms':>8s} {'lax ms':>8s} {'torch ms':>9s} {'vjp/lax':>8s} {'(min)':>6s} {'vjp/torch':>9s}"
        f" {'onednn ms':>9s} {'onednn/vjp':>10s} {'onednn/torch':>12s}"
    )
    ratios, same_hlo, onednn_ratios = [], [], []
    for name, y_shape, k, c_out, s, p, op in CASES:
        rng = np.random.default_rng(0)
        y = rng.standard_normal(y_shape).astype(np.float32)
        kernel = (rng.standard_normal((*k, c_out, y_shape[-1])) * 0.05).astype(np.float32)
        vjp = jax.jit(lambda a, b: conv_transpose(a, b, s, p, op))
        lax_form = jax.jit(lambda a, b: conv_transpose_lax(a, b, s, p, op))
        fns = {"vjp": vjp, "lax": lax_form}
        yj, kj = jnp.asarray(y), jnp.asarray(kernel)
        args = {"vjp": (yj, kj), "lax": (yj, kj)}
        np.testing.assert_allclose(vjp(yj, kj), lax_form(yj, kj), atol=1e-4)  # also compiles both
        if onednn_available():
            fns["onednn"] = jax.jit(lambda a, b: onednn_conv_transpose(a, b, s, p, op))
            args["onednn"] = (yj, kj)
            np.testing.assert_allclose(fns["onednn"](yj, kj), lax_form(yj, kj), atol=1e-4)
        same_hlo.append(_hlo_ops(vjp, yj, kj) == _hlo_ops(lax_form, yj, kj))
        if torch is not None:
            y_t = torch.from_numpy(y).permute(0, 3, 1, 2).contiguous()
            w_t = torch.from_numpy(kernel.transpose(3, 2, 0, 1)).contiguous()

            def torch_fn(a, b):
                with torch.no_grad():
                    return torch.nn.functional.conv_transpose2d(a, b, None, s, p, op)

            torch_fn(y_t, w_t)
            fns["torch"], args["torch"] = torch_fn, (y_t, w_t)
        med = _interleaved(fns, args, reps, stat=lambda v: v)  # raw lists
        best = {k: min(v) for k, v in med.items()}  # least disturbed by other processes
        med = {k: statistics.median(v) for k, v in med.items()}
        r_lax = med["vjp"] / med["lax"]
        ratios.append((r_lax, best["vjp"] / best["lax"]))
        t_ms = f"{med['torch'] * 1e3:9.2f}" if "torch" in med else f"{'n/a':>9s}"
        r_t = f"{med['vjp'] / med['torch']:9.2f}" if "torch" in med else f"{'n/a':>9s}"
        o_ms, o_vjp, o_t = (f"{'n/a':>9s}", f"{'n/a':>10s}", f"{'n/a':>12s}")
        if "onednn" in med:
            onednn_ratios.append(med["onednn"] / med["vjp"])
            o_ms, o_vjp = f"{med['onednn'] * 1e3:9.2f}", f"{onednn_ratios[-1]:10.3f}"
            if "torch" in med:
                o_t = f"{med['onednn'] / med['torch']:12.2f}"
        print(
            f"{name:34s} {med['vjp'] * 1e3:8.2f} {med['lax'] * 1e3:8.2f} {t_ms} {r_lax:8.3f} {ratios[-1][1]:6.3f}"
            f" {r_t} {o_ms} {o_vjp} {o_t}"
        )
    gm = np.exp(np.mean(np.log(np.array(ratios)), axis=0))
    print(f"geometric mean vjp/lax: {gm[0]:.3f} median, {gm[1]:.3f} min (goal 1.00 +- 0.05)")
    print(f"vjp and lax.conv_transpose compile to the same HLO (names aside): {same_hlo}")
    if onednn_ratios:
        print(f"geometric mean onednn/vjp time: {np.exp(np.mean(np.log(onednn_ratios))):.3f}")


def bench_references(reps: int) -> None:
    """The proof forms on one small case, as multiples of the (jitted) vjp."""
    rng = np.random.default_rng(1)
    y = rng.standard_normal((2, 8, 8, 16)).astype(np.float32)
    kernel = rng.standard_normal((3, 3, 8, 16)).astype(np.float32)
    args = (2, 1, 1)
    vjp = jax.jit(lambda a, b: conv_transpose(a, b, *args))
    yj, kj = jnp.asarray(y), jnp.asarray(kernel)
    vjp(yj, kj).block_until_ready()
    forms = {
        "vjp (jit)": lambda: vjp(yj, kj),
        "closed form (numpy)": lambda: conv_transpose_closed_form(y, kernel, *args),
        "zero insertion (numpy)": lambda: conv_transpose_zero_insertion(y, kernel, *args),
        "dense matrix C^T y (incl. building C)": lambda: conv_transpose_matrix(y, kernel, *args),
    }
    forms["dense matrix C^T y (incl. building C)"]()  # compile the jacobian once
    med = _interleaved({k: (lambda f: lambda: f())(f) for k, f in forms.items()}, {k: () for k in forms}, reps)
    print(f"\nreference forms, y (2, 8, 8, 16) -> (2, 16, 16, 8), k3 s2 p1 op1 (C is {8 * 8 * 16} x {16 * 16 * 8}):")
    for k, v in med.items():
        print(f"  {k:40s} {v * 1e3:9.3f} ms   {v / med['vjp (jit)']:8.1f}x vjp")
    # decoder size: C would be (32*32*128) x (64*64*64) = 3.4e10 entries, so no matrix form here
    name, y_shape, k, c_out, s, p, op = CASES[1]
    y = rng.standard_normal(y_shape).astype(np.float32)
    kernel = rng.standard_normal((*k, c_out, y_shape[-1])).astype(np.float32)
    vjp = jax.jit(lambda a, b: conv_transpose(a, b, s, p, op))
    yj, kj = jnp.asarray(y), jnp.asarray(kernel)
    vjp(yj, kj).block_until_ready()
    big = {
        "vjp (jit)": lambda: vjp(yj, kj),
        "closed form (numpy)": lambda: conv_transpose_closed_form(y, kernel, s, p, op),
        "zero insertion (numpy)": lambda: conv_transpose_zero_insertion(y, kernel, s, p, op),
    }
    med = _interleaved(big, {k: () for k in big}, 3)
    print(f"reference forms at decoder size, {name} (dense C infeasible: 3.4e10 entries):")
    for k, v in med.items():
        print(f"  {k:40s} {v * 1e3:9.3f} ms   {v / med['vjp (jit)']:8.1f}x vjp")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reps", type=int, default=30)
    ap.add_argument("--no-references", action="store_true", help="skip the (slow) reference forms")
    a = ap.parse_args()
    print(
        f"jax {jax.__version__} on {jax.devices()[0].platform}, {os.cpu_count()} cpus, "
        f"load average {os.getloadavg()[0]:.1f}"
    )
    try:
        import torch

        print(f"torch {torch.__version__}, {torch.get_num_threads()} threads")
    except ImportError:
        print("torch not installed: its column is skipped")
    bench_fast_paths(a.reps)
    if not a.no_references:
        bench_references(max(5, a.reps // 3))


if __name__ == "__main__":
    main()
