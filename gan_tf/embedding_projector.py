"""TensorBoard's embedding projector of generated samples: their latents, classes and images.

At the end of training (and with `gan-tf embed`), a generative run's TensorBoard directory
(`<workdir>/tensorboard`) gets `train.embed_samples` generated images as a projector
embedding, shown in TensorBoard's Projector tab:

    checkpoint                 TF checkpoint state naming the latents checkpoint below
    plugins/org_tensorflow_tensorboard_projector/    the projector plugin's asset directory
      projector_config.pbtxt   the embedding: tensor name, metadata and sprite (relative paths)
      latents_n<N>.*           a TF checkpoint of the latents z `[N, latent_dim]`
      metadata.tsv             one row per point: seed; `asked`, the class a conditional
                               generator was asked for; `class` and `confidence`, the domain
                               classifier's arg-max class and its softmax probability
      sprite.png               the N images tiled row-major without padding (the thumbnails)

Point i is the image of seed i, made as everywhere (`gan_tf.sampling`): z from
`latents_for_seeds`, class `i % K` for a conditional generator. The embedding is therefore a
pure function of the checkpoint and N, and the latents of seeds `0..N-1` never change
during a run.

Crash safety: the asset directory is built beside and swapped in whole (`files.building_dir`),
then the checkpoint state is replaced atomically. TensorBoard reloads the projector when the
checkpoint state names another checkpoint; N is in its name, so a new N is picked up live (a
rewrite with the same N changes only labels and sprite, which TensorBoard reads per request).
A crash between the two renames leaves a state naming a checkpoint that is gone: TensorBoard
then lists no embedding for the run until the next write, and never reads a mix.

Labels (`train.embed_labels`): the domain classifier (`gan_tf.metrics.domain`) is an MNIST
digit classifier. `auto` uses it for MNIST-like data (TFDS `mnist`, or TFRecord/folder
images that are 28x28 grayscale) and leaves the class columns out otherwise (a Fashion-MNIST
shirt would get a digit), `domain` always uses it, `none` never. Which one was used, and why,
is written beside the run's other texts in TensorBoard (`projector/labels`).
"""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import tensorflow as tf
from tensorboard.plugins.projector import metadata as projector_metadata

from gan_tf import files, images, sampling
from gan_tf.config import Config, DataConfig
from gan_tf.errors import ConfigError, DataError

log = logging.getLogger(__name__)

LABELS = ("auto", "domain", "none")
# The plugin's asset directory in a run: plugins/org_tensorflow_tensorboard_projector.
ASSETS = os.path.join(projector_metadata.PLUGINS_DIR, projector_metadata.PLUGIN_ASSETS_NAME)
TENSOR_NAME = "latents/.ATTRIBUTES/VARIABLE_VALUE"  # `tf.train.Checkpoint(latents=...)`
METADATA = "metadata.tsv"
SPRITE = "sprite.png"
# The projector's WebGL texture limit: the sprite must fit in 8192 x 8192 pixels.
MAX_SPRITE_SIDE = 8192
BATCH = 250  # images per generator and classifier call


def checkpoint_name(num: int) -> str:
    """The latents checkpoint's prefix in the asset directory (N in it: see module doc)."""
    return f"latents_n{num}"


def validate(config: Config, count_key: str = "train.embed_samples") -> None:
    """Checks `train.embed_samples` (named `count_key` in messages) and `train.embed_labels`.

    Raises:
      ConfigError: for a negative count, a sprite wider than the projector shows, or an
        unknown labelling.
    """
    t = config.train
    if t.embed_samples < 0:
        raise ConfigError(f"{count_key} must be >= 0, got {t.embed_samples}")
    if t.embed_labels not in LABELS:
        raise ConfigError(
            f"train.embed_labels={t.embed_labels!r}; expected one of {', '.join(LABELS)}"
        )
    side = math.ceil(math.sqrt(t.embed_samples)) * config.data.image_size
    if side > MAX_SPRITE_SIDE:
        most = (MAX_SPRITE_SIDE // config.data.image_size) ** 2
        raise ConfigError(
            f"{count_key}={t.embed_samples} images of {config.data.image_size} px make "
            f"a {side} px sprite; the projector shows at most {MAX_SPRITE_SIDE} px: use at "
            f"most {most}"
        )


def mnist_like(data: DataConfig) -> bool:
    """Whether the domain classifier's digit classes mean something for this data."""
    if data.source == "tfds":
        return data.name == "mnist"
    return data.image_size == 28 and data.channels == 1


def labelling(config: Config) -> tuple[bool, str]:
    """Whether to label points with the domain classifier, and the reason, for the note."""
    mode = config.train.embed_labels
    if mode == "none":
        return False, "train.embed_labels=none"
    if mode == "domain":
        return True, "train.embed_labels=domain"
    data = config.data
    what = f"tfds:{data.name}" if data.source == "tfds" else f"{data.source} images"
    if mnist_like(data):
        return True, f"{what} are MNIST-like (train.embed_labels=auto)"
    return False, (
        f"{what} are not MNIST digits, which the domain classifier knows "
        "(train.embed_labels=auto; =domain labels them anyway)"
    )


def sprite(batch: np.ndarray) -> np.ndarray:
    """uint8 NHWC images tiled row-major into a square of `ceil(sqrt(N))` columns, unpadded
    (the projector cuts the sprite into `single_image_dim` tiles)."""
    n, h, w, c = batch.shape
    cols = math.ceil(math.sqrt(n))
    rows = math.ceil(n / cols)
    padded = np.zeros((rows * cols, h, w, c), np.uint8)
    padded[:n] = batch
    tiles = padded.reshape(rows, cols, h, w, c).transpose(0, 2, 1, 3, 4)
    return tiles.reshape(rows * h, cols * w, c)


def metadata_tsv(columns: dict[str, list[str]]) -> str:
    """The projector's metadata: a header row, then one row per point. A single column has
    no header (the projector's format reads a tab-free first line as a point's label)."""
    names = list(columns)
    rows = zip(*columns.values())
    lines = ["\t".join(row) for row in rows]
    if len(names) > 1:
        lines.insert(0, "\t".join(names))
    return "\n".join(lines) + "\n"


@dataclass
class Embedding:
    """What the projector shows: latents, images and the metadata columns of N points."""

    latents: np.ndarray  # float32 [N, latent_dim]
    images: np.ndarray  # uint8 [N, H, W, C]
    columns: dict[str, list[str]]
    note: str


def make_embedding(
    config: Config,
    generate: Callable[[np.ndarray], np.ndarray],
    num_classes: int,
    num: int,
) -> Embedding:
    """Generates seeds `0..num-1` and labels them.

    Args:
      config: the run's configuration (latent size, data, `train.embed_labels`).
      generate: the family's `seeds -> uint8 images`.
      num_classes: K when image i was asked for class `i % K`, else 0.
      num: points.

    Returns:
      The embedding; `columns` holds `seed`, `asked` (K > 0) and, when the domain
      classifier labels this data, `class` and `confidence`.
    """
    from gan_tf.metrics import sources

    seeds = np.arange(num, dtype=np.int64)
    latents = sampling.latents_for_seeds(seeds, config.model.latent_dim).numpy()
    batches = sources.generated_batches(generate, num, BATCH, "embedding projector")
    generated = np.concatenate(list(batches))
    columns = {"seed": [str(s) for s in seeds]}
    notes = [f"Latents z of seeds 0..{num - 1} (gan_tf.sampling.latents_for_seeds)."]
    asked = sampling.labels_for_seeds(seeds, num_classes)
    if asked is not None:
        columns["asked"] = [str(c) for c in asked]
        notes.append(f"asked: the class the generator was asked for (seed % {num_classes}).")
    use, reason = labelling(config)
    if use:
        try:
            classes, confidence, name = classify(generated)
        except DataError as e:
            use, reason = False, f"the domain classifier is not available: {e}"
    if use:
        columns["class"] = [str(c) for c in classes]
        columns["confidence"] = [f"{p:.4f}" for p in confidence]
        notes.append(
            f"class, confidence: the domain classifier {name}'s arg-max class and its softmax "
            f"probability ({reason})."
        )
    else:
        notes.append(f"No class column: {reason}.")
        log.info("Embedding projector without classes: %s", reason)
    return Embedding(latents, generated, columns, " ".join(notes))


def classify(batch: np.ndarray) -> tuple[np.ndarray, np.ndarray, str]:
    """The domain classifier's class and softmax confidence of uint8 images, and its name.

    Raises:
      DataError: if the classifier cannot be loaded (or trained, on its first use).
    """
    from gan_tf.metrics import api, domain

    extractor = api.get_extractor("domain", BATCH)
    _, logits = extractor.features_and_logits(batch)
    probabilities = tf.nn.softmax(logits.astype(np.float64)).numpy()
    return np.argmax(logits, axis=1), probabilities.max(axis=1), domain.VERSION


def write(logdir: str, embedding: Embedding) -> str:
    """Writes the projector files of `embedding` into the TensorBoard run `logdir`.

    Returns:
      The asset directory (`<logdir>/plugins/org_tensorflow_tensorboard_projector`).
    """
    from tensorboard.plugins import projector

    num, (height, width) = len(embedding.latents), embedding.images.shape[1:3]
    assets = os.path.join(logdir, ASSETS)
    with files.building_dir(assets) as tmp:
        latents = tf.Variable(embedding.latents, dtype=tf.float32)
        tf.train.Checkpoint(latents=latents).write(os.path.join(tmp, checkpoint_name(num)))
        with open(os.path.join(tmp, METADATA), "w", encoding="utf-8") as f:
            f.write(metadata_tsv(embedding.columns))
        images.write_png(os.path.join(tmp, SPRITE), sprite(embedding.images))
        config = projector.ProjectorConfig()
        entry = config.embeddings.add()
        entry.tensor_name = TENSOR_NAME
        entry.metadata_path = METADATA
        entry.sprite.image_path = SPRITE
        entry.sprite.single_image_dim.extend([width, height])
        projector.visualize_embeddings(tmp, config)  # paths relative to this directory
    prefix = os.path.join(ASSETS, checkpoint_name(num))
    files.atomic_write(
        os.path.join(logdir, "checkpoint"),
        f'model_checkpoint_path: "{prefix}"\nall_model_checkpoint_paths: "{prefix}"\n',
    )
    return assets


def write_projector(family, inference, logdir: str, step: int) -> str | None:
    """Writes the projector of `train.embed_samples` points of a run's inference object.

    Args:
      family: the run's `gan_tf.families.Family`.
      inference: its inference object.
      logdir: the run's TensorBoard directory.
      step: the checkpoint step the inference object holds (for the note).

    Returns:
      The asset directory, or None when there is nothing to write (no points, or a family
      that does not generate).
    """
    config = family.config
    num = config.train.embed_samples
    generate = family.generate(inference)
    if num <= 0 or generate is None:
        return None
    embedding = make_embedding(config, generate, family.generated_classes(), num)
    assets = write(logdir, embedding)
    writer = tf.summary.create_file_writer(logdir)
    with writer.as_default(step=step):
        tf.summary.text("projector/labels", f"Step {step}, {num} points. {embedding.note}")
    writer.close()
    return assets
