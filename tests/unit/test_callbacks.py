"""Training callbacks: a checkpoint is never written from non-finite weights."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

from gan_tf import callbacks, families
from gan_tf.checkpoint import Checkpointer
from gan_tf.config import Config


@pytest.mark.parametrize("network", ["generator", "discriminator"])
def test_periodic_checkpoint_refuses_non_finite_weights_when_losses_are_finite(tmp_path, network):
    """A step's logged losses are computed before its update, so weights that the update
    made NaN pass the loss guard on that step; the weight check is what keeps them out of the
    checkpoint."""
    cfg = Config().override(
        [
            "model.arch=dcgan",
            "model.generator.width=4",
            "model.discriminator.width=4",
            "model.latent_dim=8",
        ]
    )
    family = families.for_config(cfg)
    gan = family.build()
    items = family.checkpoint_items(gan)
    checkpointer = Checkpointer(items, family.step_variable(gan), str(tmp_path))
    guard = callbacks.NonFiniteGuard()
    every = callbacks.CheckpointEvery(checkpointer, 2, guard, family.finite)
    for cb in (guard, every):
        cb.set_model(gan)
    finite_logs = {"g_loss": 0.7, "d_loss": 1.3}

    gan.step_counter.assign(2)
    guard.on_train_batch_end(1, finite_logs)
    every.on_train_batch_end(1, finite_logs)
    assert tf.train.latest_checkpoint(str(tmp_path)).endswith("ckpt-2")

    weight = getattr(gan, network).trainable_variables[0]
    weight.assign(np.full(weight.shape, np.nan, "float32"))
    gan.step_counter.assign(4)
    guard.on_train_batch_end(3, finite_logs)
    assert guard.failure is None  # the losses are finite
    every.on_train_batch_end(3, finite_logs)
    assert guard.failure == "non-finite weights at step 4"
    assert gan.stop_training
    assert tf.train.latest_checkpoint(str(tmp_path)).endswith("ckpt-2")
