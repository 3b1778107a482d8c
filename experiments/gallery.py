"""Pictures: an upsampling gallery on a Set5 image with PSNR per method, the transposed-conv
checkerboard and how ICNR removes it, the worked 4x4 / 3x3 conv matrix C with Cᵀy == vjp, and
Cutout / DropBlock masks on real images and feature maps.

    python -m experiments.gallery [--quick | --smoke] [--image butterfly] [--espcn-weights NAME_OR_PATH]

Upsampling is x3 on the Y channel (the SR protocol of ``experiments.espcn_sr``: modcrop, MATLAB
bicubic downscaling, PSNR on Y with 3 pixels shaved). The two learned one-layer upsamplers --
a 9x9 stride-3 transposed conv and a 3x3 sub-pixel conv
-- start from the same bilinear filter and are trained with the same steps on T91 patches (left out with
``--steps 0`` or ``--quick``: a few hundred steps show nothing worth reading); ``--espcn-weights`` adds a
trained ESPCN (default: the shipped ``espcn_x3_t91``).
Writes ``runs/gallery/{summary.json, upsampling.png, checkerboard.png, conv_matrix.png, masks.png}``.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from experiments._cli import HelpFormatter, existing_dir_path, flag_error, nonnegative_int, positive_int, weights_source
from experiments._paths import DEFAULT_DATA  # noqa: E402

SCALE = 3


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="python -m experiments.gallery", description=__doc__, formatter_class=HelpFormatter
    )
    p.add_argument(
        "--data", dest="data_root", type=existing_dir_path, default=DEFAULT_DATA, help="folder holding sr/ and cifar10/"
    )
    p.add_argument("--out", type=Path, default=Path("runs/gallery"))
    p.add_argument("--image", default="butterfly", help="Set5 image for the gallery")
    p.add_argument(
        "--steps", type=nonnegative_int, default=1500, help="Adam steps of each learned upsampler (0 leaves them out)"
    )
    p.add_argument("--train-images", type=positive_int, default=91, help="T91 images used to train them")
    p.add_argument(
        "--espcn-weights",
        default="espcn_x3_t91",
        type=weights_source(allow_none=True),
        help="ESPCN x3 for the gallery: a shipped name, a weights file, or a params.npz of experiments.espcn_sr "
        "('none' leaves it out)",
    )
    p.add_argument(
        "--quick", action="store_true", help="no learned one-layer upsamplers (--steps 0), no max-unpool tile"
    )
    p.add_argument("--smoke", action="store_true", help="CI: 2 steps of the learned upsamplers on 2 images")
    p.add_argument("--no-progress", action="store_true")
    args = p.parse_args(argv)
    args.unpool = not args.quick  # max-unpool of the pooled HR (not an upsampler of LR: ~6 dB) only in full mode
    if args.quick:
        args.steps = 0
    if args.smoke:
        args.steps, args.train_images = 2, 2
    _check_image(p, args)
    return args


def _check_image(p: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """``--image`` must be a Set5 image under ``--data`` (checked now, not after the jax work)."""
    set5 = args.data_root / "sr" / "Set5"
    if not set5.is_dir():
        flag_error(p, "--data", f"{str(args.data_root)!r} holds no sr/Set5 folder")
    if not (set5 / f"{args.image}.png").is_file():
        names = sorted(f.stem for f in set5.glob("*.png"))
        flag_error(p, "--image", f"no Set5 image {args.image!r} in {str(set5)!r}; choose from {names}")


# -- learned one-layer upsamplers ------------------------------------------------------------


def bilinear_kernel(factor: int, size: int) -> np.ndarray:
    """FCN's bilinear upsampling filter (size x size), centred: a transposed conv with it, stride
    ``factor`` and padding ``(size - factor) // 2`` is linear interpolation at half-pixel centres."""
    centre = (size - 1) / 2
    t = 1 - np.abs(np.arange(size) - centre) / factor
    w = np.clip(t, 0, None)
    return np.outer(w, w)


def _deconv(params, lr):
    from jaxcnn.upsample import conv_transpose

    return conv_transpose(lr, params["kernel"], stride=SCALE, padding=3) + params["bias"]  # 9x9: out = 3H


def _subpixel(params, lr):
    import jax

    from jaxcnn.upsample import pixel_shuffle

    y = jax.lax.conv_general_dilated(
        lr, params["kernel"], (1, 1), ((1, 1), (1, 1)), dimension_numbers=("NHWC", "HWIO", "NHWC")
    )
    return pixel_shuffle(y + params["bias"], SCALE)


def deconv_to_subpixel(k9: np.ndarray) -> np.ndarray:
    """The 3x3 sub-pixel kernel (HWIO, 9 outputs in torch's shuffle order) computing exactly what the
    9x9 stride-3 padding-3 transposed conv with kernel ``k9`` computes: output phase (i, j) uses
    taps ``W[e1, e2] = k9[3 (2 - e1) + i, 3 (2 - e2) + j]`` (Shi et al.'s equivalence)."""
    w = np.zeros((3, 3, 1, SCALE * SCALE), np.float32)
    for i in range(SCALE):
        for j in range(SCALE):
            for e1 in range(3):
                for e2 in range(3):
                    w[e1, e2, 0, i * SCALE + j] = k9[SCALE * (2 - e1) + i, SCALE * (2 - e2) + j]
    return w


def init_upsamplers(key):
    """Both start as bilinear interpolation: the transposed conv from FCN's bilinear kernel, the
    sub-pixel conv from the same kernel's phases, so their trainings can be compared."""
    import jax.numpy as jnp

    del key
    k9 = np.zeros((9, 9), np.float32)
    k9[2:7, 2:7] = bilinear_kernel(SCALE, 5)
    deconv = {"kernel": jnp.asarray(k9)[:, :, None, None], "bias": jnp.zeros(())}
    sub = {"kernel": jnp.asarray(deconv_to_subpixel(k9)), "bias": jnp.zeros(())}
    return {"deconv": deconv, "subpixel": sub}


def train_upsamplers(pairs, steps: int, bar) -> tuple[dict, dict]:
    """Adam on MSE of 17x17 LR patches (3 HR pixels of border left out), both models together."""
    import jax
    import jax.numpy as jnp
    import optax

    from experiments import sr_data

    params = init_upsamplers(jax.random.key(0))
    init = jax.tree.map(lambda a: a, params)
    tx = optax.adam(optax.cosine_decay_schedule(1e-3, steps))
    opt = tx.init(params)

    def loss_fn(p, lr, hr):
        c = SCALE
        err = lambda y: jnp.mean((y[:, c:-c, c:-c] - hr[:, c:-c, c:-c]) ** 2)
        return err(_deconv(p["deconv"], lr)) + err(_subpixel(p["subpixel"], lr))

    @jax.jit
    def step(p, o, lr, hr):
        g = jax.grad(loss_fn)(p, lr, hr)
        u, o = tx.update(g, o, p)
        return optax.apply_updates(p, u), o

    for s in range(steps):
        lr, hr = sr_data.patch_batch(pairs, SCALE, 17, 32, 0, s)
        params, opt = step(params, opt, lr, hr)
        bar.update()
    return init, params


# -- figures ---------------------------------------------------------------------------------


def upsampling_gallery(args, out: Path, bar) -> dict:
    import jax.numpy as jnp

    from experiments import sr_data
    from jaxcnn.metrics import psnr_y
    from jaxcnn.upsample import interpolate, max_pool_with_indices, max_unpool

    pair = sr_data.make_pair(args.image, sr_data.load_y(args.data_root / "sr" / "Set5" / f"{args.image}.png"), SCALE)
    hr, lr = pair.hr, pair.lr
    x = jnp.asarray(lr, jnp.float32)[None, ..., None]
    up = lambda mode: np.asarray(interpolate(x, scale_factor=SCALE, mode=mode))[0, ..., 0]
    outs = {
        "nearest": up("nearest"),
        "bilinear": up("bilinear"),
        "bicubic (torch)": up("bicubic"),
        "bicubic (MATLAB)": sr_data.upscale_bicubic(lr, SCALE),
    }
    if getattr(args, "unpool", True):  # not an upsampler of LR images: zeros but at the pooled maxima
        pooled, idx = max_pool_with_indices(jnp.asarray(hr, jnp.float32)[None, ..., None], SCALE, SCALE)
        outs["max-unpool (of the max-pooled HR)"] = np.asarray(max_unpool(pooled, idx, SCALE, SCALE))[0, ..., 0]
    train_pairs, trained = [], {}
    if args.steps > 0:  # the learned one-layer upsamplers (--steps 0 leaves them out)
        train_pairs = sr_data.load_pairs(args.data_root / "sr" / "T91", SCALE, limit=args.train_images)
        init, trained = train_upsamplers(train_pairs, args.steps, bar)
        outs["transposed conv (bilinear init)"] = np.asarray(_deconv(init["deconv"], x))[0, ..., 0]
        outs["sub-pixel conv (bilinear phases, untrained)"] = np.asarray(_subpixel(init["subpixel"], x))[0, ..., 0]
        outs[f"transposed conv (trained {args.steps} steps)"] = np.asarray(_deconv(trained["deconv"], x))[0, ..., 0]
        outs[f"sub-pixel conv (trained {args.steps} steps)"] = np.asarray(_subpixel(trained["subpixel"], x))[0, ..., 0]
    if args.espcn is not None:  # (label, model, params)
        from experiments.espcn_sr_loop import super_resolve

        label, model, params = args.espcn
        outs[label] = super_resolve(model, params, lr, 4)
    psnrs = {k: psnr_y(hr * 255, np.clip(v, 0, 1) * 255, SCALE) for k, v in outs.items()}

    h, w = hr.shape
    crop = np.s_[h // 4 : h // 4 + h // 3, w // 4 : w // 4 + w // 3]
    panels = [
        ("HR (ground truth)", hr),
        (f"LR input ({lr.shape[0]}x{lr.shape[1]})", np.kron(lr, np.ones((SCALE, SCALE)))),
    ]
    panels += [(f"{k}\n{psnrs[k]:.2f} dB", v) for k, v in outs.items()]
    cols = 4
    rows = -(-len(panels) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(3.2 * cols, 3.4 * rows))
    for ax in axes.ravel():
        ax.axis("off")
    for ax, (title, img) in zip(axes.ravel(), panels):
        ax.imshow(np.clip(img[crop], 0, 1), cmap="gray", vmin=0, vmax=1, interpolation="nearest")
        ax.set_title(title, fontsize=8)
    fig.suptitle(f"Set5 '{args.image}' x{SCALE}, Y channel (PSNR on Y, {SCALE} px shaved)", fontsize=10)
    fig.tight_layout()
    fig.savefig(out / "upsampling.png", dpi=110)
    plt.close(fig)
    learned = {k: np.asarray(v["kernel"]).squeeze().tolist() for k, v in trained.items()}
    return {
        "image": args.image,
        "hr_shape": list(hr.shape),
        "psnr_y": psnrs,
        "train_steps": args.steps,
        "train_images": len(train_pairs),
        "learned_kernels": learned,
    }


def checkerboard_figure(args, out: Path) -> dict:
    """Uneven overlap of a stride-2, 3x3 transposed conv; sub-pixel conv random init vs ICNR."""
    import jax
    import jax.numpy as jnp

    from experiments import sr_data
    from jaxcnn.upsample import conv_transpose, icnr, pixel_shuffle

    ones = jnp.ones((1, 8, 8, 1))
    overlap3 = np.asarray(conv_transpose(ones, jnp.ones((3, 3, 1, 1)), stride=2, padding=1, output_padding=1))[
        0, ..., 0
    ]
    overlap4 = np.asarray(conv_transpose(ones, jnp.ones((4, 4, 1, 1)), stride=2, padding=1))[0, ..., 0]
    lr = sr_data.make_pair(args.image, sr_data.load_y(args.data_root / "sr" / "Set5" / f"{args.image}.png"), SCALE).lr
    x = jnp.asarray(lr, jnp.float32)[None, ..., None]
    key = jax.random.key(1)
    rand_k = jax.nn.initializers.lecun_normal()(key, (3, 3, 1, SCALE * SCALE))
    icnr_k = icnr(SCALE)(key, (3, 3, 1, SCALE * SCALE))
    conv = lambda k: jax.lax.conv_general_dilated(
        x, k, (1, 1), ((1, 1), (1, 1)), dimension_numbers=("NHWC", "HWIO", "NHWC")
    )
    rand_out = np.asarray(pixel_shuffle(conv(rand_k), SCALE))[0, ..., 0]
    icnr_out = np.asarray(pixel_shuffle(conv(icnr_k), SCALE))[0, ..., 0]

    def block_deviation(img):
        """Mean |y - mean of its r x r cell| / mean |y|: 0 iff every output cell is flat (no checkerboard)."""
        h, w = img.shape
        cells = img.reshape(h // SCALE, SCALE, w // SCALE, SCALE)
        return float(np.abs(cells - cells.mean(axis=(1, 3), keepdims=True)).mean() / np.abs(img).mean())

    stats = {
        "deconv_k3_s2_overlap_values": sorted(set(np.unique(overlap3[2:-2, 2:-2]).tolist())),
        "deconv_k4_s2_overlap_values": sorted(set(np.unique(overlap4[2:-2, 2:-2]).tolist())),
        "subpixel_random_block_deviation": block_deviation(rand_out),
        "subpixel_icnr_block_deviation": block_deviation(icnr_out),
    }
    fig, axes = plt.subplots(1, 4, figsize=(15, 4.8))
    axes[0].imshow(overlap3, cmap="viridis")
    axes[0].set_title(
        f"transposed conv k3 s2, ones in/kernel\nvalues {stats['deconv_k3_s2_overlap_values']}: checkerboard",
        fontsize=9,
    )
    axes[1].imshow(overlap4, cmap="viridis")
    axes[1].set_title(
        f"k4 s2 (kernel divisible by stride)\nvalues {stats['deconv_k4_s2_overlap_values']}: even overlap", fontsize=9
    )
    h, w = rand_out.shape
    crop = np.s_[h // 3 : h // 3 + 48, w // 3 : w // 3 + 48]
    axes[2].imshow(rand_out[crop], cmap="gray", interpolation="nearest")
    axes[2].set_title(
        f"sub-pixel conv, random init\ncell deviation {stats['subpixel_random_block_deviation']:.3f}", fontsize=9
    )
    axes[3].imshow(icnr_out[crop], cmap="gray", interpolation="nearest")
    axes[3].set_title(
        f"sub-pixel conv, ICNR init\ncell deviation {stats['subpixel_icnr_block_deviation']:.3f}", fontsize=9
    )
    for ax in axes:
        ax.axis("off")
    fig.tight_layout()
    fig.savefig(out / "checkerboard.png", dpi=110)
    plt.close(fig)
    return stats


def conv_matrix_figure(out: Path) -> dict:
    """The worked example: 4x4 input, 3x3 kernel, stride 1, no padding -> 2x2 output, C is 4x16."""
    import jax
    import jax.numpy as jnp

    from jaxcnn.identities import conv_matrix
    from jaxcnn.upsample import conv_transpose

    w = np.arange(1, 10, dtype=np.float32).reshape(3, 3)
    kernel = jnp.asarray(w)[:, :, None, None]
    c = conv_matrix(kernel, (4, 4))
    y = np.array([[1.0, -2.0], [0.5, 3.0]], np.float32)
    cty = (c.T @ y.reshape(-1)).reshape(4, 4)
    forward = lambda x: jax.lax.conv_general_dilated(
        x, kernel, (1, 1), "VALID", dimension_numbers=("NHWC", "HWIO", "NHWC")
    )
    _, pullback = jax.vjp(forward, jnp.zeros((1, 4, 4, 1)))
    vjp = np.asarray(pullback(jnp.asarray(y)[None, ..., None])[0])[0, ..., 0]
    ours = np.asarray(conv_transpose(jnp.asarray(y)[None, ..., None], kernel))[0, ..., 0]
    x = np.random.default_rng(0).standard_normal((4, 4)).astype(np.float32)
    conv_gap = float(np.abs(c @ x.reshape(-1) - np.asarray(forward(jnp.asarray(x)[None, ..., None])).reshape(-1)).max())

    fig, axes = plt.subplots(1, 4, figsize=(16, 3.6), gridspec_kw={"width_ratios": [4, 1, 1, 1]})
    axes[0].imshow(c, cmap="Blues")
    for (i, j), v in np.ndenumerate(c):
        if v:
            axes[0].text(j, i, f"{v:.0f}", ha="center", va="center", fontsize=8)
    axes[0].set(
        title="C (4 x 16): conv(x) = C x, rows = output cells, cols = input cells", xticks=range(16), yticks=range(4)
    )
    for ax, (title, m) in zip(axes[1:], [("y (2x2)", y), ("Cᵀy (4x4)", cty), ("vjp of conv at y", vjp)]):
        ax.imshow(m, cmap="coolwarm")
        for (i, j), v in np.ndenumerate(m):
            ax.text(j, i, f"{v:g}", ha="center", va="center", fontsize=7)
        ax.set_title(title, fontsize=9)
        ax.set_xticks([])
        ax.set_yticks([])
    fig.suptitle(
        f"kernel 1..9; max |Cᵀy - vjp| = {np.abs(cty - vjp).max():.1e}, "
        f"max |Cᵀy - conv_transpose| = {np.abs(cty - ours).max():.1e}, max |Cx - conv(x)| = {conv_gap:.1e}",
        fontsize=9,
    )
    fig.tight_layout()
    fig.savefig(out / "conv_matrix.png", dpi=110)
    plt.close(fig)
    return {
        "C": c.tolist(),
        "y": y.tolist(),
        "CTy": cty.tolist(),
        "vjp": vjp.tolist(),
        "max_abs_CTy_minus_vjp": float(np.abs(cty - vjp).max()),
        "max_abs_CTy_minus_conv_transpose": float(np.abs(cty - ours).max()),
        "max_abs_Cx_minus_conv": conv_gap,
    }


def masks_figure(args, out: Path) -> dict:
    """Cutout on CIFAR images; DropBlock on an image and on ResNet-20 feature maps; realised drop rates."""
    import jax
    import jax.numpy as jnp

    from jaxcnn.models import create_model
    from jaxcnn.regularizers import cutout, drop_block
    from jaxcnn.train.data import load_dataset, normalize

    ds = load_dataset("cifar10", args.data_root, n_train=8, n_test=1)  # the dataset's statistics come with it
    mean, std = ds.mean, ds.std
    x = jnp.asarray(normalize(ds.train.images, mean, std))
    show = lambda z: np.clip(np.asarray(z) * np.asarray(std) + np.asarray(mean), 0, 1)
    cut = cutout(jax.random.key(0), x, 16)
    db_img = drop_block(jax.random.key(1), x, 0.25, 7, per_channel=False, normalize=False)
    model = create_model("cifar_resnet20")
    variables = model.init(jax.random.key(0), x)
    feats = model.apply(variables, x, method="features")["stage2"]  # (8, 16, 16, 32)
    db_feat = drop_block(jax.random.key(2), feats, 0.25, 3, per_channel=True, normalize=False)

    # Realised drop fraction at nominal 0.1 for the two gamma rules (a mean over 64 keys).
    realised = {}
    for hw, bs in [(8, 3), (16, 3), (7, 7), (14, 7)]:
        z = jnp.ones((64, hw, hw, 8))
        for rule in ("paper", "exact"):
            kept = drop_block(jax.random.key(hw + bs), z, 0.1, bs, gamma_rule=rule, normalize=False)
            realised[f"{hw}x{hw} block {bs} {rule}"] = float(1 - jnp.mean(kept))

    fig, axes = plt.subplots(4, 8, figsize=(16, 8.4))
    for j in range(8):
        axes[0, j].imshow(show(x[j]))
        axes[1, j].imshow(show(cut[j]))
        axes[2, j].imshow(show(db_img[j]))
        ch = j * 4
        axes[3, j].imshow(np.asarray(db_feat[0, ..., ch]), cmap="viridis")
        axes[3, j].set_title(f"stage2 ch {ch}", fontsize=7)
    for ax in axes.ravel():
        ax.axis("off")
    axes[0, 0].set_title("CIFAR-10 images", fontsize=8, loc="left")
    axes[1, 0].set_title("Cutout 16x16 (fill = mean)", fontsize=8, loc="left")
    axes[2, 0].set_title("DropBlock 7x7, rate 0.25, one mask for all channels", fontsize=8, loc="left")
    fig.tight_layout(rect=(0, 0.03, 1, 1))
    fig.text(
        0.01,
        0.01,
        "row 4: DropBlock 3x3, rate 0.25, a separate mask per channel, on (untrained) ResNet-20 "
        "stage-2 maps of image 1: different channels, different holes",
        fontsize=8,
    )
    fig.savefig(out / "masks.png", dpi=100)
    plt.close(fig)
    return {
        "cutout_fraction": float(np.mean(np.asarray(cut) != np.asarray(x))),
        "dropblock_image_fraction": float(np.mean(np.asarray(db_img) == 0)),
        "dropblock_realised_at_nominal_0.1": realised,
    }


def main(argv=None) -> dict:
    args = parse_args(argv)
    command = "python -m experiments.gallery " + " ".join(sys.argv[1:] if argv is None else argv)
    from tqdm import tqdm

    args.out.mkdir(parents=True, exist_ok=True)
    t0 = time.time()
    args.espcn = None
    if args.espcn_weights != "none":
        from experiments.espcn_eval import load_espcn

        model, params = load_espcn(args.espcn_weights, SCALE)
        args.espcn = (f"ESPCN ({Path(args.espcn_weights).name})", model, params)
    summary = {"command": command}
    with tqdm(total=args.steps + 3, desc="gallery", disable=args.no_progress) as bar:
        bar.set_description("conv matrix")
        summary["conv_matrix"] = conv_matrix_figure(args.out)
        bar.update()
        bar.set_description("checkerboard")
        summary["checkerboard"] = checkerboard_figure(args, args.out)
        bar.update()
        bar.set_description("masks")
        summary["masks"] = masks_figure(args, args.out)
        bar.update()
        bar.set_description("upsampling")
        summary["upsampling"] = upsampling_gallery(args, args.out, bar)
    summary["wall_s"] = round(time.time() - t0, 1)
    (args.out / "summary.json").write_text(json.dumps(summary, indent=1))
    for k, v in summary["upsampling"]["psnr_y"].items():
        print(f"{k:45s} {v:6.2f} dB")
    print(f"wrote {args.out}/summary.json and 4 PNGs in {summary['wall_s']} s")
    return summary


if __name__ == "__main__":
    main()
