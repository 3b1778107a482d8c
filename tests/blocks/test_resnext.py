"""Grouped ResNeXt block == explicit split-branch block (ordinary convs only) on mapped weights."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxcnn.blocks import BottleneckBlock, ResNeXtBranches
from jaxcnn.identities.resnext import grouped_to_branches


def _randomise(variables, seed):
    # Random BN statistics and affine terms so per-channel slicing errors cannot hide.
    leaves, tree = jax.tree_util.tree_flatten(variables)
    keys = jax.random.split(jax.random.key(seed), len(leaves))
    new = [jnp.abs(jax.random.normal(k, a.shape)) + 0.5 if a.ndim == 1 else a for k, a in zip(keys, leaves)]
    return jax.tree_util.tree_unflatten(tree, new)


@pytest.mark.parametrize("groups, features, strides, in_ch", [(4, 16, 1, 64), (8, 32, 2, 64), (32, 64, 2, 128)])
def test_grouped_equals_branches(groups, features, strides, in_ch):
    x = jax.random.normal(jax.random.key(1), (2, 8, 8, in_ch))
    grouped = BottleneckBlock(features, strides, groups=groups, base_width=4)
    branches = ResNeXtBranches(features, strides, groups=groups, base_width=4)
    vg = _randomise(grouped.init(jax.random.key(0), x), 2)
    vb = grouped_to_branches(vg, groups)
    # The mapped tree has exactly the explicit block's structure and shapes.
    expect = jax.eval_shape(lambda: branches.init(jax.random.key(0), x))
    assert jax.tree_util.tree_structure(vb) == jax.tree_util.tree_structure(expect)
    # No grouped conv anywhere in the branch form.
    assert all(v["kernel"].shape[2] in (in_ch, grouped.width // groups) for k, v in vb["params"].items() if "conv" in k)
    yg, yb = grouped.apply(vg, x), branches.apply(vb, x)
    np.testing.assert_allclose(np.asarray(yb), np.asarray(yg), atol=1e-5, rtol=1e-5)
    # Train mode too: per-branch batch statistics equal the grouped block's per-channel ones.
    (tg, sg), (tb, sb) = (
        m.apply(v, x, train=True, mutable=["batch_stats"]) for m, v in ((grouped, vg), (branches, vb))
    )
    np.testing.assert_allclose(np.asarray(tb), np.asarray(tg), atol=1e-5, rtol=1e-5)
    mapped = grouped_to_branches({"params": vg["params"], "batch_stats": sg["batch_stats"]}, groups)["batch_stats"]
    for name, stat in sb["batch_stats"].items():
        np.testing.assert_allclose(np.asarray(stat["mean"]), np.asarray(mapped[name]["mean"]), atol=1e-5)


def test_mapping_rejects_wrong_group_count():
    x = jnp.zeros((1, 4, 4, 64))
    v = BottleneckBlock(16, groups=4, base_width=4).init(jax.random.key(0), x)  # width 16
    with pytest.raises(ValueError, match="groups=3"):
        grouped_to_branches(v, 3)
