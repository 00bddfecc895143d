"""Training progress for whoever displays it (the pipeline's per-component lines).

`train` adds a `StepReporter`; while a `listen(fn)` block is open, `fn(step, total)` is
called after every training step. Nothing is called (and nothing is read from the model)
when nobody listens.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator

import keras

Listener = Callable[[int, int], None]
_listeners: list[Listener] = []


@contextlib.contextmanager
def listen(listener: Listener) -> Iterator[None]:
    """Calls `listener(step, total_steps)` after each training step inside the block."""
    _listeners.append(listener)
    try:
        yield
    finally:
        _listeners.remove(listener)


class StepReporter(keras.callbacks.Callback):
    """Tells the listeners the model's step after every batch."""

    def __init__(self, total_steps: int):
        super().__init__()
        self.total_steps = total_steps

    def on_train_batch_end(self, batch, logs=None):
        if _listeners:
            step = int(self.model.step.numpy())
            for listener in list(_listeners):
                listener(step, self.total_steps)
