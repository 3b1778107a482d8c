"""Training and evaluation behind ``experiments.espcn_sr``; training runs through ``jaxcnn.train.fit``
with the cropped-MSE ``loss_fn`` below and a Set5 PSNR ``eval_fn``."""

from __future__ import annotations

import functools
import json
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import traverse_util

from experiments import sr_data
from jaxcnn.metrics import psnr_y
from jaxcnn.train import TrainState, fit

LAST_LAYER = "conv3"  # ESPCN's sub-pixel conv; the paper trains it 10x slower


def build_model(scale: int):
    """ESPCN from the registry when it is registered there, else from its module."""
    from jaxcnn import models

    if "espcn" in models.list_models():
        return models.create_model("espcn", scale=scale)
    from jaxcnn.models.espcn import espcn

    return espcn(scale=scale, channels=1)


def save_params(path: Path, params) -> None:
    """Weights as a flat ``.npz`` (``conv1/kernel``, ...)."""
    flat = traverse_util.flatten_dict(jax.device_get(params), sep="/")
    np.savez(path, **{k: np.asarray(v) for k, v in flat.items()})


def load_params(path: str | Path, like):
    """Read ``.npz`` weights and check them against the tree ``like`` (names and shapes)."""
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"checkpoint {path} does not exist")
    with np.load(path) as f:
        flat = {k: jnp.asarray(f[k]) for k in f.files}
    want = traverse_util.flatten_dict(like, sep="/")
    got = {k: v.shape for k, v in flat.items()}
    if got != {k: v.shape for k, v in want.items()}:
        raise ValueError(f"checkpoint {path} does not fit the model: has {sorted(got)}, model wants {sorted(want)}")
    return traverse_util.unflatten_dict(flat, sep="/")


def make_optimizer(params, args) -> optax.GradientTransformation:
    """Adam (or SGD+momentum) with an exponential decay from ``lr`` to ``lr_final``; the last layer's
    rate is ``last_layer_lr`` times the others', through ``optax.multi_transform``."""
    if LAST_LAYER not in params:
        raise ValueError(f"model has no layer {LAST_LAYER!r} (has {sorted(params)})")

    def opt(scale):
        sched = optax.exponential_decay(args.lr * scale, max(args.steps, 1), args.lr_final / args.lr)
        return optax.adam(sched) if args.optimizer == "adam" else optax.sgd(sched, momentum=0.9)

    labels = {k: jax.tree.map(lambda _: "last" if k == LAST_LAYER else "rest", v) for k, v in params.items()}
    return optax.multi_transform({"rest": opt(1.0), "last": opt(args.last_layer_lr)}, labels)


def crop_loss(crop: int):
    """``loss_fn(outputs, batch)`` for ``fit``: MSE on the HR pixels ``crop`` away from the patch edge.
    The paper's valid convolutions lose the outer ring; here (zero-padded convs) we keep it as input
    context and drop it from the loss."""

    def loss(outputs, batch):
        hr = batch["target"]
        sl = np.s_[:, crop : hr.shape[1] - crop, crop : hr.shape[2] - crop]
        return jnp.mean((outputs[sl] - hr[sl]) ** 2), {}

    return loss


@functools.partial(jax.jit, static_argnums=(0, 3))  # modules hash by value: one compile per model and shape
def predict(model, params, x, pad: int = 0):
    """SR of NHWC ``x`` clipped to [0, 1]. ``pad`` LR pixels of mirrored context are added around
    the image and their output cropped: a model trained without the zero-padded ring in its loss
    (``--context``) never learned what zeros at the border mean."""
    scale = model.scale
    x = jnp.pad(x, ((0, 0), (pad, pad), (pad, pad), (0, 0)), mode="symmetric")
    y = model.apply({"params": params}, x)
    return jnp.clip(y[:, pad * scale : y.shape[1] - pad * scale, pad * scale : y.shape[2] - pad * scale], 0.0, 1.0)


@functools.partial(jax.jit, static_argnums=0)
def init_params(model, key):
    """Fresh weights (they do not depend on the input size, so a 1x1 input will do)."""
    return model.init(key, jnp.zeros((1, 1, 1, 1)))["params"]  # jit: one compile, not one per op


def super_resolve(model, params, lr: np.ndarray, pad: int) -> np.ndarray:
    """(h, w) LR Y in [0, 1] -> (h r, w r) ESPCN output in [0, 1]."""
    return np.asarray(predict(model, params, jnp.asarray(lr, jnp.float32)[None, ..., None], pad))[0, ..., 0]


def evaluate(model, params, pairs, scale: int, resize: str, pad: int = 0) -> dict:
    """Per-image and mean ``psnr_y`` of ESPCN and of the bicubic baseline."""
    rows = []
    for pair in pairs:
        sr = super_resolve(model, params, pair.lr, pad)
        bic = sr_data.upscale_bicubic(pair.lr, scale, resize)
        rows.append(
            {
                "image": pair.name,
                "hr_shape": list(pair.hr.shape),
                "psnr_y": {
                    "espcn": psnr_y(pair.hr * 255, sr * 255, scale),
                    "bicubic": psnr_y(pair.hr * 255, bic * 255, scale),
                },
            }
        )
    mean = {k: float(np.mean([r["psnr_y"][k] for r in rows])) for k in ("espcn", "bicubic")}
    return {"per_image": rows, "mean_psnr_y": mean}


def run(args) -> dict:
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    model = build_model(args.scale)
    params = init_params(model, jax.random.PRNGKey(args.seed))
    if args.checkpoint:
        params = load_params(args.checkpoint, params)
    eval_pairs = sr_data.load_pairs(args.eval_dir, args.scale, args.resize)
    summary = {"config": {k: v for k, v in vars(args).items()}, "protocol": PROTOCOL}
    if not args.eval_only and args.steps > 0:
        summary["training"] = train(model, params, eval_pairs, args, out)
        params = load_params(out / "params.npz", params)
    if args.refit_last:
        params, summary["refit_last"] = refit(model, params, eval_pairs, args)
    summary.update(evaluate(model, params, eval_pairs, args.scale, args.resize, args.context))
    (out / "summary.json").write_text(json.dumps(summary, indent=2))
    save_figure(out / "espcn_sr.png", model, params, eval_pairs, summary, args)
    m = summary["mean_psnr_y"]
    print(
        f"{Path(args.eval_dir).name} x{args.scale}: ESPCN {m['espcn']:.2f} dB, bicubic {m['bicubic']:.2f} dB -> {out}"
    )
    return summary


def training_pairs(args) -> list:
    """The training images as ``--train-dir``, ``--quick`` and ``--rescale`` define them."""
    pairs = sr_data.load_pairs(args.train_dir, args.scale, args.resize, limit=4 if args.quick else None)
    return sr_data.rescaled_pairs(pairs, args.rescale, args.scale, args.resize)


def refit(model, params, eval_pairs, args):
    """``--refit-last``: ``(params, info)`` with conv3 solved by least squares on the training set;
    saves ``params.npz``."""
    from experiments.espcn_refit import refit_last_layer

    before = evaluate(model, params, eval_pairs, args.scale, args.resize, args.context)["mean_psnr_y"]["espcn"]
    params, info = refit_last_layer(
        model, params, training_pairs(args), args.scale, args.context, args.augment, progress=not args.no_progress
    )
    save_params(Path(args.out) / "params.npz", params)
    return params, {**info, "psnr_y_before": before}


def train(model, params, eval_pairs, args, out: Path) -> dict:
    """Train on random patch pairs of ``train_dir`` (loss on 17r HR pixels, ``context`` LR pixels of input
    around them) through ``jaxcnn.train.fit``: ``metrics.jsonl`` gets the mean loss every 100 steps (10
    with ``--quick``) and Set5 PSNR (``test_psnr_y``) every ``eval_every``; ``params.npz`` is saved at
    each evaluation, so an interrupted long run keeps usable weights."""
    t0 = time.perf_counter()
    pairs = training_pairs(args)
    if args.mirror_borders:
        pairs = sr_data.mirror_padded(pairs, args.context, args.scale)
    tx = make_optimizer(params, args)
    state = TrainState(
        step=jnp.zeros((), jnp.int32),
        params=params,
        batch_stats={},
        opt_state=tx.init(params),
        rng=jax.random.key(args.seed),
        apply_fn=model.apply,
        tx=tx,
    )

    def batch(step):
        lr, hr = sr_data.patch_batch(
            pairs, args.scale, args.patch + 2 * args.context, args.batch_size, args.seed, step, augment=args.augment
        )
        return {"image": lr, "target": hr}

    def set5(state) -> dict:
        save_params(out / "params.npz", state.params)
        return {
            "psnr_y": evaluate(model, state.params, eval_pairs, args.scale, args.resize, args.context)["mean_psnr_y"][
                "espcn"
            ]
        }

    t_train = time.perf_counter()
    fit(
        state,
        batch,
        args.steps,
        loss_fn=crop_loss(args.context * args.scale),
        eval_fn=set5,
        eval_every=args.eval_every or None,
        out=out,
        ckpt_every=None,
        log_every=10 if args.quick else 100,
        progress=not args.no_progress,
        desc="espcn",
    )
    return {
        "steps": args.steps,
        "train_images": len(pairs),
        "train_time_s": time.perf_counter() - t_train,
        "total_time_s": time.perf_counter() - t0,
        "devices": [str(d) for d in jax.devices()],
    }


def save_figure(path: Path, model, params, pairs, summary: dict, args) -> None:
    """Bicubic / ESPCN / HR crops of the image where ESPCN gains most, and the training curve."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    gains = [r["psnr_y"]["espcn"] - r["psnr_y"]["bicubic"] for r in summary["per_image"]]
    i = int(np.argmax(gains))
    pair, row = pairs[i], summary["per_image"][i]
    sr = super_resolve(model, params, pair.lr, args.context)
    bic = np.clip(sr_data.upscale_bicubic(pair.lr, args.scale, args.resize), 0, 1)
    h, w = pair.hr.shape
    crop = np.s_[h // 4 : h // 4 + min(h, w) // 2, w // 4 : w // 4 + min(h, w) // 2]  # a central square
    metrics = Path(args.out) / "metrics.jsonl"
    curve = (
        [json.loads(ln) for ln in metrics.read_text().splitlines()] if not args.eval_only and metrics.exists() else []
    )
    fig, axes = plt.subplots(1, 4 if curve else 3, figsize=(16 if curve else 12, 4))
    for ax, img, title in zip(
        axes,
        (bic, sr, pair.hr),
        (f"bicubic {row['psnr_y']['bicubic']:.2f} dB", f"ESPCN {row['psnr_y']['espcn']:.2f} dB", "HR (Y)"),
    ):
        ax.imshow(img[crop], cmap="gray", vmin=0, vmax=1)
        ax.set_title(f"{pair.name}: {title}")
        ax.axis("off")
    if curve:
        ax = axes[3]
        ax.semilogy([r["step"] for r in curve], [r["loss"] for r in curve])
        ax.set_xlabel("step")
        ax.set_ylabel("train MSE (Y in [0, 1])")
        pts = [r for r in curve if "test_psnr_y" in r]
        if pts:
            ax2 = ax.twinx()
            ax2.plot([r["step"] for r in pts], [r["test_psnr_y"] for r in pts], "o-", color="C1")
            ax2.set_ylabel(f"{Path(args.eval_dir).name} PSNR-Y (dB)", color="C1")
    fig.tight_layout()
    fig.savefig(path, dpi=80, bbox_inches="tight")
    plt.close(fig)


PROTOCOL = (
    "Y = round(16 + 65.481 R + 128.553 G + 24.966 B) (MATLAB rgb2ycbcr, uint8); HR modcropped to a multiple "
    "of the scale; LR = MATLAB imresize(HR/255, 1/scale, 'bicubic') (antialiased Keys a=-0.5, symmetric "
    "borders); bicubic = imresize(LR, scale); ESPCN input padded by `context` mirrored LR pixels, output cropped "
    "back; PSNR on Y rounded to uint8, scale pixels shaved, mean over images"
)
