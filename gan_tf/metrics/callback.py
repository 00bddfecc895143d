"""Training-time evaluation: sample-quality metrics of the EMA generator into TensorBoard.

Every `eval.every` steps, `eval.num_samples` images from the EMA generator (seeds 0..N-1, so
the curve follows one fixed set of latents) are scored against the first `eval.num_samples`
images of the training data with `score_generator`. The reference statistics are computed
once per run and kept in memory. Scalars go to `eval/<metric key>` (e.g. `eval/kid_domain`)
in the run's TensorBoard log; the wall time of each evaluation to `eval/seconds`.
"""

from __future__ import annotations

import logging
import time

import keras
import numpy as np
import tensorflow as tf

from gan_tf.config import Config
from gan_tf.errors import ConfigError
from gan_tf.metrics import api, sources

log = logging.getLogger(__name__)


class EvalCallback(keras.callbacks.Callback):
    """Scores the EMA generator every `config.eval.every` steps."""

    def __init__(self, config: Config, writer: tf.summary.SummaryWriter, guard=None):
        super().__init__()
        self.config = config
        self.every = config.eval.every
        self.writer = writer
        self.guard = guard
        self.metrics = api.parse_metrics(config.eval.metrics, config.eval.features)
        dim = api.FEATURE_DIMS[config.eval.features]
        if "fid" in self.metrics and config.eval.num_samples <= dim:
            raise ConfigError(
                f"eval.num_samples={config.eval.num_samples} is too few for FID with "
                f"{config.eval.features} features ({dim}-d covariance): use more than {dim} "
                "samples or eval.metrics=kid"
            )
        self._reference: list[np.ndarray] | None = None
        self.history: list[tuple[int, dict]] = []

    def _reference_batches(self) -> list[np.ndarray]:
        """The first `num_samples` training images, read once and kept (uint8, small)."""
        if self._reference is None:
            from gan_tf.data import pipeline

            num = self.config.eval.num_samples
            ds = pipeline.image_batches(self.config.data, batch_size=500, limit=num)
            self._reference = [b.numpy() for b in ds]
        return self._reference

    def evaluate(self, step: int) -> dict:
        start = time.perf_counter()
        cfg = self.config.eval
        result = api.score_generator(
            sources.seeded(self.model.output_generator(), "EMA generator"),
            self._reference_batches(),
            cfg.num_samples,
            metrics=self.metrics,
            features=cfg.features,
            batch_size=250 if cfg.features == "domain" else 50,
            num_classes=self.config.data.num_classes,
        )
        seconds = time.perf_counter() - start
        scalars = {k: v for k, v in result.items() if isinstance(v, float)}
        with self.writer.as_default(step=step):
            for key, value in scalars.items():
                tf.summary.scalar(f"eval/{key}", value)
            tf.summary.scalar("eval/seconds", seconds)
        self.writer.flush()
        log.info(
            "step %d eval (%d samples, %s features, %.1f s): %s",
            step,
            cfg.num_samples,
            cfg.features,
            seconds,
            ", ".join(f"{k}={v:.4g}" for k, v in scalars.items()),
        )
        self.history.append((step, scalars))
        return result

    def on_train_batch_end(self, batch, logs=None):
        if self.guard is not None and self.guard.failure is not None:
            return
        step = int(self.model.step.numpy())
        if not self.every or step % self.every:
            return
        weights = self.model.ema_generator.weights
        if not all(np.all(np.isfinite(w.numpy())) for w in weights):
            log.warning("step %d: EMA generator weights are not finite; evaluation skipped", step)
            return
        self.evaluate(step)
