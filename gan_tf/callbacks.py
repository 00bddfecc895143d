"""Keras callbacks of a training run: non-finite guard, checkpoints, signals, TensorBoard."""

from __future__ import annotations

import logging
import math
import signal
import threading
import time
from collections.abc import Callable

import keras
import numpy as np
import tensorflow as tf

from gan_tf import images
from gan_tf.checkpoint import Checkpointer
from gan_tf.models.gan import GAN
from gan_tf.networks.base import condition

log = logging.getLogger(__name__)


def _step(model: GAN) -> int:
    return int(model.step.numpy())


def _scalar(value) -> float:
    """A log value as a float (multi-worker runs log rank-1 values)."""
    return float(np.asarray(value).reshape(-1)[0])


class NonFiniteGuard(keras.callbacks.Callback):
    """Stops training at the first NaN/Inf loss and remembers where and what it was."""

    def __init__(self):
        super().__init__()
        self.failure: str | None = None

    def on_train_batch_end(self, batch, logs=None):
        values = {k: _scalar(v) for k, v in (logs or {}).items()}
        bad = {k: v for k, v in values.items() if not math.isfinite(v)}
        if bad:
            values = ", ".join(f"{k}={v}" for k, v in sorted(bad.items()))
            self.failure = f"non-finite loss at step {_step(self.model)}: {values}"
            self.model.stop_training = True


def all_finite(model: GAN) -> bool:
    """Whether every variable of the generator and discriminator is finite."""
    variables = model.generator.variables + model.discriminator.variables
    return all(
        bool(tf.reduce_all(tf.math.is_finite(v))) for v in variables if "float" in str(v.dtype)
    )


class CheckpointEvery(keras.callbacks.Callback):
    """Saves a checkpoint every `every` steps, unless a loss or a weight is not finite.

    Args:
      checkpointer: saves the state.
      every: steps between checkpoints (0 = never).
      guard: the run's non-finite guard.
      finite: model -> whether its weights are all finite (the family's check).
    """

    def __init__(
        self,
        checkpointer: Checkpointer,
        every: int,
        guard: NonFiniteGuard,
        finite: Callable[[keras.Model], bool],
    ):
        super().__init__()
        self.checkpointer = checkpointer
        self.every = every
        self.guard = guard
        self.finite = finite

    def on_train_batch_end(self, batch, logs=None):
        step = _step(self.model)
        if self.guard.failure is not None or not self.every or step % self.every:
            return
        if not self.finite(self.model):
            self.guard.failure = f"non-finite weights at step {step}"
            self.model.stop_training = True
            return
        self.checkpointer.save()


class StopOnSignal(keras.callbacks.Callback):
    """Turns SIGINT (Ctrl-C) and SIGTERM (what orchestrators send) into a clean stop.

    Used as a context manager around training, it handles both signals: the first one is
    recorded in `received` and stops `fit` at the end of the running step, so the caller can
    save a checkpoint; a second one raises `KeyboardInterrupt` at once. Signal handlers can
    only be set on the main thread; elsewhere (e.g. inside an orchestrator's worker thread)
    signals keep their previous behaviour.
    """

    SIGNALS = (signal.SIGINT, signal.SIGTERM)

    def __init__(self):
        super().__init__()
        self.received: int | None = None
        self._previous: dict[int, object] = {}

    def _handle(self, signum, frame):
        if self.received is not None:
            raise KeyboardInterrupt
        self.received = signum
        log.warning(
            "%s received: stopping after the current step and saving a checkpoint "
            "(send it again to stop at once, without saving)",
            signal.Signals(signum).name,
        )

    def on_train_batch_end(self, batch, logs=None):
        if self.received is not None:
            self.model.stop_training = True

    def __enter__(self) -> StopOnSignal:
        if threading.current_thread() is threading.main_thread():
            self._previous = {s: signal.signal(s, self._handle) for s in self.SIGNALS}
        return self

    def __exit__(self, *exc) -> None:
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)
        self._previous = {}


class TensorBoardLogger(keras.callbacks.Callback):
    """Writes loss scalars, throughput and the family's sample grid (`samples/ema`).

    With `logdir=None` (non-chief workers) nothing is written.

    Args:
      logdir: event file directory, or None.
      log_every: steps between scalar writes.
      image_every: steps between sample grids.
      grid: returns the current sample grid, uint8 HWC.
      batch_size: global batch size (for images/s).
      guard: the run's non-finite guard.
    """

    def __init__(
        self,
        logdir: str | None,
        log_every: int,
        image_every: int,
        grid: Callable[[], np.ndarray],
        batch_size: int,
        guard: NonFiniteGuard,
    ):
        super().__init__()
        self.writer = (
            tf.summary.create_file_writer(logdir) if logdir else tf.summary.create_noop_writer()
        )
        self.log_every = log_every
        self.image_every = image_every
        self.grid = grid
        self.batch_size = batch_size
        self.guard = guard
        self._last = (None, None)

    def on_train_begin(self, logs=None):
        self._last = (_step(self.model), time.perf_counter())

    def on_train_batch_end(self, batch, logs=None):
        if self.guard.failure is not None:
            return
        step = _step(self.model)
        with self.writer.as_default(step=step):
            if self.log_every and step % self.log_every == 0:
                for name, value in (logs or {}).items():
                    tf.summary.scalar(f"losses/{name}", _scalar(value))
                last_step, last_time = self._last
                now = time.perf_counter()
                if last_step is not None and step > last_step:
                    rate = (step - last_step) * self.batch_size / (now - last_time)
                    tf.summary.scalar("throughput/images_per_second", rate)
                self._last = (step, now)
            if self.image_every and step % self.image_every == 0:
                self.write_samples(step)

    def write_samples(self, step: int, grid: np.ndarray | None = None) -> None:
        """Writes the sample grid (made now unless given) at `step`."""
        grid = self.grid() if grid is None else grid
        with self.writer.as_default(step=step):
            tf.summary.image("samples/ema", grid[None], step=step)
        self.writer.flush()

    def on_train_end(self, logs=None):
        self.writer.flush()


def grid_inputs(latent_dim: int, num_classes: int, count: int, seed: int):
    """Fixed latents for sample grids; conditional models get labels 0, 1, ..., K-1 repeated,
    `count` rounded up to whole rows of K, so that each grid column is one class."""
    if num_classes > 0:
        count = -(-count // num_classes) * num_classes
    z = tf.random.stateless_normal([count, latent_dim], seed=[seed, 2**31 - 1])
    return z, condition(np.arange(count) % max(num_classes, 1), num_classes, count)


def sample_grid(generator, inputs) -> np.ndarray:
    """A generator's images of `grid_inputs` as one uint8 grid (a column per class)."""
    samples = images.to_uint8(generator(inputs, training=False))
    num_classes = getattr(generator, "num_classes", 0)
    return images.make_grid(samples, cols=num_classes if num_classes > 0 else None)
