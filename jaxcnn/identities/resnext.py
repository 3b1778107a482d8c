"""ResNeXt: the grouped-convolution block (form c) equals the explicit split-branch block (form a).

A grouped conv with C groups is C independent convs on channel slices of width d, and BN is per
channel, so output slice ``[i*d:(i+1)*d]`` of ``conv1``, ``bn1``, ``conv2`` and ``bn2`` is branch i's;
``conv3`` sums over input channels, so its input-row slice i is branch i's last 1x1 and the
branches' outputs add up to the grouped block's.
"""

from __future__ import annotations

from collections.abc import Mapping

from jaxcnn.validation import check_positive_int

__all__ = ["grouped_to_branches"]

_NEEDED = ("conv1", "conv2", "conv3", "bn1", "bn2")


def _check_block(variables) -> tuple:
    """``(params, batch_stats)`` of a grouped bottleneck block's variables, or an error naming ``variables``."""
    if not isinstance(variables, Mapping) or not isinstance(variables.get("params"), Mapping):
        raise TypeError(
            f"variables must be a BottleneckBlock's variables {{'params': ..., 'batch_stats': ...}}, "
            f"got {type(variables).__name__}"
        )
    params, stats = variables["params"], variables.get("batch_stats", {})
    missing = [k for k in _NEEDED if k not in params]
    if missing or any("kernel" not in params[k] for k in ("conv1", "conv2", "conv3")):
        raise ValueError(
            f"variables['params'] lacks the bottleneck block's {missing or 'conv kernels'}; it has "
            f"{sorted(params)} (pass the variables of one BottleneckBlock, not of a whole model)"
        )
    return params, stats


def grouped_to_branches(variables: dict, groups: int) -> dict:
    """Map the variables of a grouped ``BottleneckBlock`` to those of ``ResNeXtBranches``.

    ``groups`` must be the block's own group count: it is checked against the grouped conv's kernel
    (HWIO, ``I = width / groups``), since another divisor of the width would split silently wrong."""
    groups = check_positive_int(groups, "groups")
    params, stats = _check_block(variables)
    width = params["conv1"]["kernel"].shape[-1]
    if width % groups:
        raise ValueError(f"groups={groups} does not divide the block's inner width {width}")
    d = width // groups
    if params["conv2"]["kernel"].shape[2] != d:
        raise ValueError(
            f"groups={groups} does not match the block: its grouped conv2 kernel has "
            f"{params['conv2']['kernel'].shape[2]} input channels per group, groups={groups} implies {d}"
        )
    sl = lambda i: slice(i * d, (i + 1) * d)
    new_p, new_s = {}, {}
    for i in range(groups):
        new_p[f"conv1_{i}"] = {"kernel": params["conv1"]["kernel"][..., sl(i)]}
        new_p[f"conv2_{i}"] = {"kernel": params["conv2"]["kernel"][..., sl(i)]}
        new_p[f"conv3_{i}"] = {"kernel": params["conv3"]["kernel"][:, :, sl(i), :]}
        for bn in ("bn1", "bn2"):
            new_p[f"{bn}_{i}"] = {k: v[sl(i)] for k, v in params[bn].items()}
            if bn in stats:
                new_s[f"{bn}_{i}"] = {k: v[sl(i)] for k, v in stats[bn].items()}
    shared = ("bn3", "conv_proj", "norm_proj")  # outside the branches: copied as they are
    new_p |= {k: params[k] for k in shared if k in params}
    new_s |= {k: stats[k] for k in shared if k in stats}
    return {"params": new_p, "batch_stats": new_s} if stats else {"params": new_p}
