"""Training engine: train state, jit steps, data parallelism (pmap, jit+mesh, multi-host),
orbax checkpoints and the shared image datasets."""

from jaxcnn.train.parallel import (AXIS, make_mesh, mesh_step, pmap_step, put_batch, put_replicated, replicate,
                                   select_devices, shard_batch, unreplicate)
from jaxcnn.train.state import TrainState, create_train_state, kernel_mask, make_optimizer
from jaxcnn.train.steps import classification_loss, make_eval_step, make_train_step, regression_loss

__all__ = [
    "AXIS", "TrainState", "classification_loss", "create_train_state", "kernel_mask", "make_eval_step",
    "make_mesh", "make_optimizer", "make_train_step", "mesh_step", "pmap_step", "put_batch", "put_replicated",
    "regression_loss", "replicate", "select_devices", "shard_batch", "unreplicate",
]
