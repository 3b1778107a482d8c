"""A tiny conv net with BatchNorm for fast engine tests (independent of jaxcnn.models)."""

from __future__ import annotations

import flax.linen as nn
import jax.numpy as jnp

from jaxcnn.models import create_model

# A one-block-per-stage CIFAR ResNet: the real registry model, small enough for CPU tests.
SMALL_RESNET = dict(stage_sizes=(1, 1, 1), widths=(4, 8, 8))


class TinyCNN(nn.Module):
    """conv-BN-relu x2, global pool, dense. ``bn_axis_name`` syncs BN statistics under pmap."""

    num_classes: int = 10
    width: int = 8
    bn_axis_name: str | None = None
    dropout: float = 0.0

    @nn.compact
    def __call__(self, x, train: bool = False):
        for i, stride in enumerate((1, 2)):
            x = nn.Conv(self.width * (i + 1), (3, 3), strides=stride, padding=1, use_bias=False)(x)
            x = nn.BatchNorm(use_running_average=not train, momentum=0.9, epsilon=1e-5, axis_name=self.bn_axis_name)(x)
            x = nn.relu(x)
        x = jnp.mean(x, axis=(1, 2))
        x = nn.Dropout(self.dropout, deterministic=not train)(x)
        return nn.Dense(self.num_classes)(x)


def make_tiny(num_classes: int = 10, in_channels: int | None = None, **overrides) -> TinyCNN:
    """Factory in the ``module:callable`` form the CLI accepts (``in_channels`` is inferred)."""
    return TinyCNN(num_classes=num_classes, **overrides)


def small_resnet(**overrides):
    """``cifar_resnet20`` shrunk to one block per stage and widths 4-8-8."""
    return create_model("cifar_resnet20", **{**SMALL_RESNET, **overrides})


class CutoutNet(nn.Module):
    """Cutout(4) on its own 'augment' stream, then a linear classifier; returns the cut images too."""

    @nn.compact
    def __call__(self, x, train: bool = False):
        from jaxcnn.regularizers import Cutout

        cut = Cutout(4, rng_collection="augment")(x, deterministic=not train)
        return {"logits": nn.Dense(10)(cut.reshape(x.shape[0], -1)), "cut": cut}


def cut_loss(outputs, batch):
    """Classification loss on ``CutoutNet``'s logits; reports the fraction of cut-out (zero) pixels."""
    from jaxcnn.train import classification_loss

    loss, aux = classification_loss(outputs["logits"], batch["label"])
    return loss, {**aux, "cut_fraction": jnp.mean(outputs["cut"] == 0)}
