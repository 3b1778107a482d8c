"""Side-by-side training benchmarks; every figure is a ratio measured in this one run.

  throughput  CPU train images/s, JAX vs PyTorch eager (channels_last), CIFAR ResNet-18, batch 128,
              for the default conv and each opt-in conv
              (ResNet(conv=jaxcnn.xla_cpu.CONV_LOWERINGS['xla' | 'canonical' | 'gemm' | 'onednn']))
  models      train step time of MobileNetV2, ResNeXt-50 32x4d and ResNet-50 (--models-size px,
              --models-batch): oneDNN conv vs XLA's conv vs PyTorch eager, side by side
  convgrad    weight-gradient time per ResNet-18 conv shape: XLA's conv vs jaxcnn's GEMM form
  compile     compile time of resnet152 / resnet50, unrolled and with scan stages
  remat       peak temp memory (XLA memory_analysis) and step time of a resnet50 step, remat vs not

``python benchmarks/bench_train.py [throughput|models|convgrad|compile|remat|all] [--steps N] [--batch N]``
(``--convs xla,onednn`` picks the JAX convs of ``throughput``).
"""

from __future__ import annotations

import argparse
import os
import time

import jax
import jax.numpy as jnp
import numpy as np

from jaxcnn.models import create_model
from jaxcnn.train import state as st
from jaxcnn.train import steps


def _abstract_state(model, shape):
    tx = st.make_optimizer(0.1)
    return jax.eval_shape(lambda: st.create_train_state(model, jax.random.key(0), jnp.zeros((1,) + shape), tx))


def _batch(n, shape, classes=10):
    rng = np.random.default_rng(0)
    return {
        "image": rng.normal(size=(n,) + shape).astype(np.float32),
        "label": rng.integers(0, classes, n).astype(np.int32),
    }


def _time_steps(fn, n):
    fn()  # warm-up (and compile)
    t = time.perf_counter()
    for _ in range(n):
        fn()
    return (time.perf_counter() - t) / n


def _interleaved(runs: dict, n_steps: int) -> dict:
    """Median seconds per call of each runner, the runners taking turns step by step (rotated order),
    so that load from other processes hits them alike; one warm-up (compile) call each first."""
    import statistics

    for run in runs.values():
        run()
    names, times = list(runs), {k: [] for k in runs}
    for i in range(n_steps):
        for k in names[i % len(names) :] + names[: i % len(names)]:
            t = time.perf_counter()
            runs[k]()
            times[k].append(time.perf_counter() - t)
    return {k: statistics.median(v) for k, v in times.items()}


def jax_runner(batch, size=32, conv_grad=None, dtype="float32"):
    from jaxcnn.xla_cpu import CONV_LOWERINGS

    conv = None if conv_grad is None else CONV_LOWERINGS[conv_grad]  # None: the backend's default conv
    model = create_model("resnet18", stem="cifar", num_classes=10, conv=conv)
    state = st.create_train_state(
        model, jax.random.key(0), jnp.zeros((1, size, size, 3)), st.make_optimizer(0.1, nesterov=False)
    )
    b = jax.device_put(_batch(batch, (size, size, 3)))
    compute_dtype = None if dtype == "float32" else jnp.dtype(dtype)  # bf16 compute, fp32 master params
    step = jax.jit(steps.make_train_step(compute_dtype=compute_dtype), donate_argnums=0)
    box = [state]

    def run():
        box[0], m = step(box[0], b)
        m["loss"].block_until_ready()

    return run


def torch_runner(batch, size=32, dtype="float32"):
    import torch
    import torchvision

    torch.set_num_threads(len(os.sched_getaffinity(0)))  # the cores this process may use (taskset)
    model = torchvision.models.resnet18(num_classes=10)
    model.conv1 = torch.nn.Conv2d(3, 64, 3, 1, 1, bias=False)  # CIFAR stem, as stem='cifar'
    model.maxpool = torch.nn.Identity()
    model = model.to(memory_format=torch.channels_last).train()
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, weight_decay=5e-4)
    b = _batch(batch, (3, size, size))
    x = torch.from_numpy(b["image"]).contiguous(memory_format=torch.channels_last)
    y = torch.from_numpy(b["label"]).long()

    def run():
        opt.zero_grad(set_to_none=True)
        with torch.autocast("cpu", dtype=getattr(torch, dtype), enabled=dtype != "float32"):
            loss = torch.nn.functional.cross_entropy(model(x), y)
        loss.backward()
        opt.step()

    return run


def throughput(args):
    """torch and each JAX conv take turns step by step; medians, so the ratios share the machine's load."""
    runs = {"torch": torch_runner(args.batch, dtype=args.dtype)}
    for conv in args.convs.split(","):
        runs[conv] = jax_runner(args.batch, conv_grad=None if conv == "default" else conv, dtype=args.dtype)
    t = _interleaved(runs, args.steps)
    for conv in args.convs.split(","):
        print(
            f"throughput  CIFAR ResNet-18 b{args.batch} {args.dtype} on {len(os.sched_getaffinity(0))} cores, conv={conv}: "
            f"JAX {args.batch / t[conv]:.1f} img/s, torch {args.batch / t['torch']:.1f} img/s, "
            f"JAX/torch = {t['torch'] / t[conv]:.2f}x  (XLA_FLAGS={os.environ.get('XLA_FLAGS', '')!r})",
            flush=True,
        )
    if "onednn" in t and "xla" in t:
        print(f"throughput  step time onednn/xla = {t['onednn'] / t['xla']:.2f}x (median of {args.steps} interleaved)")


_TORCH_MODELS = {"mobilenet_v2": "mobilenet_v2", "resnext50_32x4d": "resnext50_32x4d", "resnet50": "resnet50"}


def _jax_model_runner(name, conv, batch, size):
    from jaxcnn.xla_cpu import CONV_LOWERINGS

    model = create_model(name, conv=CONV_LOWERINGS[conv])
    state = st.create_train_state(
        model, jax.random.key(0), jnp.zeros((1, size, size, 3)), st.make_optimizer(0.1, nesterov=False)
    )
    b = jax.device_put(_batch(batch, (size, size, 3), 1000))
    step = jax.jit(steps.make_train_step(), donate_argnums=0)
    box = [state]

    def run():
        box[0], m = step(box[0], b)
        m["loss"].block_until_ready()

    return run


def _torch_model_runner(name, batch, size):
    import torch
    import torchvision

    torch.set_num_threads(len(os.sched_getaffinity(0)))  # the cores this process may use (taskset)
    model = getattr(torchvision.models, _TORCH_MODELS[name])(num_classes=1000)
    model = model.to(memory_format=torch.channels_last).train()
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    b = _batch(batch, (3, size, size), 1000)
    x = torch.from_numpy(b["image"]).contiguous(memory_format=torch.channels_last)
    y = torch.from_numpy(b["label"]).long()

    def run():
        opt.zero_grad(set_to_none=True)
        torch.nn.functional.cross_entropy(model(x), y).backward()
        opt.step()

    return run


def models(args):
    """One train step of each model, torch and the JAX convs of ``--models-convs``, interleaved step by
    step in this one process."""
    b, size = args.models_batch, args.models_size
    convs = args.models_convs.split(",")
    for name in args.models.split(","):
        runs = {"torch": _torch_model_runner(name, b, size)}
        for conv in convs:
            runs[conv] = _jax_model_runner(name, conv, b, size)
        t = _interleaved(runs, args.steps)
        line = f"models      {name} {size}px b{b} step: " + ", ".join(f"{k} {v:.2f}s" for k, v in t.items())
        if "onednn" in t and "xla" in t:
            line += f"; onednn/xla = {t['onednn'] / t['xla']:.2f}x"
        if "onednn" in t:
            line += f", JAX+oneDNN/torch speed = {t['torch'] / t['onednn']:.2f}x"
        print(line, flush=True)


def conv_grad_layers(args):
    """Weight gradient of each CIFAR ResNet-18 conv shape: XLA's transpose rule vs the GEMM form."""
    from jax import lax

    from jaxcnn.xla_cpu import weight_grad_gemm

    dn = ("NHWC", "HWIO", "NHWC")
    rng = np.random.default_rng(0)
    for size, cin, cout, stride, k in [
        (32, 3, 64, 1, 3),
        (32, 64, 64, 1, 3),
        (32, 64, 128, 2, 3),
        (32, 64, 128, 2, 1),
        (16, 128, 128, 1, 3),
        (16, 128, 256, 2, 3),
        (8, 256, 256, 1, 3),
        (8, 256, 512, 2, 3),
        (4, 512, 512, 1, 3),
    ]:
        pad = ((k // 2, k // 2),) * 2
        x = jnp.asarray(rng.normal(size=(args.batch, size, size, cin)), jnp.float32)
        w = jnp.asarray(rng.normal(size=(k, k, cin, cout)) * 0.05, jnp.float32)
        f = lambda x, w: lax.conv_general_dilated(x, w, (stride,) * 2, pad, dimension_numbers=dn)  # noqa: E731
        g = jax.jit(f)(x, w)
        xla = jax.jit(lambda x, w, g: jax.vjp(lambda w: f(x, w), w)[1](g)[0])
        gemm = jax.jit(lambda x, g: weight_grad_gemm(x, g, (k, k), (stride,) * 2, pad, (1, 1)))
        t_x = _time_steps(lambda: xla(x, w, g).block_until_ready(), args.steps)
        t_g = _time_steps(lambda: gemm(x, g).block_until_ready(), args.steps)
        print(
            f"convgrad    {size}x{size}x{cin}->{cout} k{k} s{stride} b{args.batch}: dW xla {t_x * 1e3:.0f} ms, "
            f"gemm {t_g * 1e3:.0f} ms, xla/gemm = {t_x / t_g:.2f}x",
            flush=True,
        )


def _compile_s(model, shape, batch=2):
    state = _abstract_state(model, shape)
    b = jax.tree.map(lambda a: jax.ShapeDtypeStruct(a.shape, a.dtype), _batch(batch, shape, 1000))
    t = time.perf_counter()
    compiled = jax.jit(steps.make_train_step()).lower(state, b).compile()
    return time.perf_counter() - t, compiled


def compile_times(args):
    shape = (64, 64, 3)  # compile time hardly depends on image size
    res = {}
    for scan in (False, True):
        for name in ("resnet50", "resnet152"):
            res[name, scan] = _compile_s(create_model(name, scan_stages=scan), shape)[0]
        r = res["resnet152", scan] / res["resnet50", scan]
        print(
            f"compile     {'scan' if scan else 'unrolled':8s} resnet50 {res['resnet50', scan]:.1f}s, "
            f"resnet152 {res['resnet152', scan]:.1f}s, ratio 152/50 = {r:.2f}x"
        )
    print(f"compile     resnet152 scan / unrolled = {res['resnet152', True] / res['resnet152', False]:.2f}x")


def remat(args):
    """Plain vs per-block remat vs remat on scanned stages (``jaxcnn.xla_cpu.block_remat``: plain ``nn.remat``
    saves nothing on XLA:CPU, whose CSE merges the recomputation back into the forward pass)."""
    shape, batch = (args.size, args.size, 3), args.remat_batch
    out = {}
    variants = {
        "plain": dict(),
        "remat": dict(remat=True),
        "scan+remat": dict(scan_stages=True, remat=True),
        "scan": dict(scan_stages=True),
    }
    for label, kw in variants.items():
        model = create_model("resnet50", **kw)
        state = st.create_train_state(model, jax.random.key(0), jnp.zeros((1,) + shape), st.make_optimizer(0.1))
        b = _batch(batch, shape, 1000)
        # Compile against this very state: the static apply_fn/tx must be the same objects.
        compiled = jax.jit(steps.make_train_step(), donate_argnums=0).lower(state, b).compile()
        mem = compiled.memory_analysis()
        box = [state]

        def run():
            box[0], m = compiled(box[0], b)
            m["loss"].block_until_ready()

        out[label] = (mem.temp_size_in_bytes, _time_steps(run, max(1, args.steps // 2)))
        print(
            f"remat       resnet50 {args.size}px b{batch} {label}: temp {mem.temp_size_in_bytes / 2**20:.0f} MiB, "
            f"step {out[label][1]:.2f}s"
        )
    for label in list(variants)[1:]:
        print(
            f"remat       {label}/plain: memory {out[label][0] / out['plain'][0]:.2f}x, "
            f"step time {out[label][1] / out['plain'][1]:.2f}x"
        )


def control_flow(args):
    """Convs inside ``lax.cond`` (batch-mode stochastic depth) and a scan body (``scan_stages``): the
    canonical-gradient conv (the CPU choice there without oneDNN) vs oneDNN's (the default)."""
    from jaxcnn.xla_cpu import CanonicalGradConv, OneDNNConv

    b = jax.device_put(_batch(args.batch, (32, 32, 3)))
    for label, kw in (
        ("batch-mode SD 0.2", dict(drop_path_rate=0.2, drop_path_mode="batch")),
        ("scan_stages", dict(scan_stages=True)),
    ):
        runs = {}
        for name, conv in (("canonical", CanonicalGradConv), ("onednn", OneDNNConv)):
            model = create_model("cifar_resnet20", conv=conv, **kw)
            state = st.create_train_state(model, jax.random.key(0), b["image"][:1], st.make_optimizer(0.1))
            step = jax.jit(steps.make_train_step(), donate_argnums=0)
            box = [state]

            def run(step=step, box=box):
                box[0], m = step(
                    box[0],
                    b,
                )
                m["loss"].block_until_ready()

            runs[name] = run
        t = _interleaved(runs, args.steps)
        print(
            f"controlflow cifar_resnet20 b{args.batch} {label}: canonical {t['canonical']:.3f}s, "
            f"onednn {t['onednn']:.3f}s; "
            f"onednn/canonical = {t['onednn'] / t['canonical']:.2f}x",
            flush=True,
        )


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument(
        "what",
        nargs="?",
        default="all",
        choices=("throughput", "models", "convgrad", "compile", "remat", "controlflow", "all"),
    )
    p.add_argument("--convs", default="default,xla,onednn", help="JAX convs of `throughput`, comma-separated")
    p.add_argument("--models", default=",".join(_TORCH_MODELS), help="models of `models`, comma-separated")
    p.add_argument("--models-size", type=int, default=224)
    p.add_argument("--models-batch", type=int, default=16)
    p.add_argument("--models-convs", default="xla,onednn", help="JAX convs of `models`, comma-separated")
    p.add_argument("--steps", type=int, default=3)
    p.add_argument("--batch", type=int, default=128)
    p.add_argument(
        "--dtype",
        choices=("float32", "bfloat16"),
        default="float32",
        help="compute dtype of `throughput` (bfloat16: JAX's compute_dtype from float32 params, torch's autocast)",
    )
    p.add_argument("--size", type=int, default=224, help="image size of the remat benchmark")
    p.add_argument("--remat-batch", type=int, default=8)
    args = p.parse_args()
    for name, fn in (
        ("throughput", throughput),
        ("models", models),
        ("convgrad", conv_grad_layers),
        ("compile", compile_times),
        ("remat", remat),
        ("controlflow", control_flow),
    ):
        if args.what in (name, "all"):
            fn(args)


if __name__ == "__main__":
    main()
