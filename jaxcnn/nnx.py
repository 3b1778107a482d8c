"""The NNX face of every registry model: ``create_model(name, *, rngs, **overrides)``.

jaxcnn's Linen models reach NNX through ``flax.nnx.bridge.ToNNX``, so one definition serves both and the
weights are the same arrays (:func:`load_variables` / :func:`linen_variables` move Linen variables in and
out). ``model.train()`` / ``model.eval()`` set the mode; a model starts in training mode, where BatchNorm
updates ``batch_stats`` in place and stochastic layers draw from the ``'dropout'`` stream::

    model = jaxcnn.nnx.create_model("cifar_resnet20", rngs=nnx.Rngs(0))
    optimizer = nnx.Optimizer(model, optax.sgd(0.1, momentum=0.9), wrt=nnx.Param)
    loss, grads = nnx.value_and_grad(loss_fn)(model)  # inside an @nnx.jit train step
    optimizer.update(model, grads)
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
from flax import nnx
from flax.nnx import bridge
from flax.nnx.bridge import variables as bridge_variables

from jaxcnn import models as _models
from jaxcnn.validation import ArgumentTypeError, check_int_tuple

__all__ = ["LinenModel", "create_model", "load_variables", "linen_variables"]


class LinenModel(nnx.Module):
    """An ``nnx.Module`` running a jaxcnn Linen model (through ``flax.nnx.bridge.ToNNX``).

    ``model(x)`` is ``module.apply(variables, x, train=not model.deterministic)``, with
    ``batch_stats`` updated in place when training; ``model.features(x)`` likewise for models
    with named features. ``input_shape`` is the NHWC shape used to create the variables.
    """

    def __init__(self, module: nn.Module, input_shape: Sequence[int], *, rngs: nnx.Rngs):
        if not isinstance(module, nn.Module):
            raise ArgumentTypeError(f"module must be a flax.linen Module, got {type(module).__name__}")
        input_shape = _check_input_shape(input_shape, module)
        if not isinstance(rngs, nnx.Rngs):
            raise ArgumentTypeError(f"rngs must be an nnx.Rngs, got {type(rngs).__name__}")
        self.linen = bridge.ToNNX(module, rngs=rngs)
        self.linen.lazy_init(jnp.zeros(input_shape, jnp.float32), train=False)
        self.deterministic = False  # NNX convention: layers start in training mode
        self.mutable_collections = tuple(c for c in linen_variables(self) if c != "params")

    def _apply(self, x, method=None):
        train = not self.deterministic
        mutable = list(self.mutable_collections) if train and self.mutable_collections else False
        return self.linen(x, train=train, method=method, mutable=mutable)

    def __call__(self, x: jax.Array) -> jax.Array:
        return self._apply(x)

    def features(self, x: jax.Array):
        """The Linen model's named feature maps (``features`` method)."""
        return self._apply(x, method="features")


def _check_input_shape(input_shape: Any, module: nn.Module) -> tuple[int, ...]:
    """An NHWC shape of positive sizes whose channel count is the one the model declares."""
    shape = check_int_tuple(input_shape, "input_shape", minimum=1, length=4)
    for field in ("in_channels", "channels"):  # ResNet/MobileNetV2, ESPCN
        declared = getattr(module, field, None)
        if isinstance(declared, int) and shape[-1] != declared:
            raise ValueError(
                f"input_shape {shape} has {shape[-1]} channels but the model was built with {field}={declared}"
            )
    return shape


def _check_model(model: Any) -> None:
    if not isinstance(model, LinenModel):
        raise ArgumentTypeError(
            f"model must be a jaxcnn.nnx.LinenModel (from jaxcnn.nnx.create_model), got {type(model).__name__}"
        )


def create_model(name: str, *, rngs: nnx.Rngs, input_shape: Sequence[int] | None = None, **overrides) -> LinenModel:
    """NNX version of ``jaxcnn.models.create_model``: same names, same ``overrides``.

    ``rngs`` (an ``nnx.Rngs``) seeds the parameters; give it a ``dropout`` stream for models with
    stochastic layers (``nnx.Rngs(0, dropout=1)``). ``input_shape`` defaults to
    ``jaxcnn.models.default_input_shape(name)``; only its channel count matters to the weights, and
    it must be the model's (``in_channels``, ESPCN's ``channels``).
    """
    module = _models.create_model(name, **overrides)
    shape = _models.default_input_shape(name) if input_shape is None else tuple(input_shape)
    return LinenModel(module, shape, rngs=rngs)


def load_variables(model: LinenModel, variables: dict) -> LinenModel:
    """Replace ``model``'s state with Linen ``variables`` (``{'params': ..., 'batch_stats': ...}``),
    e.g. converted torchvision weights; the trees must match the model's own, leaf shapes included.
    Returns ``model``."""
    _check_model(model)
    if not isinstance(variables, Mapping):
        raise ArgumentTypeError(
            f"variables must be a mapping of collections, e.g. {{'params': ...}}, got {type(variables).__name__}"
        )
    old = linen_variables(model)
    if jax.tree_util.tree_structure(dict(variables)) != jax.tree_util.tree_structure(old):
        raise ValueError("variables do not have the model's tree (collections and submodule names)")
    # the same tree with other shapes (weights of a 10-class head into a 100-class model) would load silently
    for (path, got), want in zip(jax.tree_util.tree_leaves_with_path(dict(variables)), jax.tree_util.tree_leaves(old)):
        if jnp.shape(got) != jnp.shape(want):
            raise ValueError(
                f"variables{jax.tree_util.keystr(path)} has shape {jnp.shape(got)}, the model's is {jnp.shape(want)}"
            )
    for attr, value in bridge_variables.linen_vars_to_nnx_attrs(variables).items():
        setattr(model.linen, attr, nnx.data(value))
    return model


def linen_variables(model: LinenModel) -> dict:
    """The model's state as Linen variables ``{'params': ..., 'batch_stats': ...}`` (plain arrays)."""
    _check_model(model)
    attrs = {k: v for k, v in vars(model.linen).items() if not k.startswith(("to_nnx__", "_pytree__"))}
    return bridge_variables.nnx_attrs_to_linen_vars(attrs)
