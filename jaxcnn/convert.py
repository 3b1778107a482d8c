"""Convert a checkpoint to Flax variables (or back to a torch layout), without pickle.

    python -m jaxcnn.convert resnet50d.safetensors resnet50d_flax.safetensors --arch resnet50d
    python -m jaxcnn.convert resnet50.pth resnet50.msgpack                # arch and layout detected
    python -m jaxcnn.convert finetuned.msgpack back.safetensors --to timm  # Flax -> timm state dict
    python -m jaxcnn.convert runs/espcn/params.npz espcn.safetensors --arch espcn --set scale=3

SRC: ``.safetensors`` (timm, torchvision or jaxcnn layout; read with numpy only), torch ``.pth``/``.pt``/
``.bin`` (needs torch; ``weights_only=True``), jaxcnn ``.msgpack``, or an experiments ``.npz`` of the
``params`` collection. DST: ``.safetensors`` or ``.msgpack`` of Flax variables (``jaxcnn.pretrained(DST)``
reads it back; architecture and overrides are in its metadata), or with ``--to timm|torchvision`` a
torch-layout ``.safetensors`` state dict. Prints the number of tensors and each name it mapped.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

__all__ = ["convert", "main"]


def _kv(text: str) -> tuple[str, object]:
    if "=" not in text:
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
    key, value = text.split("=", 1)
    try:
        return key, json.loads(value)
    except json.JSONDecodeError:
        return key, value


def parse_args(argv=None) -> argparse.Namespace:
    from jaxcnn.models import list_models

    p = argparse.ArgumentParser(
        prog="python -m jaxcnn.convert",
        description=__doc__.splitlines()[0],
        epilog=__doc__.split("\n\n", 1)[1],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("src", help="checkpoint to read")
    p.add_argument("dst", help="file to write (.safetensors or .msgpack)")
    p.add_argument("--arch", help="jaxcnn registry name (default: from metadata or inferred from the keys)")
    layouts = ("flax", "timm", "torchvision")
    p.add_argument("--source-format", choices=layouts, help="key layout of SRC (default: detected from the keys)")
    p.add_argument("--num-classes", type=int, help="replace the head by a fresh one of this size")
    for flag, metavar, text in (
        ("--set", "FIELD=VALUE", "model field override, e.g. scale=3 (JSON values); recorded in DST's metadata"),
        ("--meta", "KEY=VALUE", "extra string metadata for a Flax DST (e.g. a measured figure)"),
    ):
        p.add_argument(flag, type=_kv, action="append", default=[], metavar=metavar, help=text)
    p.add_argument("--to", choices=layouts, default="flax", help="layout of DST: Flax variables or a torch state dict")
    p.add_argument("--quiet", action="store_true", help="print the count only, not every name")
    args = p.parse_args(argv)
    # what argparse cannot check (a missing SRC is reported by convert: main prints it and returns 1)
    if args.to != "flax" and not args.dst.endswith(".safetensors"):
        p.error(f"--to {args.to} writes a torch state dict: DST must end in .safetensors, got {args.dst!r}")
    if not args.dst.endswith((".safetensors", ".msgpack")):
        p.error(f"DST must end in .safetensors or .msgpack (never a pickle), got {args.dst!r}")
    if args.arch is not None and args.arch not in list_models():
        p.error(f"--arch {args.arch!r} is not a jaxcnn registry name; choose from {', '.join(list_models())}")
    if args.num_classes is not None and args.num_classes < 1:
        p.error(f"--num-classes must be >= 1, got {args.num_classes}")
    if Path(args.dst).resolve() == Path(args.src).resolve():
        p.error(f"dst {args.dst!r} is src: the conversion would overwrite its input")
    return args


def convert(args: argparse.Namespace) -> list[tuple[str, str]]:
    """Do the conversion; returns ``[(source name, written name), ...]``."""
    from jaxcnn.interop import files, keymaps
    from jaxcnn.interop.state_dict import abstract_variables
    from jaxcnn.interop.torch import export_state_dict
    from jaxcnn.pretrained import list_pretrained, pretrained, resolve_source

    overrides = dict(args.set)
    if not isinstance(args.src, str) or (args.src not in list_pretrained() and not Path(args.src).is_file()):
        raise ValueError(f"src {args.src!r} is neither a file nor a shipped checkpoint; shipped: {list_pretrained()}")
    state_dict, meta = files.read_checkpoint(resolve_source(args.src))
    layout = args.source_format or keymaps.detect_layout(state_dict)
    arch = args.arch or (meta.get("arch") if layout == "flax" else keymaps.infer_arch(state_dict, layout))
    if arch is None:
        raise ValueError(f"{args.src} does not record its architecture; pass --arch")
    fields = {**(json.loads(meta.get("overrides", "{}")) if layout == "flax" else {}), **overrides}
    fields.pop("num_classes", None)  # the head size comes from the checkpoint or --num-classes
    model, variables = pretrained(state_dict, arch=arch, source_format=layout, num_classes=args.num_classes, **fields)
    flat = files.flatten_variables(variables)

    def torch_keys(lay: str) -> dict[str, str]:  # flax path -> torch key
        return {"/".join(p): key for p, (key, _) in keymaps.key_map(model, abstract_variables(model), lay).items()}

    src_names = {k: k for k in flat} if layout == "flax" else torch_keys(layout)
    if args.to == "flax":
        if hasattr(model, "num_classes"):
            overrides["num_classes"] = model.num_classes
        files.write_flax(args.dst, variables, arch, overrides, {k: str(v) for k, v in args.meta})
        return [(src_names.get(k, "(new head)"), k) for k in flat]
    head_free = {k: v for k, v in overrides.items() if k != "num_classes"}
    sd = export_state_dict(variables, arch, args.dst, layout=args.to, **head_free)
    back = {key: path for path, key in torch_keys(args.to).items()}
    return [(src_names.get(back[k], "(new head)"), k) for k in sd if k in back]


def main(argv=None) -> int:
    args = parse_args(argv)
    try:
        pairs = convert(args)
    except ValueError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    if not args.quiet:
        for src, dst in pairs:
            print(f"{src} -> {dst}")
    print(f"mapped {len(pairs)} tensors: {args.src} -> {args.dst} ({args.to})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
