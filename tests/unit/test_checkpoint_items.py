"""Restoring named items: what is asked for must be in the checkpoint."""

import keras
import pytest
import tensorflow as tf

from gan_tf import checkpoint
from gan_tf.checkpoint import Checkpointer
from gan_tf.errors import TrainingError


def saved(tmp_path) -> str:
    step = tf.Variable(7, dtype=tf.int64)
    items = {"encoder": keras.Variable([1.0, 2.0]), "generator": keras.Variable(3.0)}
    Checkpointer(items, step, str(tmp_path), 3).save()
    return str(tmp_path)


def test_named_items_are_restored_alone(tmp_path):
    directory = saved(tmp_path)
    encoder = keras.Variable([0.0, 0.0])
    assert checkpoint.restore_items({"encoder": encoder}, directory) == 7
    assert encoder.numpy().tolist() == [1.0, 2.0]


def test_an_item_missing_from_the_checkpoint_is_an_error(tmp_path):
    directory = saved(tmp_path)
    # e.g. an encoder asked of a checkpoint written without one: it must not stay random.
    with pytest.raises(TrainingError, match="can be restored"):
        checkpoint.restore_items({"discriminator": keras.Variable(0.0)}, directory)
