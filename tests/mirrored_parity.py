"""The run behind every Mirrored-equals-single-device test: one `fit` step per global batch.

Importable from any test directory (`tests/` is on `sys.path` through its `conftest.py`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import keras
import tensorflow as tf

from gan_tf.families.gan import build_gan


def fit_batches(
    strategy: tf.distribute.Strategy,
    config: Any,
    batches: Any,
    init: list | None = None,
    build: Callable[[Any], keras.Model] = build_gan,
    prepare: Callable[[keras.Model], Any] | None = None,
) -> tuple[keras.Model, list, dict]:
    """Builds a model under `strategy` and fits it one step per global batch.

    Args:
      strategy: the strategy whose scope builds the model and whose replicas run the steps.
      config: passed to `build`.
      batches: a (nested) structure of tensors whose first axis indexes the global batches,
        e.g. `[steps, batch, H, W, C]` images or a tuple of such tensors.
      init: the values of `model.variables` to start from (another run's `start`), so both
        runs take their steps from the same weights.
      build: `config -> model`, called inside the strategy's scope.
      prepare: called on the model once its variables hold their starting values, before
        they are recorded (e.g. to enter a training phase that copies weights).

    Returns:
      `(model, start, logs)`: the trained model, the numpy values of its variables before the
      steps, and the `fit` history.
    """
    with strategy.scope():
        model = build(config)
    if init is not None:
        for variable, value in zip(model.variables, init):
            variable.assign(value)
    if prepare is not None:
        prepare(model)
    start = [v.numpy() for v in model.variables]
    steps = int(tf.nest.flatten(batches)[0].shape[0])
    dataset = tf.data.Dataset.from_tensor_slices(batches)
    history = model.fit(dataset.repeat(), steps_per_epoch=steps, epochs=1, verbose=0)
    return model, start, history.history
