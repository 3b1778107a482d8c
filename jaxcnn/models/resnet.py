"""The ResNet family as one configurable module: ResNet, CIFAR ResNet, pre-activation ResNet,
ResNeXt, Wide ResNet, SE-ResNet and ResNet-D are ``functools.partial`` configurations of it
(see ``jaxcnn.models`` for the registry).

Layout follows torchvision so converted weights line up name for name: stem ``conv1``/``bn1``,
blocks ``layer{stage}_{index}`` (torchvision's ``layer{stage}.{index}``), head ``fc``.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Any, Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp

from jaxcnn.blocks.residual import BLOCKS
from jaxcnn.remat import remat as tied_remat
from jaxcnn.layers import CONV_GRADS, global_avg_pool, batch_norm, check_nhwc, conv, max_pool_torch

STEMS = ("imagenet", "deep", "cifar", "preact_imagenet", "preact_cifar")


class _ScanCell(nn.Module):
    """Adapts a block to ``nn.scan``'s ``(carry, x) -> (carry, y)`` signature; ``train`` is static."""

    block_cls: Any
    block_kwargs: tuple
    train: bool

    @nn.compact
    def __call__(self, x, _):
        return self.block_cls(**dict(self.block_kwargs), name="block")(x, self.train), None


class ResNet(nn.Module):
    """Configurable residual network on NHWC input.

    Args (fields):
      block: ``'basic' | 'bottleneck' | 'preact_basic' | 'preact_bottleneck'``.
      stage_sizes: blocks per stage, e.g. ``(3, 4, 6, 3)`` for ResNet-50.
      widths: the ``features`` ("planes") of each stage; the first stage has stride 1, the rest 2.
      stem: ``'imagenet'`` (7x7/2 conv-BN-ReLU + 3x3/2 max-pool), ``'deep'`` (ResNet-D: three
        3x3 convs 32-32-64), ``'cifar'`` (3x3 conv-BN-ReLU), ``'preact_imagenet'`` /
        ``'preact_cifar'`` (the same convs with no BN-ReLU; blocks start with BN-ReLU and a final
        BN-ReLU follows the last stage).
      shortcut: ``'A' | 'B' | 'C' | 'D'`` (see ``jaxcnn.blocks.residual``).
      stochastic_depth: drop rate of the *last* block, 1 - p_L (0.5 is the paper's setting);
        the per-block rates follow ``stochastic_depth_rule`` (see
        ``jaxcnn.regularizers.survival_probabilities``).
      drop_block_rate, drop_block_size, drop_block_stages: DropBlock after every block of the
        listed stages (1-based; the paper's groups 3 and 4), identity at eval. The rate is
        static; for the paper's linear keep-prob ramp rebuild the model or apply
        ``jaxcnn.regularizers.DropBlock`` with a traced ``drop_rate`` in your own module.
      scan_stages: run each stage's identical blocks (all but the first) as one ``nn.scan``;
        compiles once per stage instead of once per block. Parameters then carry a leading
        block axis under ``layer{s}_rest``; ``scan_to_unrolled``/``unrolled_to_scan`` convert.
        The scanned blocks' convs use canonical gradients (``jaxcnn.canonical_conv``): inside
        a loop body XLA:CPU otherwise runs conv gradients ~27x slower (resnet50 step 143 s -> 4.8 s).
      conv_grad: how every conv computes its gradients, ``'xla'``, ``'canonical'`` or
        ``'gemm'`` (``jaxcnn.layers.conv``'s ``grad``; ``benchmarks/bench_train.py throughput``
        measures them side by side).
      remat: recompute each block's activations in the backward pass (``jaxcnn.remat.remat``,
        which, unlike ``nn.remat``, is not undone by XLA:CPU's CSE). Measured (resnet50, 224 px,
        batch 8, train-step temp memory from ``memory_analysis()``): 0.46x of the plain step
        with remat, 0.48x with scan+remat; step time 1.11x and 0.95x.
    """

    block: str = "basic"
    stage_sizes: Sequence[int] = (2, 2, 2, 2)
    widths: Sequence[int] = (64, 128, 256, 512)
    num_classes: int = 1000
    in_channels: int = 3
    stem: str = "imagenet"
    shortcut: str = "B"
    groups: int = 1
    base_width: int = 64
    stride_on_3x3: bool = True
    se_reduction: int | None = None
    zero_init_last_bn: bool = False
    stochastic_depth: float = 0.0
    stochastic_depth_rule: str = "paper"
    stochastic_depth_mode: str = "batch"
    stochastic_depth_test_rule: str = "paper"
    drop_block_rate: float = 0.0
    drop_block_size: int = 7
    drop_block_stages: Sequence[int] = (3, 4)
    scan_stages: bool = False
    remat: bool = False
    conv_grad: str = "xla"
    bn_axis_name: str | None = None
    dtype: Any = None

    def __call__(self, x: jax.Array, train: bool = False) -> jax.Array:
        """Class logits (float32) for an NHWC batch."""
        return self._forward(x, train, head=True)["logits"]

    def features(self, x: jax.Array, train: bool = False) -> "OrderedDict[str, jax.Array]":
        """Named NHWC feature maps: ``stem``, ``stage1``..``stageN``, ``final`` (before pooling)."""
        return self._forward(x, train, head=False)

    # -- configuration helpers -------------------------------------------------------------

    def _validate(self):
        if self.block not in BLOCKS:
            raise ValueError(f"block must be one of {sorted(BLOCKS)}, got {self.block!r}")
        if self.stem not in STEMS:
            raise ValueError(f"stem must be one of {STEMS}, got {self.stem!r}")
        if len(self.stage_sizes) != len(self.widths):
            raise ValueError(f"stage_sizes {tuple(self.stage_sizes)} and widths {tuple(self.widths)} differ in length")
        if not 0.0 <= self.stochastic_depth <= 1.0:
            raise ValueError(f"stochastic_depth (final drop rate) must be in [0, 1], got {self.stochastic_depth}")
        if self.conv_grad not in CONV_GRADS:
            raise ValueError(f"conv_grad must be one of {CONV_GRADS}, got {self.conv_grad!r}")
        if self.scan_stages and (self.stochastic_depth > 0 or self.drop_block_rate > 0):
            raise ValueError("scan_stages=True does not support stochastic_depth or drop_block_rate yet")

    def _block_kwargs(self) -> dict:
        kw = dict(shortcut_type=self.shortcut, bn_axis_name=self.bn_axis_name, dtype=self.dtype, conv_grad=self.conv_grad)
        if self.block in ("basic", "bottleneck"):
            kw["zero_init_last_bn"] = self.zero_init_last_bn
        if self.block in ("bottleneck", "preact_bottleneck"):
            kw.update(groups=self.groups, base_width=self.base_width)
        if self.block == "bottleneck":
            kw.update(stride_on_3x3=self.stride_on_3x3, se_reduction=self.se_reduction)
        elif self.se_reduction is not None:
            raise ValueError(f"se_reduction is only supported with block='bottleneck', got block={self.block!r}")
        if self.stochastic_depth > 0:
            kw.update(drop_path_mode=self.stochastic_depth_mode, drop_path_test_rule=self.stochastic_depth_test_rule)
        return kw

    def drop_rates(self) -> list[float]:
        """Per-block drop rates 1 - p_l, in network order (all zero without stochastic depth)."""
        total = sum(self.stage_sizes)
        if self.stochastic_depth == 0:
            return [0.0] * total
        from jaxcnn.regularizers import survival_probabilities

        probs = survival_probabilities(total, final_survival=1.0 - self.stochastic_depth, rule=self.stochastic_depth_rule)
        return [1.0 - float(p) for p in probs]

    # -- the network -----------------------------------------------------------------------

    def _bn(self, train, name):
        return batch_norm(train, name=name, axis_name=self.bn_axis_name, dtype=self.dtype)

    def _stem(self, x, train):
        s = self.stem
        if s in ("imagenet", "preact_imagenet"):
            x = conv(self.widths[0], 7, 2, dtype=self.dtype, grad=self.conv_grad, name="conv1")(x)
        elif s == "deep":
            for i, f in enumerate((32, 32)):
                x = conv(f, 3, 2 if i == 0 else 1, dtype=self.dtype, grad=self.conv_grad, name=f"conv1_{i}")(x)
                x = nn.relu(self._bn(train, f"bn1_{i}")(x))
            x = conv(self.widths[0], 3, dtype=self.dtype, grad=self.conv_grad, name="conv1")(x)
        else:  # cifar stems
            x = conv(self.widths[0], 3, dtype=self.dtype, grad=self.conv_grad, name="conv1")(x)
        if not s.startswith("preact"):
            x = nn.relu(self._bn(train, "bn1")(x))
        if s in ("imagenet", "deep", "preact_imagenet"):
            x = max_pool_torch(x, 3, 2, 1)
        return x

    @nn.compact
    def _forward(self, x, train, head):
        self._validate()
        check_nhwc(x, "x", channels=self.in_channels)
        block_cls = BLOCKS[self.block]
        if self.remat:  # with scan_stages this covers each stage's first block; the scan cell is rematted below
            block_cls = tied_remat(block_cls, static_argnums=(2,))
        kw = self._block_kwargs()
        rates = iter(self.drop_rates())
        feats = OrderedDict()

        def drop_block(x, stage, j):
            if self.drop_block_rate == 0 or stage not in tuple(self.drop_block_stages):
                return x
            from jaxcnn.regularizers import DropBlock

            return DropBlock(self.drop_block_rate, self.drop_block_size, name=f"dropblock{stage}_{j}")(x, not train)

        x = self._stem(x, train)
        feats["stem"] = x
        for i, (n, width) in enumerate(zip(self.stage_sizes, self.widths)):
            stride = 1 if i == 0 else 2
            x = block_cls(width, stride, drop_path_rate=next(rates), name=f"layer{i + 1}_0", **kw)(x, train)
            x = drop_block(x, i + 1, 0)
            if self.scan_stages and n > 1:
                cell = nn.remat(_ScanCell) if self.remat else _ScanCell
                scan = nn.scan(
                    cell,
                    variable_axes={"params": 0, "batch_stats": 0},
                    split_rngs={"params": True, "dropout": True},
                    length=n - 1,
                )
                cell_grad = "canonical" if self.conv_grad == "xla" else self.conv_grad
                cell_kw = tuple(sorted(dict(kw, features=width, conv_grad=cell_grad).items()))
                x, _ = scan(BLOCKS[self.block], cell_kw, train, name=f"layer{i + 1}_rest")(x, None)
                for _ in range(n - 1):
                    next(rates)
            else:
                for j in range(1, n):
                    x = block_cls(width, 1, drop_path_rate=next(rates), name=f"layer{i + 1}_{j}", **kw)(x, train)
                    x = drop_block(x, i + 1, j)
            feats[f"stage{i + 1}"] = x
        if self.block.startswith("preact"):
            x = nn.relu(self._bn(train, "bn_final")(x))  # blocks end with an add, not an activation
        feats["final"] = x
        if head:
            pooled = global_avg_pool(x)
            feats["logits"] = jnp.asarray(nn.Dense(self.num_classes, dtype=self.dtype, name="fc")(pooled), jnp.float32)
        return feats


# -- parameter layout converters for scan_stages --------------------------------------------


def scan_to_unrolled(variables: dict, stage_sizes: Sequence[int]) -> dict:
    """Map a ``scan_stages=True`` variables tree to the unrolled layout (``layer{s}_{j}``)."""
    out = {}
    for col, tree in variables.items():
        new = {}
        for name, sub in tree.items():
            if name.endswith("_rest"):
                stage = name[: -len("_rest")]
                n = stage_sizes[int(stage[len("layer"):]) - 1]
                for j in range(1, n):
                    new[f"{stage}_{j}"] = jax.tree_util.tree_map(lambda a, j=j: a[j - 1], sub["block"])
            else:
                new[name] = sub
        out[col] = new
    return out


def unrolled_to_scan(variables: dict, stage_sizes: Sequence[int]) -> dict:
    """Inverse of ``scan_to_unrolled``: stack blocks 1..n-1 of each stage under ``layer{s}_rest``."""
    out = {}
    for col, tree in variables.items():
        new = {k: v for k, v in tree.items() if not any(k == f"layer{s + 1}_{j}" for s, n in enumerate(stage_sizes) for j in range(1, n))}
        for s, n in enumerate(stage_sizes):
            blocks = [tree[f"layer{s + 1}_{j}"] for j in range(1, n) if f"layer{s + 1}_{j}" in tree]
            if blocks:
                new[f"layer{s + 1}_rest"] = {"block": jax.tree_util.tree_map(lambda *a: jnp.stack(a), *blocks)}
        out[col] = new
    return out
