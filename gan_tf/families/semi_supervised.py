"""The `semi_supervised` family: a K-class GAN discriminator as a classifier trained on few
labels (Salimans et al. 2016; `gan_tf.models.semi_supervised`).

Data: `semi.labels_per_class` labelled training images per class (a seeded "label draw"),
every training image unlabelled, and the generator's images. Its inference object holds the
EMA generator (samples, sample-quality metrics) and the classifier (the discriminator, or its
moving average with `semi.classifier_ema`), which the export serves as a `classify`
signature beside the generator's. Training-time evaluation is the test error
on `semi.eval_split`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any, NamedTuple

import keras
import numpy as np
import tensorflow as tf

from gan_tf import networks, streams
from gan_tf.config import Config
from gan_tf.errors import ConfigError, DataError, GanTfError
from gan_tf.families import register
from gan_tf.families.gan import GANFamily, build_gan
from gan_tf.models.semi_supervised import SemiSupervisedGAN
from gan_tf.networks.base import Generator
from gan_tf.networks.heads import Classifier, class_outputs

# Images classified per call.
BATCH = 500
# Training images a data-dependent initialisation sees (Salimans et al.'s 500).
INIT_IMAGES = 500
# Ways a step's labelled batch is read from the label draw (`semi.labelled_batches`).
LABELLED_BATCHES = ("drawn", "permuted")


class GeneratorAndClassifier(NamedTuple):
    """The family's inference object."""

    generator: Generator
    classifier: Classifier


def unconditional(config: Config) -> Config:
    """The config the generator and the unlabelled data are built from (no classes)."""
    return dataclasses.replace(
        config, data=dataclasses.replace(config.data, num_classes=0, normal_classes="")
    )


def labelled_split(config: Config, split: str, limit: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """The uint8 images of a split of the run's source (the first `limit`; 0 = all) with
    their labels (`gan_tf.data.pipeline.labelled_images`).

    Raises:
      DataError: when the split holds no images or has no labels.
    """
    from gan_tf.data import pipeline

    return pipeline.labelled_images(config.data, split, limit)


def label_draw(labels: np.ndarray, per_class: int, num_classes: int, seed: int) -> np.ndarray:
    """Indices of the labelled examples: the first `per_class` of each class in a permutation
    of all examples drawn from `seed`, in ascending order.

    Raises:
      DataError: when a class has fewer than `per_class` examples.
    """
    order = np.random.default_rng(seed).permutation(len(labels))
    chosen = []
    for k in range(num_classes):
        of_k = order[labels[order] == k][:per_class]
        if len(of_k) < per_class:
            raise DataError(f"class {k} has {len(of_k)} examples, fewer than {per_class}")
        chosen.append(of_k)
    return np.sort(np.concatenate(chosen))


def labelled_indices(step: tf.Tensor, batch: int, count: int, seed: int, how: str) -> tf.Tensor:
    """Which of the `count` labelled examples step `step` reads (`semi.labelled_batches`).

    `"drawn"`: `batch` indices drawn uniformly with replacement from `(seed, step)`.
    `"permuted"`: positions `step * batch ... step * batch + batch - 1` of the stream that
    concatenates, for passes e = 0, 1, ..., a permutation of the examples drawn from
    `(seed, e)`; so a resumed run reads what an uninterrupted one does.
    """
    step = tf.cast(step, tf.int64)
    if how == "drawn":
        seed_pair = streams.stream_seed(seed, step, "labelled_batch")
        return tf.random.stateless_uniform([batch], seed=seed_pair, maxval=count, dtype=tf.int32)
    positions = step * batch + tf.range(batch, dtype=tf.int64)
    passes, offsets = positions // count, positions % count
    first = passes[0]

    def permutation(e: tf.Tensor) -> tf.Tensor:
        keys = tf.random.stateless_uniform(
            [count], seed=streams.stream_seed(seed, e, "labelled_pass")
        )
        return tf.cast(tf.argsort(keys, stable=True), tf.int32)

    permutations = tf.map_fn(
        permutation, tf.range(first, passes[-1] + 1), fn_output_signature=tf.int32
    )
    return tf.gather_nd(permutations, tf.stack([passes - first, offsets], axis=1))


def predictions(classifier: Classifier, images: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Predicted classes (int64 `[n]`, the largest logit) and class probabilities (float32
    `[n, K]`, the logits' softmax) of uint8 images, in batches, as the export's `classify`."""
    predict = tf.function(lambda x: class_outputs(classifier, x))
    parts = [predict(tf.constant(images[i : i + BATCH])) for i in range(0, len(images), BATCH)]
    if not parts:
        return np.zeros([0], np.int64), np.zeros([0, int(classifier.units)], np.float32)
    return (
        np.concatenate([part["labels"].numpy() for part in parts]),
        np.concatenate([part["probabilities"].numpy() for part in parts]),
    )


def classify(classifier: Classifier, images: np.ndarray) -> np.ndarray:
    """Predicted classes of uint8 images, in batches."""
    return predictions(classifier, images)[0]


class TestError(keras.callbacks.Callback):
    """The classifier's error rate on the labelled evaluation split, to TensorBoard."""

    def __init__(self, config: Config, writer: tf.summary.SummaryWriter):
        super().__init__()
        self.config = config
        self.writer = writer
        self._data: tuple[np.ndarray, np.ndarray] | None = None
        self.history: list[tuple[int, float]] = []

    def on_train_batch_end(self, batch, logs=None) -> None:
        step = int(self.model.step_counter.numpy())
        if step % self.config.semi.eval_every == 0:
            self.evaluate(step)

    def evaluate(self, step: int) -> float:
        """Logs `semi/test_error` (the output classifier's) and, when that is a moving
        average, `semi/test_error_discriminator` (the live discriminator's)."""
        if self._data is None:
            self._data = labelled_split(self.config, self.config.semi.eval_split)
        images, labels = self._data
        error = float(np.mean(classify(self.model.output_classifier(), images) != labels))
        self.history.append((step, error))
        with self.writer.as_default(step=step):
            tf.summary.scalar("semi/test_error", error)
            if self.model.output_classifier() is not self.model.discriminator:
                live = np.mean(classify(self.model.discriminator, images) != labels)
                tf.summary.scalar("semi/test_error_discriminator", float(live))
        self.writer.flush()
        return error


@register
class SemiSupervisedFamily(GANFamily):
    """A K-class discriminator trained on few labels, with a feature-matching generator."""

    name = "semi_supervised"
    grows = False  # its own step: no level of detail
    eval_section = "semi"

    def __init__(self, config: Config):
        super().__init__(config)
        self._labelled: tuple[tf.Tensor, tf.Tensor] | None = None
        self._split: tuple[np.ndarray, np.ndarray] | None = None

    def validate(self) -> None:
        c, s = self.config, self.config.semi
        GANFamily(unconditional(c)).validate()
        if c.data.num_classes < 2:
            raise ConfigError(
                f"the semi_supervised family classifies data.num_classes >= 2 classes, got "
                f"{c.data.num_classes}"
            )
        if c.data.normal_classes.strip():
            raise ConfigError("data.normal_classes is for the anomaly family")
        if s.labels_per_class <= 0 or s.eval_every < 0 or s.unsupervised_weight < 0:
            raise ConfigError(
                "semi.labels_per_class must be > 0, semi.eval_every and "
                "semi.unsupervised_weight >= 0"
            )
        if not 0 <= s.classifier_ema < 1:
            raise ConfigError(f"semi.classifier_ema must be in [0, 1), got {s.classifier_ema}")
        if s.labelled_batches not in LABELLED_BATCHES:
            raise ConfigError(
                f"semi.labelled_batches={s.labelled_batches!r}: expected one of "
                f"{', '.join(LABELLED_BATCHES)}"
            )
        if s.match_before_noise and not (
            c.model.arch == "mlp" and float(c.model.discriminator.get("hidden_noise", 0))
        ):
            raise ConfigError(
                "semi.match_before_noise needs an mlp discriminator with hidden_noise > 0"
            )
        if c.train.d_steps != 1 or c.train.diffaugment or c.train.reuse_fakes:
            raise ConfigError(
                "the semi_supervised family takes one discriminator step per step, without "
                "DiffAugment or reuse_fakes"
            )

    def build(self) -> SemiSupervisedGAN:
        c = self.config

        def make(generator, discriminator, **settings) -> SemiSupervisedGAN:
            return SemiSupervisedGAN(
                generator,
                networks.build_classifier(c),
                unsupervised_weight=c.semi.unsupervised_weight,
                classifier_ema=c.semi.classifier_ema,
                match_before_noise=c.semi.match_before_noise,
                **settings,
            )

        return build_gan(unconditional(c), make)

    def dataset(self, start_step: int) -> tf.data.Dataset:
        """`(unlabelled, (labelled, labels))` global batches: the training pipeline's images,
        and labelled images of the draw chosen statelessly from `train.seed` and the step
        (`labelled_indices`)."""
        from gan_tf.data import pipeline

        c = self.config
        unlabelled = pipeline.train_dataset(unconditional(c), start_step)
        x, y = self.labelled_examples()
        count = int(y.shape[0])

        def pick(step: tf.Tensor):
            index = labelled_indices(
                step, c.train.batch_size, count, c.train.seed, c.semi.labelled_batches
            )
            return tf.gather(x, index), tf.gather(y, index)

        labelled = tf.data.Dataset.counter(start_step).map(pick)
        options = tf.data.Options()
        options.experimental_distribute.auto_shard_policy = (
            tf.data.experimental.AutoShardPolicy.DATA
        )
        return tf.data.Dataset.zip((unlabelled, labelled)).with_options(options).prefetch(2)

    def training_split(self) -> tuple[np.ndarray, np.ndarray]:
        """The training split's uint8 images and labels, read once for the initialisation
        and the label draw, and let go once the draw is made."""
        if self._split is None:
            c = self.config
            self._split = labelled_split(c, c.data.split, c.data.limit)
        return self._split

    def labelled_examples(self) -> tuple[tf.Tensor, tf.Tensor]:
        """The label draw's images in [-1, 1] and int32 labels (a run makes a dataset per
        `fit` call, and the draw is made once)."""
        if self._labelled is None:
            from gan_tf.data import pipeline

            c = self.config
            images, labels = self.training_split()
            chosen = label_draw(
                labels, c.semi.labels_per_class, c.data.num_classes, c.semi.label_seed
            )
            self._labelled = (
                pipeline.to_unit_range(tf.constant(images[chosen])),
                tf.constant(labels[chosen].astype(np.int32)),
            )
            self._split = None
        return self._labelled

    def initialise(self, model: SemiSupervisedGAN) -> None:
        """With `model.discriminator.data_init`, the classifier's data-dependent
        initialisation on `INIT_IMAGES` training images drawn from `train.seed`."""
        if not model.discriminator.data_init:
            return
        from gan_tf.data import pipeline

        images, _ = self.training_split()
        seed = self.config.train.seed
        chosen = np.random.default_rng(seed).permutation(len(images))[:INIT_IMAGES]
        model.initialise_from_data(pipeline.to_unit_range(tf.constant(images[chosen])), seed)

    def checkpoint_items(self, model: SemiSupervisedGAN) -> Mapping[str, Any]:
        items = dict(super().checkpoint_items(model))
        if model.ema_classifier is not None:
            items["ema_classifier"] = model.ema_classifier
        return items

    def callbacks(self, model: SemiSupervisedGAN, writer, guard) -> list:
        if self.config.semi.eval_every <= 0:
            return []
        return [TestError(self.config, writer)]

    # -- outputs -----------------------------------------------------------------------

    def inference(self, model: SemiSupervisedGAN) -> GeneratorAndClassifier:
        return GeneratorAndClassifier(model.output_generator(), model.output_classifier())

    def load(self, workdir: str) -> tuple[GeneratorAndClassifier, int]:
        from gan_tf import checkpoint
        from gan_tf import workdir as workdir_lib

        generator, _ = networks.build(unconditional(self.config))
        classifier = networks.build_classifier(self.config)
        for net in (generator, classifier):
            net(net.dummy_inputs())
        classifier_item = "ema_classifier" if self.config.semi.classifier_ema else "discriminator"
        items = {"ema_generator": generator, classifier_item: classifier}
        try:
            step = checkpoint.restore_items(items, workdir_lib.checkpoint_dir(workdir))
        except FileNotFoundError:
            raise GanTfError(f"{workdir} holds no checkpoint yet") from None
        generator.recompute_statistics()
        return GeneratorAndClassifier(generator, classifier), step

    def grid_inputs(self):
        return GANFamily(unconditional(self.config)).grid_inputs()

    def sample_grid(self, inference: GeneratorAndClassifier) -> np.ndarray:
        return super().sample_grid(inference.generator)

    def generate(self, inference: GeneratorAndClassifier):
        return super().generate(inference.generator)

    def generated_classes(self) -> int:
        return 0  # the generator is unconditional; the classes are the classifier's

    def export(
        self, inference: GeneratorAndClassifier, export_dir: str, metadata: dict[str, Any]
    ) -> str:
        from gan_tf import export

        return export.export_classifier(
            inference.generator,
            inference.classifier,
            export_dir,
            metadata,
            warmup_requests=self.config.export.warmup_requests,
        )
