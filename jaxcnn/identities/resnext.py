"""ResNeXt: the grouped-convolution block (form c) equals the explicit split-branch block (form a).

A grouped 3x3 conv with C groups is C independent convs on channel slices of width d. So the
grouped block's weights split exactly into C branches:

* ``conv1`` (1x1, in -> C*d): output slice ``[i*d:(i+1)*d]`` is branch i's 1x1 conv;
* ``bn1``/``bn2`` are per-channel, so slice ``i`` is branch i's BN;
* ``conv2`` (grouped, HWIO kernel (3, 3, d, C*d)): output slice i is branch i's dense 3x3;
* ``conv3`` (1x1, C*d -> out) is a sum over input channels, so its input-row slice i is
  branch i's last 1x1 and the branches' outputs add up to the grouped block's.
"""

from __future__ import annotations

__all__ = ["grouped_to_branches"]


def grouped_to_branches(variables: dict, groups: int) -> dict:
    """Map the variables of a grouped ``BottleneckBlock`` to those of ``ResNeXtBranches``."""
    params, stats = variables["params"], variables.get("batch_stats", {})
    width = params["conv1"]["kernel"].shape[-1]
    if width % groups:
        raise ValueError(f"groups={groups} does not divide the block's inner width {width}")
    d = width // groups
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
    for name in ("bn3", "conv_proj", "norm_proj"):
        if name in params:
            new_p[name] = params[name]
        if name in stats:
            new_s[name] = stats[name]
    out = {"params": new_p}
    if stats:
        out["batch_stats"] = new_s
    return out
