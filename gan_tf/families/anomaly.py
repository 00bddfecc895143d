"""The `anomaly` family: f-AnoGAN anomaly detection (Schlegl et al. 2019).

A GAN (the `gan` family's networks, step and EMA generator) is trained on normal data only
(`data.normal_classes`, or a source holding only normal images); the last
`anomaly.encoder_steps` steps then train an encoder E with G and D frozen
(`gan_tf.models.anomaly`). Its inference object is a `gan_tf.detector.Detector`, whose
`score` is the one scoring path of the CLI, the pipeline's gate, TensorBoard and the
export's `score` signature. Training-time evaluation is AUROC on a labelled held-out split
(normal = `data.normal_classes`, anomalous = every other class).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import keras
import numpy as np
import tensorflow as tf

from gan_tf import networks
from gan_tf.config import Config, parse_classes
from gan_tf.detector import Detector
from gan_tf.errors import ConfigError, GanTfError
from gan_tf.families import register
from gan_tf.families.gan import GANFamily, build_gan
from gan_tf.models.anomaly import AnomalyGAN


def labelled_images(
    config: Config, limit: int = 0, split: str | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """The held-out evaluation images (uint8) and whether each is anomalous.

    Reads `split` (default `anomaly.eval_split`) of the run's source with every class; an
    image is normal when its label is one of `data.normal_classes`.

    Raises:
      ConfigError: without `data.normal_classes`.
      DataError: when the split has no labels, or lacks normal or anomalous images.
    """
    from gan_tf.data import pipeline
    from gan_tf.errors import DataError

    normal = parse_classes(config.data.normal_classes)
    if not normal:
        raise ConfigError("labelled evaluation needs data.normal_classes (e.g. 0 or 3,5)")
    split = split or config.anomaly.eval_split
    images, labels = pipeline.labelled_images(config.data, split, limit)
    anomalous = ~np.isin(labels, normal)
    if anomalous.all() or not anomalous.any():
        raise DataError(
            f"split {split!r} ({len(labels)} images) needs both normal "
            f"(classes {config.data.normal_classes}) and anomalous images"
        )
    return images, anomalous


class EncoderPhase(keras.callbacks.Callback):
    """Switches the model to the phase of its step (`AnomalyGAN.set_phase`) when training
    starts and after every step, tracing the train function again when the phase changes."""

    def on_train_begin(self, logs=None) -> None:
        self._enter()

    def on_train_batch_end(self, batch, logs=None) -> None:
        self._enter()

    def _enter(self) -> None:
        if self.model.set_phase(int(self.model.step_counter.numpy())):
            self.model.make_train_function(force=True)


class DetectionEval(keras.callbacks.Callback):
    """AUROC, AUPRC and score histograms on the held-out split during the encoder steps."""

    def __init__(self, family: AnomalyFamily, writer: tf.summary.SummaryWriter):
        super().__init__()
        self.family = family
        self.every = family.config.anomaly.eval_every
        self.writer = writer
        self._data: tuple[np.ndarray, np.ndarray] | None = None
        self._detector: Detector | None = None
        self.history: list[tuple[int, dict]] = []

    def on_train_batch_end(self, batch, logs=None) -> None:
        step = int(self.model.step_counter.numpy())
        if step > self.model.gan_steps and step % self.every == 0:
            self.evaluate(step)

    def evaluate(self, step: int) -> dict:
        from gan_tf.metrics import detection

        if self._data is None:
            self._data = labelled_images(
                self.family.config, self.family.config.anomaly.eval_samples
            )
        images, anomalous = self._data
        if self._detector is None:  # the networks are live; G is frozen in this phase
            self._detector = self.family.inference(self.model)
        scores = self._detector.score(images)["scores"]
        result = detection.summary(scores, anomalous, self.family.config.anomaly.fpr)
        self.history.append((step, result))
        with self.writer.as_default(step=step):
            for key in ("auroc", "auprc", "tpr"):
                tf.summary.scalar(f"anomaly/{key}", result[key])
            tf.summary.histogram("anomaly/score_normal", scores[~anomalous])
            tf.summary.histogram("anomaly/score_anomalous", scores[anomalous])
        self.writer.flush()
        return result


@register
class AnomalyFamily(GANFamily):
    """A GAN on normal data and an encoder inverting its generator; scores anomalies."""

    name = "anomaly"
    grows = False  # the encoder reads full-resolution images
    eval_section = "anomaly"

    @property
    def gan_steps(self) -> int:
        return self.config.train.steps - self.config.anomaly.encoder_steps

    def validate(self) -> None:
        super().validate()
        c, a = self.config, self.config.anomaly
        if c.data.num_classes:
            raise ConfigError(
                "the anomaly family is unconditional (data.num_classes=0); choose the normal "
                "data with data.normal_classes"
            )
        parse_classes(c.data.normal_classes)
        if not 0 < a.encoder_steps < c.train.steps:
            raise ConfigError(
                f"anomaly.encoder_steps={a.encoder_steps} must be positive and less than "
                f"train.steps={c.train.steps} (the GAN trains first)"
            )
        if a.encoder_lr <= 0 or a.feature_weight < 0:
            raise ConfigError("anomaly.encoder_lr must be > 0 and anomaly.feature_weight >= 0")
        if not 0.0 <= a.fpr <= 1.0:
            raise ConfigError(f"anomaly.fpr must be in [0, 1], got {a.fpr}")
        if a.eval_every < 0 or a.eval_samples < 0:
            raise ConfigError("anomaly.eval_every and anomaly.eval_samples must be >= 0")
        if a.eval_every and not c.data.normal_classes.strip():
            raise ConfigError("anomaly.eval_every needs data.normal_classes (what is normal)")
        if networks.resolved_kwargs(c.model, "encoder").get("mbstd_group"):
            raise ConfigError(
                "model.encoder.mbstd_group must be 0: an encoder maps each image alone"
            )

    def build(self) -> AnomalyGAN:
        c, a = self.config, self.config.anomaly

        def make(generator, discriminator, **settings) -> AnomalyGAN:
            encoder = networks.build_encoder(c)
            return AnomalyGAN(
                generator, discriminator, encoder, self.gan_steps, a.feature_weight, **settings
            )

        # Adam's default moments: the encoder solves a regression, not a game.
        return build_gan(c, make, e_optimizer=keras.optimizers.Adam(a.encoder_lr))

    def checkpoint_items(self, model: AnomalyGAN) -> Mapping[str, Any]:
        return {
            **super().checkpoint_items(model),
            "encoder": model.encoder,
            "e_optimizer": model.e_optimizer,
        }

    def finite(self, model: AnomalyGAN) -> bool:
        return super().finite(model) and all(
            bool(tf.reduce_all(tf.math.is_finite(v))) for v in model.encoder.variables
        )

    def learning_rates(self, model: AnomalyGAN) -> list:
        return [*super().learning_rates(model), (model.e_optimizer, self.config.anomaly.encoder_lr)]

    def callbacks(self, model: AnomalyGAN, writer, guard) -> list:
        hooks = [EncoderPhase(), *super().callbacks(model, writer, guard)]
        if self.config.anomaly.eval_every:
            hooks.append(DetectionEval(self, writer))
        return hooks

    # -- outputs -----------------------------------------------------------------------

    def inference(self, model: AnomalyGAN) -> Detector:
        return Detector(
            model.output_generator(),
            model.discriminator,
            model.encoder,
            self.config.anomaly.feature_weight,
        )

    def load(self, workdir: str) -> tuple[Detector, int]:
        from gan_tf import checkpoint
        from gan_tf import workdir as workdir_lib

        generator, discriminator = networks.build(self.config)
        encoder = networks.build_encoder(self.config)
        for net in (generator, discriminator, encoder):
            net(net.dummy_inputs())
        items = {"ema_generator": generator, "discriminator": discriminator, "encoder": encoder}
        try:
            step = checkpoint.restore_items(items, workdir_lib.checkpoint_dir(workdir))
        except FileNotFoundError:
            raise GanTfError(f"{workdir} holds no checkpoint yet") from None
        if step <= self.gan_steps:
            raise GanTfError(
                f"{workdir}'s newest checkpoint (step {step}) is from before the encoder steps "
                f"(steps {self.gan_steps + 1}-{self.config.train.steps}): train on to score images"
            )
        generator.recompute_statistics()
        return Detector(generator, discriminator, encoder, self.config.anomaly.feature_weight), step

    def sample_grid(self, detector: Detector) -> np.ndarray:
        return super().sample_grid(detector.generator)

    def generate(self, detector: Detector):
        return super().generate(detector.generator)

    def export(self, detector: Detector, export_dir: str, metadata: dict[str, Any]) -> str:
        from gan_tf import export

        return export.export_detector(
            detector, export_dir, metadata, warmup_requests=self.config.export.warmup_requests
        )
