"""Train state (params, batch_stats, optax state, step, RNG) and the optimiser it carries."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import flax.linen as nn
import flax.struct
import jax
import jax.numpy as jnp
import optax

from jaxcnn.validation import ArgumentTypeError, check_array, check_bool, check_key, check_number

__all__ = ["TrainState", "kernel_mask", "make_optimizer", "create_train_state"]


class TrainState(flax.struct.PyTreeNode):
    """Everything a step reads and writes; a pytree, so it checkpoints and shards as a whole
    (``apply_fn`` and ``tx`` are static: they travel with the state but never into a checkpoint)."""

    step: jax.Array
    params: Any
    batch_stats: Any
    opt_state: Any
    rng: jax.Array
    apply_fn: Callable = flax.struct.field(pytree_node=False)
    tx: optax.GradientTransformation = flax.struct.field(pytree_node=False)

    def apply_gradients(self, grads, batch_stats) -> TrainState:
        """One optimiser update; the step counter advances."""
        updates, opt_state = self.tx.update(grads, self.opt_state, self.params)
        return self.replace(
            step=self.step + 1,
            params=optax.apply_updates(self.params, updates),
            batch_stats=batch_stats,
            opt_state=opt_state,
        )

    @property
    def variables(self) -> dict:
        """The Flax variables dict for ``model.apply``."""
        return {"params": self.params, "batch_stats": self.batch_stats}


def kernel_mask(params) -> Any:
    """True for conv/dense kernels only: weight decay must skip biases and BatchNorm scale/bias."""
    return jax.tree_util.tree_map_with_path(lambda path, _: getattr(path[-1], "key", None) == "kernel", params)


def make_optimizer(
    learning_rate: float | optax.Schedule, momentum: float = 0.9, weight_decay: float = 5e-4, nesterov: bool = True
) -> optax.GradientTransformation:
    """SGD with momentum and L2 weight decay on kernels only (added to the gradient, as
    torch.optim.SGD does). ``learning_rate``: a number >= 0 or an optax schedule (unchecked);
    ``momentum`` in [0, 1) (``None`` or 0: plain SGD)."""
    if not callable(learning_rate):
        check_number(learning_rate, "learning_rate", minimum=0.0)
    if momentum is not None:
        check_number(momentum, "momentum", 0.0, 1.0, max_inclusive=False)
    check_number(weight_decay, "weight_decay", minimum=0.0)
    check_bool(nesterov, "nesterov")
    return optax.chain(
        optax.add_decayed_weights(weight_decay, mask=kernel_mask),
        optax.sgd(learning_rate, momentum=momentum or None, nesterov=nesterov and bool(momentum)),
    )


def check_optimizer(tx, name: str = "tx") -> None:
    """An optax ``GradientTransformation`` (an ``init`` and an ``update``), e.g. from :func:`make_optimizer`."""
    if not (callable(getattr(tx, "init", None)) and callable(getattr(tx, "update", None))):
        raise ArgumentTypeError(
            f"{name} must be an optax GradientTransformation (e.g. make_optimizer(0.1) or "
            f"optax.sgd(0.1)), got {tx!r} ({type(tx).__name__})"
        )


def create_train_state(
    model: nn.Module, key: jax.Array, sample_input: jax.Array, tx: optax.GradientTransformation
) -> TrainState:
    """Initialise ``model`` on ``sample_input`` (any batch size) and wrap it with ``tx``; ``key`` is
    split into the init key and the state's own RNG (per-step keys are folded from it)."""
    if not isinstance(model, nn.Module):
        raise ArgumentTypeError(
            f"model must be a flax.linen Module (e.g. create_model('resnet18')), got {model!r} ({type(model).__name__})"
        )
    check_key(key, "key")
    check_array(sample_input, "sample_input")
    check_optimizer(tx, "tx")
    init_key, rng = jax.random.split(key)
    variables = jax.jit(lambda k, x: model.init(k, x, train=False))(init_key, sample_input)
    params, batch_stats = variables["params"], variables.get("batch_stats", {})
    step = jnp.zeros((), jnp.int32)
    return TrainState(step, params, batch_stats, tx.init(params), rng, apply_fn=model.apply, tx=tx)
