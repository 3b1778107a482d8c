"""Small tree utilities."""

from __future__ import annotations

import jax
import numpy as np

from jaxcnn.validation import ArgumentTypeError

__all__ = ["count_params"]


def count_params(tree) -> int:
    """Number of scalars in a pytree of arrays or ``jax.ShapeDtypeStruct`` leaves; of a full variables
    dict only the ``'params'`` collection is counted. A leaf that is not an array is refused, named."""
    if tree is None:
        raise ArgumentTypeError("tree must be a pytree of arrays (e.g. variables['params']), got None")
    if isinstance(tree, dict) and "params" in tree:
        tree = tree["params"]
    leaves = jax.tree_util.tree_leaves_with_path(tree)
    for path, leaf in leaves:
        if not hasattr(leaf, "shape"):
            where = f" at {jax.tree_util.keystr(path)}" if path else ""
            raise ArgumentTypeError(
                f"tree must be a pytree of arrays (e.g. variables['params']), got a leaf{where} of type "
                f"{type(leaf).__name__}: {leaf!r:.60}"
            )
    return int(sum(int(np.prod(leaf.shape)) for _, leaf in leaves))
