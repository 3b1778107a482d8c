"""``count_params``: a tree whose leaves are not arrays is refused, naming ``tree`` and the leaf."""

import jax
import jax.numpy as jnp
import pytest

from jaxcnn import count_params

W = jnp.ones((3, 4))

CASES = [
    ("int", lambda: count_params(5), TypeError, "tree"),
    ("list of lists", lambda: count_params([[1, 2]]), TypeError, "tree"),
    ("a float leaf among arrays", lambda: count_params({"params": {"w": W, "b": 1.0}}), TypeError, "tree"),
]


@pytest.mark.parametrize("name,call,exc,argument", CASES, ids=[c[0] for c in CASES])
def test_bad_input(bad_input, name, call, exc, argument):
    bad_input(call, exc, argument)


def test_the_message_says_where_the_leaf_is():
    with pytest.raises(TypeError, match=r"\['params'\]\['b'\]|\['b'\]"):
        count_params({"params": {"w": W, "b": 1.0}})


def test_valid_trees():
    assert count_params({}) == 0
    assert count_params({"params": {"w": W}, "batch_stats": {"m": W}}) == 12
    assert count_params(jax.eval_shape(lambda: {"w": W, "v": [W[0]]})) == 16  # ShapeDtypeStruct leaves
