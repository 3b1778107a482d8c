"""Training engine: train state, open jit steps, the one trainer (``fit``: jit on a device mesh,
eval, checkpoints, progress), checksummed orbax checkpoints, data parallelism (mesh first, pmap
legacy) and the shared image datasets."""

from jaxcnn.train.checkpoint import Checkpointer
from jaxcnn.train.fit import FitResult, fit
from jaxcnn.train.parallel import (
    AXIS,
    make_mesh,
    mesh_step,
    pmap_step,
    put_batch,
    put_replicated,
    replicate,
    select_devices,
    shard_batch,
    unreplicate,
)
from jaxcnn.train.state import TrainState, create_train_state, kernel_mask, make_optimizer
from jaxcnn.train.steps import (
    classification_loss,
    count_bad_labels,
    make_eval_step,
    make_train_step,
    regression_loss,
    step_rngs,
)

__all__ = [
    "AXIS",
    "Checkpointer",
    "FitResult",
    "TrainState",
    "classification_loss",
    "count_bad_labels",
    "create_train_state",
    "fit",
    "kernel_mask",
    "make_eval_step",
    "make_mesh",
    "make_optimizer",
    "make_train_step",
    "mesh_step",
    "pmap_step",
    "put_batch",
    "put_replicated",
    "regression_loss",
    "replicate",
    "select_devices",
    "shard_batch",
    "step_rngs",
    "unreplicate",
]
