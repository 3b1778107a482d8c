"""Small tree utilities."""

from __future__ import annotations

import jax
import numpy as np

__all__ = ["count_params"]


def count_params(tree) -> int:
    """Number of scalars in a pytree of arrays (pass ``variables['params']`` for trainable ones).

    Works on concrete arrays and on ``jax.ShapeDtypeStruct`` leaves from ``jax.eval_shape``.
    If given the full variables dict, only the ``'params'`` collection is counted.
    """
    if isinstance(tree, dict) and "params" in tree:
        tree = tree["params"]
    return int(sum(int(np.prod(leaf.shape)) for leaf in jax.tree_util.tree_leaves(tree)))
