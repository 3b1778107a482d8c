"""The demo's sections: each computes one figure worth showing, checks it against its oracle, and
returns a JSON-able dict (``experiments.demo`` prints them and writes the figures).

Every number here means something on its own: published parameter counts, a shipped ESPCN against
bicubic, identities that agree to rounding, receptive fields computed two independent ways, and
regulariser masks whose measured drop rates are compared with their targets.
"""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import jax
import jax.numpy as jnp
import numpy as np

from experiments.espcn_eval import load_espcn
from jaxcnn import count_params
from jaxcnn.models import create_model, default_input_shape, list_models

__all__ = [
    "PUBLISHED",
    "parameter_table",
    "espcn_section",
    "transposed_section",
    "receptive_section",
    "gallery_section",
    "masks_section",
]

# torchvision model cards, the ResNet paper's CIFAR section, SE-ResNet and timm resnet50d.
PUBLISHED = {
    "resnet18": 11_689_512,
    "resnet34": 21_797_672,
    "resnet50": 25_557_032,
    "resnet101": 44_549_160,
    "resnet152": 60_192_808,
    "resnext50_32x4d": 25_028_904,
    "resnext101_32x8d": 88_791_336,
    "wide_resnet50_2": 68_883_240,
    "wide_resnet101_2": 126_886_696,
    "mobilenet_v2": 3_504_872,
    "se_resnet50": 28_088_024,
    "resnet50d": 25_576_264,
    "cifar_resnet20": 269_722,
    "cifar_resnet32": 464_154,
    "cifar_resnet44": 658_586,
    "cifar_resnet56": 853_018,
    "cifar_resnet110": 1_727_962,
    "espcn": 22_729,  # ESPCN: 5*5*64+64 + 3*3*64*32+32 + 3*3*32*9+9
}
SCALE = 3
ESPCN_CONTEXT = 4  # mirrored LR pixels around the input at test time (the 5-3-3 receptive radius)


def parameter_table() -> list[dict]:
    """Every registry model's parameter count (from shapes only) against its published figure."""
    rows = []
    for name in list_models():
        model = create_model(name)
        shapes = jax.eval_shape(lambda: model.init(jax.random.key(0), jnp.zeros(default_input_shape(name))))
        n = count_params(shapes)
        pub = PUBLISHED.get(name)
        rows.append({"model": name, "params": n, "published": pub, "match": None if pub is None else n == pub})
    return rows


def espcn_section(data_dir: Path, weights: str, out: Path) -> dict:
    """The shipped ESPCN against MATLAB bicubic on Set5 x3 (PSNR-Y, the paper's protocol) + crops."""
    from experiments import sr_data
    from experiments.espcn_sr_loop import evaluate, save_figure

    model, params = load_espcn(weights, SCALE)
    eval_dir = data_dir / "sr" / "Set5"
    pairs = sr_data.load_pairs(eval_dir, SCALE, "matlab")
    summary = evaluate(model, params, pairs, SCALE, "matlab", ESPCN_CONTEXT)
    fig_args = SimpleNamespace(
        context=ESPCN_CONTEXT, scale=SCALE, resize="matlab", out=out, eval_only=True, eval_dir=eval_dir
    )
    save_figure(out / "espcn_sr.png", model, params, pairs, summary, fig_args)
    summary["weights"] = str(weights)
    summary["figure"] = str(out / "espcn_sr.png")
    return summary


def transposed_section() -> dict:
    """The transposed conv five ways on one strided, dilated, grouped configuration, and the worked
    4x4 -> 2x2 example as its conv matrix C (C^T y = vjp)."""
    from jaxcnn.identities import conv_matrix, conv_transpose_forms, max_disagreement

    rng = np.random.default_rng(0)
    cfg = dict(stride=(2, 3), padding=(1, 2), output_padding=(1, 0), dilation=(1, 2), groups=2)
    y = rng.standard_normal((2, 5, 4, 4)).astype(np.float32)
    kernel = rng.standard_normal((3, 3, 3, 4)).astype(np.float32)  # HWIO of the forward conv: 6 -> 4 channels
    forms = conv_transpose_forms(y, kernel, **cfg)
    diffs = max_disagreement(forms, "closed_form")
    example_kernel = np.array([[1, 4, 1], [1, 4, 3], [3, 3, 1]], np.float32)
    c = conv_matrix(example_kernel[:, :, None, None], (4, 4))
    example_y = np.array([[2, 1], [4, 4]], np.float32)
    example = conv_transpose_forms(example_y.reshape(1, 2, 2, 1), example_kernel[:, :, None, None])
    return {
        "config": {k: list(v) if isinstance(v, tuple) else v for k, v in cfg.items()},
        "y_shape": list(y.shape),
        "kernel_shape": list(kernel.shape),
        "output_shape": list(forms["closed_form"].shape),
        "max_abs_diff_vs_closed_form": diffs,
        "example_C": c.astype(int).tolist(),
        "example_y": example_y.tolist(),
        "example_CTy": (c.T @ example_y.ravel()).reshape(4, 4).tolist(),
        "example_max_abs_diff": max_disagreement(example, "closed_form"),
    }


# Small enough to measure by gradient in seconds; the test suite checks every registry model.
RF_MODELS = (
    ("espcn", {"channels": 3}, 32),
    ("cifar_resnet20", {"widths": (4, 4, 4)}, 96),
    ("resnet18", {"widths": (8,) * 4}, 480),
)


def receptive_section(out: Path) -> dict:
    """Receptive-field growth per layer (analytic, from the jaxpr) and the final field measured as
    the support of an input gradient: two independent computations that must agree."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from jaxcnn.analysis import layerwise_receptive_fields, model_function, receptive_field
    from jaxcnn.analysis.measured import measured_receptive_field, positive_variables

    rows, fig = {}, plt.figure(figsize=(7, 4))
    ax = fig.gca()
    for name, slim, hw in RF_MODELS:
        model = create_model(name, **slim)
        shape = (1, hw, hw, 3)
        fn, variables = model_function(model, shape)
        final = lambda x, v, fn=fn: fn(x, v)["final"]
        layers = layerwise_receptive_fields(final, shape, variables)
        layers = [
            lf
            for lf in layers
            if lf.primitive == "conv_general_dilated" or "reduce_window" in lf.primitive or "pool" in lf.primitive
        ]
        r = receptive_field(final, shape, variables)
        m = measured_receptive_field(final, shape, positive_variables(variables), dtype=jnp.float32)
        (h0, h1), (w0, w1) = r.field_of(*m.unit)
        rows[name] = {
            "input": hw,
            "growth": [lf.size[0] for lf in layers],
            "analytic": int(h1 - h0 + 1),
            "measured": int(m.size[0]),
            "analytic_box": [[int(h0), int(h1)], [int(w0), int(w1)]],
            "measured_box": [list(map(int, b)) for b in m.box],
            "agree": tuple(m.box) == ((h0, h1), (w0, w1)),
        }
        ax.plot(range(1, len(layers) + 1), rows[name]["growth"], marker=".", label=f"{name} (final {r.size[0]} px)")
    ax.set(
        xlabel="conv / pool layer (program order)",
        ylabel="receptive field (px)",
        title="Receptive-field growth (analytic; the final size measured by gradient agrees)",
    )
    ax.legend()
    fig.tight_layout()
    fig.savefig(out / "receptive_fields.png", dpi=110)
    plt.close(fig)
    return rows


def gallery_section(data_dir: Path, weights: str, out: Path, image: str = "butterfly") -> dict:
    """Nearest / bilinear / bicubic / ESPCN on one Set5 image, PSNR-Y each, one figure."""
    from experiments.gallery import upsampling_gallery

    model, params = load_espcn(weights, SCALE)
    args = SimpleNamespace(
        image=image,
        data_root=data_dir,
        steps=0,
        train_images=0,
        unpool=False,
        espcn=(f"ESPCN ({Path(weights).name})", model, params),
    )
    return upsampling_gallery(args, out, bar=None)


def _cutout_expected_fraction(hw: int, size: int) -> float:
    """Exact expected cut fraction of an ``hw x hw`` image: the centre is uniform over pixels and
    rows and columns are independent, so E[area] = E[rows cut] * E[cols cut]."""
    c = np.arange(hw)
    lo, hi = np.maximum(c - size // 2, 0), np.minimum(c - size // 2 + size, hw)
    return float(np.mean(hi - lo) ** 2 / hw**2)


def masks_section(out: Path, draws: int = 256) -> dict:
    """Measured drop rates of DropBlock (exact gamma), Cutout and stochastic depth against their
    targets, over ``draws`` independent masks each; a figure of a few masks."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from jaxcnn.regularizers import cutout, drop_block, stochastic_depth

    rows = []
    ones = jnp.ones((draws, 16, 16, 4))
    for rate, bs in ((0.1, 3), (0.25, 5)):
        kept = drop_block(jax.random.key(1), ones, rate, bs, gamma_rule="exact", normalize=False)
        rows.append(
            {
                "what": f"DropBlock 16x16 block {bs} (exact gamma), dropped fraction",
                "target": rate,
                "measured": float(1 - kept.mean()),
                "draws": draws,
            }
        )
    z = jnp.ones((draws, 32, 32, 1))
    cut = cutout(jax.random.key(2), z, 16)
    rows.append(
        {
            "what": "Cutout 16 on 32x32, cut fraction (exact expectation, clipped)",
            "target": _cutout_expected_fraction(32, 16),
            "measured": float(1 - cut.mean()),
            "draws": draws,
        }
    )
    for p in (0.2, 0.5):
        keys = jax.random.split(jax.random.key(3), draws)  # one coin per key in batch mode, 8 in row mode
        x = jnp.ones((8, 4))
        dropped = jax.vmap(lambda k: jnp.all(stochastic_depth(k, x, p, mode="batch", scale_by_keep=False) == 0))(keys)
        rows.append(
            {
                "what": f"stochastic depth, batch mode, drop_rate {p}: batches dropped",
                "target": p,
                "measured": float(dropped.mean()),
                "draws": draws,
            }
        )
        rowwise = jax.vmap(lambda k: stochastic_depth(k, x, p, mode="row", scale_by_keep=False)[:, 0] == 0)(keys)
        rows.append(
            {
                "what": f"stochastic depth, row mode, drop_rate {p}: rows dropped",
                "target": p,
                "measured": float(rowwise.mean()),
                "draws": draws * 8,
            }
        )
    for r in rows:  # binomial standard error of a fraction (masks are correlated within a draw: 4 sigma)
        r["tolerance"] = 4 * float(np.sqrt(r["target"] * (1 - r["target"]) / r["draws"]))
        r["ok"] = abs(r["measured"] - r["target"]) <= r["tolerance"]

    fig, axes = plt.subplots(1, 4, figsize=(12, 3.2))
    panels = [
        (
            "DropBlock bs 3, rate 0.1",
            drop_block(jax.random.key(1), ones[:1], 0.1, 3, gamma_rule="exact", normalize=False)[0, ..., 0],
        ),
        (
            "DropBlock bs 5, rate 0.25",
            drop_block(jax.random.key(4), ones[:1], 0.25, 5, gamma_rule="exact", normalize=False)[0, ..., 0],
        ),
        ("Cutout 16 on 32x32", cut[0, ..., 0]),
        ("Cutout 16 on 32x32", cut[1, ..., 0]),
    ]
    for ax, (title, m) in zip(axes, panels):
        ax.imshow(np.asarray(m), cmap="gray", vmin=0, vmax=1)
        ax.set_title(title, fontsize=9)
        ax.axis("off")
    fig.suptitle("masks (white = kept)", fontsize=10)
    fig.tight_layout()
    fig.savefig(out / "masks.png", dpi=100)
    plt.close(fig)
    return {"rows": rows}
