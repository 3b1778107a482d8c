"""One prepared accelerator check: correctness against the CPU and side-by-side speed, in one call.

Correctness (each row ``{name, err, tol, ok}``; the accelerator against the CPU reference, same
weights and inputs, float32 at ``precision='highest'`` unless a row says bf16; train-mode rows
against a float64 CPU reference, see ``TOL``):

  forms          the transposed convolution five ways (vjp, lax, dense matrix, closed form, zero
                 insertion, plus torch in float64), the JAX forms on the accelerator
  models         eval output, eval-mode and train-mode loss gradients of resnet50,
                 resnext50_32x4d, se_resnet50, mobilenet_v2, preact_resnet18 and ESPCN
  regularizers   three train steps of a CIFAR ResNet with batch-mode stochastic depth and DropBlock
  bf16           resnet50 output, eval-mode gradients and train loss in bf16 compute vs float32

Throughput (each row ``{name, jax, torch, jax_over_torch, unit}``, measured side by side in this
run on the same device; torch eager with AMP bf16 and channels_last, the same batch):

  resnet50       train images/s at batch 256, 224 px, bf16 compute; model FLOPs utilisation;
                 peak memory (XLA's estimate vs torch's max_memory_allocated)
  mobilenet_v2   the same (depthwise convs are a known weak spot of XLA on GPU)
  conv_transpose jaxcnn's ``conv_transpose`` (a vjp) and ``lax.conv_transpose`` vs torch's
                 ``conv_transpose2d``, bf16, calls/s
  stochastic_depth  CIFAR ResNet-110 train-step speed-up with p_L = 0.5 over none (no torch side)
  remat          resnet50 peak memory and step time with ``remat=True`` over without

Units: rates (img/s, calls/s, x speed-up, MFU) are better higher, so ``jax_over_torch > 1`` means
JAX is ahead; for memory rows (GiB) lower is better. torch is optional: without it (or without
CUDA in it) its column is null and the row carries a ``note`` saying why.

A time budget (``--budget-s``) guards the whole run: an item that would start past it is
skipped with a note, and ``results.json`` is rewritten after every item, so a run cut short
still leaves what it measured. ``--smoke`` runs every code path on the CPU with tiny shapes and
reduced-depth models (named ``[tiny]`` in the rows) in well under a minute.

    PYTHONPATH=. python benchmarks/accelerator_check.py --out runs/accelerator_check
    PYTHONPATH=. python benchmarks/accelerator_check.py --smoke --out /tmp/acc
"""

from __future__ import annotations

import os

# torch shares the GPU with JAX in this process: JAX must not grab 75% of its memory up front.
os.environ.setdefault("XLA_PYTHON_CLIENT_PREALLOCATE", "false")

import argparse  # noqa: E402
import contextlib  # noqa: E402
import dataclasses  # noqa: E402
import datetime  # noqa: E402
import json  # noqa: E402
import math  # noqa: E402
import platform  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
import traceback  # noqa: E402
from collections.abc import Callable  # noqa: E402
from concurrent.futures import ThreadPoolExecutor  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
import optax  # noqa: E402

from jaxcnn import count_params  # noqa: E402
from jaxcnn.analysis.complexity import model_complexity  # noqa: E402
from jaxcnn.identities import conv_transpose_forms, conv_transpose_lax  # noqa: E402
from jaxcnn.models import create_model  # noqa: E402
from jaxcnn.train import create_train_state, make_optimizer, make_train_step  # noqa: E402
from jaxcnn.upsample import conv_transpose  # noqa: E402

SECTIONS = (
    "forms",
    "models",
    "regularizers",
    "bf16",
    "resnet50",
    "mobilenet_v2",
    "conv_transpose",
    "stochastic_depth",
    "remat",
)

# Dense bf16 peak FLOP/s by device kind (vendor datasheets; substring match, first hit wins).
# H200/H100 SXM: 989 TFLOP/s. A large bf16 matmul reaches about 80% of that (benchmarks/README.md),
# so MFU against the datasheet tops out near 0.8.
PEAK_BF16 = {
    "H200": 989e12,
    "H100": 989e12,
    "A100": 312e12,
    "L4": 121e12,
    "V100": 125e12,
    "TPU v4": 275e12,
    "TPU v5 lite": 197e12,
    "TPU v5e": 197e12,
    "TPU v5p": 459e12,
    "TPU v6": 918e12,
}

# Tolerances on relative L2 errors ||a - b|| / ||b|| over all leaves of a tree. float32 at
# precision='highest' differs from the CPU only by summation order: eval outputs and eval-mode
# gradients agree to ~1e-6. Train-mode BatchNorm at init is chaotic (fp32 vs fp64 gradients on the
# CPU itself: 1.7e-2 for resnet50, 2.2e-3 for mobilenet_v2 at 128 px, batch 4), so those rows are
# judged against a float64 CPU reference: tol = max(floor, 4 x the CPU float32's own error).
# Measured on the CPU at the device shapes (resnet50, 96 px, batch 4): fp32 vs fp64 output 5.8e-7,
# eval-mode grads 4.6e-7, train-mode grads 2.4e-2; bf16 vs fp32 output 5.5e-3, eval-mode grads
# 5.8e-2 (8-bit mantissa, ~50 layers each way), train loss 1.8e-3.
TOL = {
    "forms": 1e-5,
    "logits": 1e-4,
    "eval_grads": 1e-3,
    "train_grads_floor": 1e-3,
    "train_steps_floor": 1e-4,
    "bf16_logits": 5e-2,
    "bf16_grads": 0.15,
    "bf16_loss": 1e-2,
}

# Transposed-conv speed cases: (name, y NHWC, kernel hw, C_out, stride, padding, output_padding).
CONVT_CASES = [
    ("dcgan 16->32 k4 s2 p1", (64, 16, 16, 256), (4, 4), 128, 2, 1, 0),
    ("unet 32->64 k3 s2 p1 op1", (32, 32, 32, 128), (3, 3), 64, 2, 1, 1),
    ("unet up 64->128 k2 s2", (32, 64, 64, 64), (2, 2), 32, 2, 0, 0),
    ("bottleneck 8->16 k4 s2 p1", (128, 8, 8, 512), (4, 4), 256, 2, 1, 0),
]
# Five-form identity cases (small: the dense matrix C is built): (y NHWC, kernel HWIO, conv args).
FORMS_CASES = [
    ((2, 6, 6, 8), (3, 3, 4, 8), dict(stride=2, padding=1, output_padding=1)),
    ((2, 5, 7, 6), (4, 3, 6, 6), dict(stride=(2, 1), padding=(1, 0), dilation=(1, 2), groups=2)),
]


@dataclasses.dataclass(frozen=True)
class Config:
    """Shapes and repetition counts; ``full()`` for the device, ``smoke()`` for the CPU."""

    smoke: bool
    corr_size: int = 96  # correctness inputs: NHWC (corr_batch, corr_size, corr_size, 3)
    corr_batch: int = 4
    batch: int = 256  # throughput batch (resnet50, mobilenet_v2)
    size: int = 224
    steps: int = 20  # timed steps per round
    rounds: int = 3  # interleaved jax/torch rounds; the median round counts
    sd_model: str = "cifar_resnet110"
    sd_batch: int = 128
    convt_calls: int = 50
    convt_cases: tuple = tuple(CONVT_CASES)

    @classmethod
    def full(cls) -> Config:
        return cls(smoke=False)

    @classmethod
    def smoke_cfg(cls) -> Config:
        tiny = tuple(
            (n, (1,) + y[1:3] + (max(4, y[3] // 16),), k, max(2, c // 16), s, p, op)
            for n, y, k, c, s, p, op in CONVT_CASES
        )
        return cls(
            smoke=True,
            corr_size=64,
            corr_batch=4,
            batch=2,
            size=32,
            steps=1,
            rounds=1,
            sd_model="cifar_resnet20",
            sd_batch=4,
            convt_calls=5,
            convt_cases=tiny,
        )


# Reduced overrides for --smoke: the same blocks and code paths, one block per stage, narrow.
_TINY_MBV2 = dict(settings=((1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 1, 2)), width_mult=0.25)
_TINY_WIDTHS = (16, 32, 64, 128)  # ResNeXt's 32 groups of base width 4 still get one channel each


def build_model(name: str, smoke: bool, **kw):
    """``create_model(name, **kw)``; under --smoke one block per stage and narrow (same block types)."""
    if smoke and name != "espcn":
        if name == "mobilenet_v2":
            kw = {**_TINY_MBV2, **kw}
        else:  # the ResNet family: keep the number of stages, one narrow block each
            n = len(create_model(name).stage_sizes)
            kw = {"stage_sizes": (1,) * n, "widths": _TINY_WIDTHS[:n] if n == 4 else (8, 16, 32)[:n], **kw}
    return create_model(name, **kw)


def label(name: str, smoke: bool) -> str:
    return f"{name}[tiny]" if smoke and name != "espcn" else name


# -- results, budget, printing ---------------------------------------------------------------


class Run:
    """Collects rows, enforces the time budget, rewrites ``results.json`` after every item."""

    def __init__(self, cfg: Config, out: Path | None, budget_s: float, acc, cpu, workers: int, meta: dict):
        self.cfg, self.out, self.budget_s, self.acc, self.cpu, self.workers = cfg, out, budget_s, acc, cpu, workers
        self.t0 = time.perf_counter()
        self.correctness: list[dict] = []
        self.throughput: list[dict] = []
        self.meta = meta
        self.cache: dict = {}
        self.section_s: dict[str, float] = {}

    def elapsed(self) -> float:
        return time.perf_counter() - self.t0

    def check(self, name: str, err: float | None, tol: float, **extra) -> dict:
        ok = None if err is None else bool(np.isfinite(err) and err <= tol)
        row = {"name": name, "err": None if err is None else float(err), "tol": tol, "ok": ok, **extra}
        self.correctness.append(row)
        print(
            f"  [check] {name}: err {_fmt(err)} tol {tol:g} -> {'ok' if ok else 'FAIL' if ok is False else 'skipped'}"
            + (f" ({extra['note']})" if "note" in extra else ""),
            flush=True,
        )
        self.save()
        return row

    def speed(self, name: str, jax_v: float | None, torch_v: float | None, unit: str, **extra) -> dict:
        ratio = jax_v / torch_v if jax_v is not None and torch_v else None
        row = {
            "name": name,
            "jax": _num(jax_v),
            "torch": _num(torch_v),
            "jax_over_torch": _num(ratio),
            "unit": unit,
            **extra,
        }
        self.throughput.append(row)
        print(
            f"  [speed] {name}: jax {_fmt(jax_v)} torch {_fmt(torch_v)} {unit} -> jax/torch {_fmt(ratio)}"
            + (f" ({extra['note']})" if "note" in extra else ""),
            flush=True,
        )
        self.save()
        return row

    def save(self) -> None:
        if self.out is None:
            return
        self.out.mkdir(parents=True, exist_ok=True)
        doc = {
            "meta": {**self.meta, "elapsed_s": round(self.elapsed(), 1), "section_s": self.section_s},
            "correctness": self.correctness,
            "throughput": self.throughput,
        }
        tmp = self.out / "results.json.tmp"
        tmp.write_text(json.dumps(doc, indent=1, allow_nan=False, default=str))
        tmp.replace(self.out / "results.json")


def _num(v):
    return None if v is None or not math.isfinite(v) else float(v)


def _fmt(v) -> str:
    if v is None:
        return "-"
    if isinstance(v, float) and not math.isfinite(v):
        return str(v)
    return f"{v:.3g}" if abs(v) < 1e4 else f"{v:.0f}"


def print_table(run: Run) -> None:
    print("\n## correctness (accelerator vs CPU reference; err = relative L2 unless noted)")
    print(f"| {'check':54s} | {'err':>9s} | {'tol':>7s} | ok |")
    print(f"|{'-' * 56}|{'-' * 11}|{'-' * 9}|----|")
    for r in run.correctness:
        ok = {True: "yes", False: "NO", None: "-"}[r["ok"]]
        print(f"| {r['name']:54s} | {_fmt(r['err']):>9s} | {r['tol']:>7g} | {ok:>3s}|")
    print("\n## throughput (side by side in this run; jax/torch > 1: JAX ahead, except memory rows)")
    print(f"| {'measure':54s} | {'jax':>9s} | {'torch':>9s} | {'jax/torch':>9s} | unit |")
    print(f"|{'-' * 56}|{'-' * 11}|{'-' * 11}|{'-' * 11}|------|")
    for r in run.throughput:
        print(
            f"| {r['name']:54s} | {_fmt(r['jax']):>9s} | {_fmt(r['torch']):>9s} | {_fmt(r['jax_over_torch']):>9s} | {r['unit']} |"
        )
    notes = [(r["name"], r["note"]) for r in run.correctness + run.throughput if "note" in r]
    if notes:
        print("\nnotes:")
        for n, t in notes:
            print(f"  {n}: {t}")


# -- helpers ---------------------------------------------------------------------------------


def rel_err(a, b) -> float:
    """||a - b|| / ||b|| over all leaves of two pytrees (float64 arithmetic); inf on a shape mismatch."""
    la, lb = jax.tree.leaves(a), jax.tree.leaves(b)
    if len(la) != len(lb):
        return float("inf")
    num = den = 0.0
    for x, y in zip(la, lb):
        x, y = np.asarray(x, np.float64), np.asarray(y, np.float64)
        if x.shape != y.shape:
            return float("inf")
        num += float(np.sum((x - y) ** 2))
        den += float(np.sum(y**2))
    return math.sqrt(num) / math.sqrt(den) if den > 0 else math.sqrt(num)


def compile_all(lowered: dict, workers: int) -> dict:
    """Compile ``{key: Lowered}`` concurrently (XLA releases the GIL while it compiles)."""
    with ThreadPoolExecutor(max(1, workers)) as pool:
        futures = {k: pool.submit(v.compile) for k, v in lowered.items()}
        return {k: f.result() for k, f in futures.items()}


def _cast(tree, dtype):
    return jax.tree.map(lambda a: a.astype(dtype) if jnp.issubdtype(a.dtype, jnp.floating) else a, tree)


def _peak_bytes(compiled) -> float | None:
    """Peak device memory of one call from XLA's buffer assignment: arguments + outputs +
    temporaries - donated (aliased) bytes. None where the backend gives no analysis."""
    try:
        m = compiled.memory_analysis()
    except Exception:  # noqa: BLE001 - some backends raise NotImplemented
        return None
    if m is None:
        return None
    return float(m.argument_size_in_bytes + m.output_size_in_bytes + m.temp_size_in_bytes - m.alias_size_in_bytes)


def median_rounds(fns: dict[str, Callable[[], float]], rounds: int, errors: dict | None = None) -> dict[str, float]:
    """Each fn returns seconds per call for one round; rounds interleave A, B, A, B, ... with the
    order rotated every round (so no candidate always runs first); medians.
    With ``errors``, a fn that raises is dropped from the result and its error recorded there."""
    times = {k: [] for k in fns}
    live = dict(fns)
    for r in range(rounds):
        keys = list(live)
        shift = r % max(1, len(keys))
        for k in keys[shift:] + keys[:shift]:
            f = live[k]
            try:
                times[k].append(f())
            except Exception as e:  # noqa: BLE001
                if errors is None:
                    raise
                traceback.print_exc()
                errors[k] = f"{type(e).__name__}: {str(e)[:200]}"
                del live[k], times[k]
    return {k: statistics.median(v) for k, v in times.items()}


# -- torch side ------------------------------------------------------------------------------


class Torch:
    """torch and its device, or the reason it cannot be used (rows then carry ``torch: null``)."""

    def __init__(self, acc, want: bool):
        self.torch = self.tv = self.device = None
        self.reason = None
        if not want:
            self.reason = "torch disabled (--no-torch)"
            return
        try:
            import torch
            import torchvision
        except ImportError as e:
            self.reason = f"torch/torchvision not importable ({e})"
            return
        if acc.platform == "cpu":
            self.device = torch.device("cpu")
        elif acc.platform == "gpu" and torch.cuda.is_available():
            self.device = torch.device("cuda")
            torch.backends.cudnn.benchmark = True
        else:
            self.reason = f"torch {torch.__version__} cannot run on this {acc.platform} device"
            return
        self.torch, self.tv = torch, torchvision

    @property
    def ok(self) -> bool:
        return self.torch is not None

    def sync(self) -> None:
        if self.device.type == "cuda":
            self.torch.cuda.synchronize()

    def timer(self, fn: Callable[[], Any], n: int) -> Callable[[], float]:
        def round_():
            self.sync()
            t = time.perf_counter()
            for _ in range(n):
                fn()
            self.sync()
            return (time.perf_counter() - t) / n

        return round_

    def train_step(self, net, batch: int, size: int, classes: int):
        """A torch train step closure: AMP bf16 autocast, channels_last, SGD like make_optimizer."""
        torch = self.torch
        torch.manual_seed(0)
        net = net.to(self.device, memory_format=torch.channels_last).train()
        opt = torch.optim.SGD(net.parameters(), lr=0.1, momentum=0.9, nesterov=True, weight_decay=5e-4)
        x = torch.randn(batch, 3, size, size, device=self.device).contiguous(memory_format=torch.channels_last)
        y = torch.randint(0, classes, (batch,), device=self.device)

        def step():
            opt.zero_grad(set_to_none=True)
            with torch.autocast(self.device.type, dtype=torch.bfloat16):
                loss = torch.nn.functional.cross_entropy(net(x), y)
            loss.backward()
            opt.step()

        return step

    def peak_reset(self) -> None:
        if self.device.type == "cuda":
            self.torch.cuda.empty_cache()
            self.torch.cuda.reset_peak_memory_stats()

    def peak_bytes(self) -> float | None:
        return float(self.torch.cuda.max_memory_allocated()) if self.device.type == "cuda" else None

    def release(self) -> None:
        if self.device is not None and self.device.type == "cuda":
            self.torch.cuda.empty_cache()


# -- correctness -----------------------------------------------------------------------------


def _x64():
    """Context enabling float64 (``jax.enable_x64`` since JAX 0.9; the experimental one before)."""
    if callable(getattr(jax, "enable_x64", None)):
        return jax.enable_x64(True)
    from jax.experimental import enable_x64  # older JAX

    return enable_x64()


def _loss(y, target, task: str):
    """Mean cross-entropy (classify) or MSE (regress), in at least float32 (float64 stays float64)."""
    y = y.astype(jnp.promote_types(y.dtype, jnp.float32))
    if task == "classify":
        return jnp.mean(optax.softmax_cross_entropy_with_integer_labels(y, target))
    return jnp.mean(jnp.square(y - target.astype(y.dtype)))


def _model_program(model, task: str, dtype=None):
    """``f(variables, x, target) -> {'out', 'eval', 'train'}``: the eval-mode output, and
    (loss, param grads) with BatchNorm in eval mode and in train mode. ``dtype`` casts params
    and input first, as ``make_train_step(compute_dtype=...)`` does (float64: the reference)."""
    key = jax.random.key(7)  # dropout key: the same bits on every backend (threefry)

    def f(variables, x, target):
        if dtype is not None:
            variables, x = _cast(variables, dtype), x.astype(dtype)

        def loss(params, train):
            v = {**variables, "params": params}
            if train:
                y, _ = model.apply(v, x, train=True, mutable=["batch_stats"], rngs={"dropout": key})
            else:
                y = model.apply(v, x, train=False)
            return _loss(y, target, task)

        out = model.apply(variables, x, train=False)
        ev = jax.value_and_grad(loss)(variables["params"], False)
        tr = jax.value_and_grad(loss)(variables["params"], True)
        return {"out": out, "eval": ev, "train": tr}

    return f


def _model_inputs(name: str, model, cfg: Config):
    rng = np.random.default_rng(0)
    b, s = cfg.corr_batch, cfg.corr_size
    if name == "espcn":
        x = rng.uniform(size=(b, s, s, 1)).astype(np.float32)
        target = rng.uniform(size=(b, s * model.scale, s * model.scale, 1)).astype(np.float32)
        task = "regress"
    else:
        x = rng.standard_normal((b, s, s, 3)).astype(np.float32)
        target = rng.integers(0, 1000, b).astype(np.int32)
        task = "classify"
    with jax.default_device(jax.devices("cpu")[0]):
        variables = jax.device_get(jax.jit(lambda k, x: model.init(k, x, train=False))(jax.random.key(0), x))
    return task, variables, x, target


CORRECTNESS_MODELS = ("resnet50", "resnext50_32x4d", "se_resnet50", "mobilenet_v2", "preact_resnet18", "espcn")


def _vs_f64(run: Run, name: str, acc, cpu32, ref64, floor: float, **extra) -> None:
    """Row ``name``: the accelerator's float32 error against the float64 CPU reference, allowed up
    to 4x the CPU's own float32 error (at least ``floor``): no worse than the CPU reference."""
    cpu_err = rel_err(cpu32, ref64)
    if cpu_err > 0.025:  # then even a wrong kernel could hide under 4x: say so rather than pass quietly
        extra["note"] = (
            f"ill-conditioned at this shape: the CPU float32 itself is {cpu_err:.2g} off float64, "
            "so this row cannot tell a wrong kernel from rounding"
        )
    run.check(
        name,
        rel_err(acc, ref64),
        max(floor, 4.0 * cpu_err),
        cpu_fp32_err=cpu_err,
        metric="rel L2 vs the float64 CPU reference; tol = max(floor, 4 x the CPU float32's)",
        **extra,
    )


def check_models(run: Run, names=CORRECTNESS_MODELS) -> None:
    """Eval output and gradients, accelerator vs CPU (float32) and vs a float64 CPU reference.
    Every program (CPU fp32, CPU fp64, accelerator fp32) is compiled concurrently first.

    Why float64: with BatchNorm in train mode a randomly initialised deep net is chaotic
    (gradients explode with depth at init: Yang et al. 2019), so float32 gradients of resnet50 differ
    from float64 ones by ~2e-2 on the CPU itself; the train-mode rows therefore ask the
    accelerator to be as close to float64 as the CPU is. Eval-mode gradients are
    well-conditioned and get a fixed tolerance."""
    cfg = run.cfg
    lowered, args = {}, {}
    with jax.default_matmul_precision("highest"):
        for name in names:
            model = build_model(name, cfg.smoke)
            task, variables, x, target = _model_inputs(name, model, cfg)
            run.cache[("model", name)] = (model, task, variables, x, target)
            fn = jax.jit(_model_program(model, task))
            for tag, dev in (("cpu", run.cpu), ("acc", run.acc)):
                if tag == "acc" and run.acc == run.cpu:
                    continue
                args[name, tag] = jax.device_put((variables, x, target), dev)
                lowered[name, tag] = fn.lower(*args[name, tag])
            try:
                with _x64():
                    args[name, "f64"] = jax.device_put((variables, x, target), run.cpu)
                    lowered[name, "f64"] = jax.jit(_model_program(model, task, jnp.float64)).lower(*args[name, "f64"])
            except Exception as e:  # noqa: BLE001 - no float64 here: the train rows fall back to the CPU fp32
                run.cache["no_f64"] = f"no float64 reference ({type(e).__name__}: {e}); train rows vs CPU fp32"
                print(f"  {run.cache['no_f64']}", flush=True)
    t = time.perf_counter()
    compiled = compile_all(lowered, run.workers)
    print(f"  compiled {len(compiled)} programs in {time.perf_counter() - t:.1f} s ({run.workers} threads)", flush=True)
    for name in names:
        out = {}
        for tag in ("cpu", "acc", "f64"):
            if (name, tag) in compiled:
                with _x64() if tag == "f64" else contextlib.nullcontext():
                    out[tag] = jax.device_get(compiled[name, tag](*args[name, tag]))
        out.setdefault("acc", out["cpu"])
        out.setdefault("f64", None)
        ref, acc, f64 = out["cpu"], out["acc"], out["f64"]
        run.cache[("ref", name)] = ref
        lab = label(name, cfg.smoke)
        n = count_params(run.cache[("model", name)][2])
        run.check(f"{lab} eval output, fp32", rel_err(acc["out"], ref["out"]), TOL["logits"], params=n)
        if f64 is None:
            run.check(f"{lab} eval-mode loss + grads, fp32", rel_err(acc["eval"], ref["eval"]), TOL["eval_grads"])
            run.check(
                f"{lab} train-mode loss + grads, fp32",
                rel_err(acc["train"], ref["train"]),
                TOL["train_grads_floor"],
                note=run.cache["no_f64"],
            )
            continue
        run.check(
            f"{lab} eval-mode loss + grads, fp32",
            rel_err(acc["eval"], ref["eval"]),
            TOL["eval_grads"],
            vs_f64={"acc": rel_err(acc["eval"], f64["eval"]), "cpu": rel_err(ref["eval"], f64["eval"])},
        )
        _vs_f64(
            run,
            f"{lab} train-mode loss + grads, fp32 vs fp64",
            acc["train"],
            ref["train"],
            f64["train"],
            TOL["train_grads_floor"],
            acc_vs_cpu=rel_err(acc["train"], ref["train"]),
        )


def check_regularizers(run: Run) -> None:
    """Three train steps with batch-mode stochastic depth (p_L = 0.5) and DropBlock: the same keys
    give the same coins and masks on both backends, so losses and params must agree.

    Train-mode BatchNorm amplifies rounding (see ``check_models``), and the library's DropBlock
    does not trace under float64, so the reference scale here is the CPU's own sensitivity: the
    same three steps from params perturbed by 1e-7 relative noise (about float32's rounding);
    tol = max(floor, 10 x that change)."""
    cfg = run.cfg
    name = "cifar_resnet20"
    model = build_model(
        name, cfg.smoke, drop_path_rate=0.5, drop_block_rate=0.2, drop_block_size=3, drop_block_stages=(2, 3)
    )
    rng = np.random.default_rng(1)
    b = max(cfg.corr_batch, 8)
    batch = {
        "image": rng.standard_normal((b, 32, 32, 3)).astype(np.float32),
        "label": rng.integers(0, 10, b).astype(np.int32),
    }
    with jax.default_device(run.cpu):
        state = create_train_state(model, jax.random.key(0), jnp.asarray(batch["image"][:1]), make_optimizer(0.1))
        noise = np.random.default_rng(2)
        perturbed = state.replace(
            params=jax.tree.map(
                lambda p: p * (1 + 1e-7 * noise.standard_normal(p.shape)).astype(np.float32), state.params
            )
        )
    runs = {"cpu": (run.cpu, state), "pert": (run.cpu, perturbed)}
    if run.acc != run.cpu:
        runs["acc"] = (run.acc, state)
    step = jax.jit(make_train_step())
    with jax.default_matmul_precision("highest"):
        placed = {tag: jax.device_put((s, batch), dev) for tag, (dev, s) in runs.items()}
        lowered = {"cpu": step.lower(*placed["cpu"])}
        if "acc" in runs:
            lowered["acc"] = step.lower(*placed["acc"])
        compiled = compile_all(lowered, run.workers)
    results = {}
    for tag in runs:
        s, bt = placed[tag]
        losses = []
        for _ in range(3):
            s, m = compiled["cpu" if tag == "pert" else tag](s, bt)
            losses.append(m["loss"])
        results[tag] = jax.device_get((np.array(losses), s.params, s.batch_stats))
    results.setdefault("acc", results["cpu"])
    lab = label(name, cfg.smoke) + " sd 0.5 + dropblock"
    for what, sl in (("3 train-step losses", slice(0, 1)), ("params + batch_stats after 3 steps", slice(1, 3))):
        sens = rel_err(results["pert"][sl], results["cpu"][sl])
        run.check(
            f"{lab}: {what}, fp32",
            rel_err(results["acc"][sl], results["cpu"][sl]),
            max(TOL["train_steps_floor"], 10.0 * sens),
            cpu_sensitivity=sens,
            metric="rel L2 vs CPU; tol = max(floor, 10 x the CPU's change under 1e-7 param noise)",
        )


def check_bf16(run: Run, name: str = "resnet50") -> None:
    """bf16 compute on the accelerator against the float32 CPU reference of the models section:
    eval output, eval-mode gradients and the train-mode loss (train-mode gradients are chaotic at
    init even in float32, see ``check_models``)."""
    cfg = run.cfg
    if ("ref", name) not in run.cache:  # the models section was not run: make the reference here
        model = build_model(name, cfg.smoke)
        task, variables, x, target = _model_inputs(name, model, cfg)
        run.cache[("model", name)] = (model, task, variables, x, target)
        with jax.default_matmul_precision("highest"):
            fn = jax.jit(_model_program(model, task))
            run.cache[("ref", name)] = jax.device_get(fn(*jax.device_put((variables, x, target), run.cpu)))
    model, task, variables, x, target = run.cache[("model", name)]
    ref = run.cache[("ref", name)]
    fn = jax.jit(_model_program(model, task, dtype=jnp.bfloat16))
    acc = jax.device_get(fn(*jax.device_put((variables, x, target), run.acc)))
    lab = label(name, cfg.smoke)
    run.check(f"{lab} eval output, bf16 compute vs fp32", rel_err(acc["out"], ref["out"]), TOL["bf16_logits"])
    run.check(f"{lab} eval-mode loss + grads, bf16 vs fp32", rel_err(acc["eval"], ref["eval"]), TOL["bf16_grads"])
    run.check(f"{lab} train-mode loss, bf16 vs fp32", rel_err(acc["train"][0], ref["train"][0]), TOL["bf16_loss"])


def check_forms(run: Run) -> None:
    """The five-form identity with the JAX forms on the accelerator: max |form - vjp| / max |vjp|."""
    rng = np.random.default_rng(3)
    with jax.default_matmul_precision("highest"), jax.default_device(run.acc):
        for y_shape, k_shape, kw in FORMS_CASES:
            y = rng.standard_normal(y_shape).astype(np.float32)
            k = rng.standard_normal(k_shape).astype(np.float32)
            res = conv_transpose_forms(y, k, **kw)
            ref = res["vjp"]
            scale = float(np.max(np.abs(ref)))
            worst = max((float(np.max(np.abs(v - ref))) / scale, n) for n, v in res.items() if n != "vjp")
            # and the vjp on the accelerator against the vjp on the CPU
            with jax.default_device(run.cpu):
                cpu_vjp = np.asarray(conv_transpose(jnp.asarray(y), jnp.asarray(k), **kw), np.float64)
            args = ", ".join(f"{a}={v}" for a, v in kw.items())
            run.check(
                f"conv_transpose 5 forms agree, y{y_shape} {args}",
                worst[0],
                TOL["forms"],
                forms=sorted(res),
                worst_form=worst[1],
                metric="max |form - vjp| / max |vjp|",
            )
            run.check(f"conv_transpose vjp acc vs cpu, y{y_shape}", rel_err(res["vjp"], cpu_vjp), TOL["forms"])


# -- throughput ------------------------------------------------------------------------------


class JaxTrain:
    """A compiled jaxcnn train step (bf16 compute unless ``dtype=None``) on synthetic data."""

    def __init__(self, model, batch: int, size: int, classes: int, device, dtype=jnp.bfloat16):
        rng = np.random.default_rng(0)
        with jax.default_device(device):
            self.state = create_train_state(
                model, jax.random.key(0), jnp.zeros((1, size, size, 3)), make_optimizer(0.1)
            )
        self.batch = jax.device_put(
            {
                "image": rng.standard_normal((batch, size, size, 3)).astype(np.float32),
                "label": rng.integers(0, classes, batch).astype(np.int32),
            },
            device,
        )
        self.state = jax.device_put(self.state, device)
        self.lowered = jax.jit(make_train_step(compute_dtype=dtype), donate_argnums=0).lower(self.state, self.batch)
        self.compiled = None
        self.n = batch

    def compile(self):
        t = time.perf_counter()
        self.compiled = self.lowered.compile()
        self.compile_s = time.perf_counter() - t
        return self

    def step(self):
        self.state, self.metrics = self.compiled(self.state, self.batch)

    def timer(self, n: int) -> Callable[[], float]:
        def round_():
            jax.block_until_ready(self.state)
            t = time.perf_counter()
            for _ in range(n):
                self.step()
            jax.block_until_ready(self.metrics["loss"])
            return (time.perf_counter() - t) / n

        return round_

    def warm(self, n: int = 2):
        for _ in range(n):
            self.step()
        loss = float(self.metrics["loss"])
        if not np.isfinite(loss):  # the step skips non-finite updates, so timing still means something
            print(f"  warning: non-finite loss {loss} in the warm-up steps", flush=True)


def _peak(device, override_tflops: float | None) -> tuple[float | None, str]:
    if override_tflops:
        return override_tflops * 1e12, f"{override_tflops:g} TFLOP/s (--peak-tflops)"
    kind = getattr(device, "device_kind", "") or ""
    for k, v in PEAK_BF16.items():
        if k.lower() in kind.lower():
            return v, f"{v / 1e12:g} TFLOP/s dense bf16 ({k} datasheet)"
    return None, f"no bf16 peak known for device kind {kind!r} (pass --peak-tflops)"


def _torch_classifier(th: Torch, name: str, smoke: bool):
    tv = th.tv
    if name == "resnet50":
        layers = [1, 1, 1, 1] if smoke else [3, 4, 6, 3]
        return tv.models.resnet.ResNet(tv.models.resnet.Bottleneck, layers)
    if name == "mobilenet_v2":
        if smoke:
            return tv.models.MobileNetV2(
                inverted_residual_setting=[list(s) for s in _TINY_MBV2["settings"]], width_mult=_TINY_MBV2["width_mult"]
            )
        return tv.models.MobileNetV2()
    raise ValueError(name)


def bench_classifier(run: Run, th: Torch, name: str, args) -> None:
    """Train images/s side by side, MFU, and (resnet50) peak memory."""
    cfg = run.cfg
    lab = f"{label(name, cfg.smoke)} b{cfg.batch} {cfg.size}px bf16 train"
    model = build_model(name, cfg.smoke)
    jt = JaxTrain(model, cfg.batch, cfg.size, 1000, run.acc).compile()
    print(f"  jax compile {jt.compile_s:.1f} s", flush=True)
    jt.warm()
    fns = {"jax": jt.timer(cfg.steps)}
    torch_note = th.reason
    if th.ok:
        try:
            th.peak_reset()
            tstep = th.train_step(_torch_classifier(th, name, cfg.smoke), cfg.batch, cfg.size, 1000)
            for _ in range(1 if cfg.smoke else 3):  # warm-up: cudnn.benchmark picks its algorithms here
                tstep()
            fns["torch"] = th.timer(tstep, cfg.steps)
        except Exception as e:  # noqa: BLE001 - a torch failure must not cost the JAX figures
            torch_note = f"torch failed: {type(e).__name__}: {e}"
            traceback.print_exc()
    errors = {}
    t = median_rounds(fns, cfg.rounds, errors)
    if "torch" in errors:
        torch_note = f"torch failed: {errors['torch']}"
    ips = {k: cfg.batch / v for k, v in t.items()}
    extra = {"note": torch_note} if torch_note else {}
    run.speed(f"{lab} images/s", ips["jax"], ips.get("torch"), "img/s", compile_s=round(jt.compile_s, 1), **extra)
    # model FLOPs utilisation: conv + dense MACs x 2 (FLOPs) x 3 (forward + two backward products)
    macs = model_complexity(model, (1, cfg.size, cfg.size, 3)).macs
    flops = 6.0 * macs * cfg.batch
    peak, peak_note = _peak(run.acc, args.peak_tflops)
    mfu = {k: flops / v / peak for k, v in t.items()} if peak else {}
    run.speed(
        f"{lab} model FLOPs utilisation",
        mfu.get("jax"),
        mfu.get("torch"),
        "fraction of peak",
        model_gflop_per_step=round(flops / 1e9, 2),
        achieved_tflops={k: round(flops / v / 1e12, 3) for k, v in t.items()},
        note=peak_note + ("" if not torch_note else f"; torch: {torch_note}"),
    )
    if name == "resnet50":
        tp = th.peak_bytes() if "torch" in t else None
        jp = _peak_bytes(jt.compiled)
        run.cache["r50_mem"] = (jp, jt, t["jax"])
        run.speed(
            f"{lab} peak memory",
            None if jp is None else jp / 2**30,
            None if tp is None else tp / 2**30,
            "GiB",
            note="jax: XLA buffer assignment (args + outputs + temps - donated); torch: max_memory_allocated"
            + ("" if tp is not None else f"; torch: {torch_note or 'no CUDA peak on ' + str(th.device)}"),
        )
    else:
        del jt
    if th.ok:
        th.release()


def bench_conv_transpose(run: Run, th: Torch) -> None:
    """vjp form vs lax.conv_transpose vs torch conv_transpose2d, bf16, calls/s."""
    cfg = run.cfg
    rng = np.random.default_rng(0)
    ratios = []
    for name, y_shape, k, c_out, s, p, op in cfg.convt_cases:
        y = rng.standard_normal(y_shape).astype(np.float32)
        kernel = (rng.standard_normal((*k, c_out, y_shape[-1])) * 0.05).astype(np.float32)
        yj, kj = jax.device_put((jnp.asarray(y, jnp.bfloat16), jnp.asarray(kernel, jnp.bfloat16)), run.acc)
        vjp = jax.jit(lambda a, b: conv_transpose(a, b, s, p, op))
        lax_form = jax.jit(lambda a, b: conv_transpose_lax(a, b, s, p, op))
        for f in (vjp, lax_form):
            f(yj, kj).block_until_ready()

        def jtimer(f):
            def round_():
                t = time.perf_counter()
                for _ in range(cfg.convt_calls):
                    out = f(yj, kj)
                out.block_until_ready()
                return (time.perf_counter() - t) / cfg.convt_calls

            return round_

        fns = {"vjp": jtimer(vjp), "lax": jtimer(lax_form)}
        note = th.reason
        if th.ok:
            torch = th.torch
            yt = (
                torch.from_numpy(y)
                .permute(0, 3, 1, 2)
                .to(th.device, torch.bfloat16)
                .contiguous(memory_format=torch.channels_last)
            )
            wt = torch.from_numpy(kernel.transpose(3, 2, 0, 1).copy()).to(th.device, torch.bfloat16)

            def tf():
                with torch.no_grad():
                    return torch.nn.functional.conv_transpose2d(yt, wt, None, s, p, op)

            tf()
            fns["torch"] = th.timer(tf, cfg.convt_calls)
        errors = {}
        t = median_rounds(fns, cfg.rounds, errors)
        if "torch" in errors:
            note = f"torch failed: {errors['torch']}"
        cps = {k: 1.0 / v for k, v in t.items()}
        extra = {"note": note} if note else {}
        run.speed(f"conv_transpose (vjp) {name} {y_shape}", cps["vjp"], cps.get("torch"), "calls/s", **extra)
        run.speed(f"lax.conv_transpose {name} {y_shape}", cps["lax"], cps.get("torch"), "calls/s", **extra)
        ratios.append(cps["vjp"] / cps["lax"])
    gm = float(np.exp(np.mean(np.log(ratios))))
    run.speed(
        "conv_transpose vjp over lax.conv_transpose, geomean of cases",
        gm,
        None,
        "x (speed)",
        note="JAX vs JAX: torch column not applicable; goal 1.00 +- 0.05",
    )


def bench_stochastic_depth(run: Run) -> None:
    """Train-step speed-up of paper stochastic depth (p_L = 0.5, batch mode, nn.cond skip) over
    none, fp32 like the paper; a fresh coin every step (the key is folded with the step)."""
    cfg = run.cfg
    none = JaxTrain(build_model(cfg.sd_model, cfg.smoke), cfg.sd_batch, 32, 10, run.acc, dtype=None)
    sd = JaxTrain(build_model(cfg.sd_model, cfg.smoke, drop_path_rate=0.5), cfg.sd_batch, 32, 10, run.acc, dtype=None)
    # Compile one after the other: on a GPU two concurrent compiles disturb each other's autotuning.
    none.compile(), sd.compile()
    none.warm(), sd.warm()
    t = median_rounds(
        {"none": none.timer(cfg.steps), "sd": sd.timer(cfg.steps)}, max(cfg.rounds, 3 if not cfg.smoke else 1)
    )
    lab = f"{label(cfg.sd_model, cfg.smoke)} b{cfg.sd_batch} fp32 stochastic depth p_L=0.5 speed-up"
    run.speed(
        lab,
        t["none"] / t["sd"],
        None,
        "x (none/sd time)",
        img_s={"none": round(cfg.sd_batch / t["none"], 1), "sd": round(cfg.sd_batch / t["sd"], 1)},
        compile_s={"none": round(none.compile_s, 1), "sd": round(sd.compile_s, 1)},
        note="JAX vs JAX: torch column not applicable; paper: ~25% less training time; CPU: 1.47x (README)",
    )


def bench_remat(run: Run, th: Torch) -> None:
    """resnet50 train step with remat=True: peak memory and step time over the plain step."""
    cfg = run.cfg
    lab = f"{label('resnet50', cfg.smoke)} b{cfg.batch} {cfg.size}px bf16 train"
    if "r50_mem" not in run.cache:
        plain = JaxTrain(build_model("resnet50", cfg.smoke), cfg.batch, cfg.size, 1000, run.acc).compile()
        plain.warm()
        run.cache["r50_mem"] = (
            _peak_bytes(plain.compiled),
            plain,
            median_rounds({"p": plain.timer(cfg.steps)}, cfg.rounds)["p"],
        )
    plain_mem, plain, plain_t = run.cache["r50_mem"]
    rm = JaxTrain(build_model("resnet50", cfg.smoke, remat=True), cfg.batch, cfg.size, 1000, run.acc).compile()
    rm.warm()
    t = median_rounds({"plain": plain.timer(cfg.steps), "remat": rm.timer(cfg.steps)}, cfg.rounds)
    rmem = _peak_bytes(rm.compiled)
    run.speed(
        f"{lab} peak memory, remat",
        None if rmem is None else rmem / 2**30,
        None,
        "GiB",
        note="torch column not applicable (torchvision has no per-block checkpointing)",
    )
    run.speed(
        f"{lab} remat/plain peak memory",
        None if rmem is None or not plain_mem else rmem / plain_mem,
        None,
        "x (lower is better)",
        note="JAX vs JAX",
    )
    run.speed(
        f"{lab} plain/remat step speed",
        t["plain"] / t["remat"],
        None,
        "x (<1: remat slower)",
        note="JAX vs JAX",
        compile_s=round(rm.compile_s, 1),
    )
    del rm
    run.cache.pop("r50_mem", None)


# -- main ------------------------------------------------------------------------------------


def _skip_rows(run: Run, section: str, why: str) -> None:
    if section in ("forms", "models", "regularizers", "bf16"):
        run.check(f"{section} (section not completed)", None, 0.0, note=why)
    else:
        run.speed(f"{section} (section not completed)", None, None, "-", note=why)


# Rough minimum seconds each section needs on an H200 (compiles dominate); a section is only
# started when the budget still holds this much.
NEED_S = {
    "forms": 5,
    "models": 60,
    "regularizers": 20,
    "bf16": 15,
    "resnet50": 60,
    "mobilenet_v2": 45,
    "conv_transpose": 20,
    "stochastic_depth": 60,
    "remat": 45,
}


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(
        description=__doc__.splitlines()[0],
        epilog=__doc__.split("\n\n", 1)[1],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "--smoke",
        action="store_true",
        help="CPU only, tiny shapes and one-block-per-stage models: checks the code paths (default: off)",
    )
    p.add_argument("--out", type=Path, default=None, help="write OUT/results.json (default: print only)")
    p.add_argument(
        "--only",
        default=",".join(SECTIONS),
        help=f"comma-separated sections to run, in this order (default: all: {','.join(SECTIONS)})",
    )
    p.add_argument(
        "--models",
        default=",".join(CORRECTNESS_MODELS),
        help=f"comma-separated models of the 'models' section (default: {','.join(CORRECTNESS_MODELS)})",
    )
    p.add_argument(
        "--budget-s",
        type=float,
        default=420.0,
        help="start no section past this many seconds of the run (default: 420; the device call allows 480)",
    )
    p.add_argument(
        "--compile-workers",
        type=int,
        default=min(8, os.cpu_count() or 1),
        help="threads compiling the correctness programs concurrently (default: min(8, cpus))",
    )
    p.add_argument(
        "--peak-tflops",
        type=float,
        default=None,
        help="dense bf16 peak for MFU, overriding the datasheet table (default: by device kind)",
    )
    p.add_argument("--no-torch", action="store_true", help="leave torch out: its columns are null (default: use it)")
    args = p.parse_args(argv)
    only = [s.strip() for s in args.only.split(",") if s.strip()]
    unknown = sorted(set(only) - set(SECTIONS))
    if unknown:
        p.error(f"--only: unknown section(s) {unknown}; choose from {', '.join(SECTIONS)}")
    models = [m.strip() for m in args.models.split(",") if m.strip()]
    bad_models = sorted(set(models) - set(CORRECTNESS_MODELS))
    if bad_models:
        p.error(f"--models: unknown model(s) {bad_models}; choose from {', '.join(CORRECTNESS_MODELS)}")
    if args.budget_s <= 0 or args.compile_workers < 1:
        p.error("--budget-s must be > 0 and --compile-workers >= 1")

    cfg = Config.smoke_cfg() if args.smoke else Config.full()
    cpu = jax.devices("cpu")[0]
    acc = cpu if args.smoke else jax.devices()[0]
    th = Torch(acc, not args.no_torch)
    meta = {
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "smoke": cfg.smoke,
        "device": f"{acc.platform}: {getattr(acc, 'device_kind', '')}",
        "reference": f"cpu: {getattr(cpu, 'device_kind', '')}",
        "jax": jax.__version__,
        "torch": None if not th.ok else th.torch.__version__,
        "torch_note": th.reason,
        "python": platform.python_version(),
        "host_cpus": os.cpu_count(),
        "config": dataclasses.asdict(cfg),
        "tolerances": TOL,
        "budget_s": args.budget_s,
        "peak_bf16": _peak(acc, args.peak_tflops)[1],
        "argv": sys.argv[1:] if argv is None else list(argv),
    }
    run = Run(cfg, args.out, args.budget_s, acc, cpu, args.compile_workers, meta)
    print(
        f"accelerator check: {meta['device']} vs {meta['reference']} | jax {jax.__version__} | "
        f"torch {meta['torch'] or '- (' + str(th.reason) + ')'} | smoke={cfg.smoke} | budget {args.budget_s:.0f} s",
        flush=True,
    )
    sections = {
        "forms": lambda: check_forms(run),
        "models": lambda: check_models(run, models),
        "regularizers": lambda: check_regularizers(run),
        "bf16": lambda: check_bf16(run),
        "resnet50": lambda: bench_classifier(run, th, "resnet50", args),
        "mobilenet_v2": lambda: bench_classifier(run, th, "mobilenet_v2", args),
        "conv_transpose": lambda: bench_conv_transpose(run, th),
        "stochastic_depth": lambda: bench_stochastic_depth(run),
        "remat": lambda: bench_remat(run, th),
    }
    for name in only:
        left = run.budget_s - run.elapsed()
        if not cfg.smoke and left < NEED_S[name]:
            _skip_rows(
                run, name, f"skipped: {left:.0f} s of the {run.budget_s:.0f} s budget left, needs ~{NEED_S[name]} s"
            )
            continue
        print(f"\n== {name} (t = {run.elapsed():.0f} s)", flush=True)
        t = time.perf_counter()
        try:
            sections[name]()
        except Exception as e:  # noqa: BLE001 - one broken section must not lose the others
            traceback.print_exc()
            _skip_rows(run, name, f"error: {type(e).__name__}: {str(e)[:300]}")
        run.section_s[name] = round(time.perf_counter() - t, 1)
        run.save()
    print_table(run)
    bad = [r["name"] for r in run.correctness if r["ok"] is False]
    print(
        f"\n{len(run.correctness)} checks, {len(bad)} failed; {len(run.throughput)} throughput rows; "
        f"total {run.elapsed():.0f} s" + (f"; results in {args.out / 'results.json'}" if args.out else "")
    )
    run.save()
    return {"correctness": run.correctness, "throughput": run.throughput, "meta": run.meta}


if __name__ == "__main__":
    res = main()
    sys.exit(1 if any(r["ok"] is False for r in res["correctness"]) else 0)
