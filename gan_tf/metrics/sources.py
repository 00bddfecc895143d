"""Image sources for evaluation, all yielding batches of uint8 NHWC images.

A source spec is one of:

* a trained workdir (holds `config.json`): the EMA generator of its latest checkpoint;
* an exported model (holds `saved_model.pb`): its `generate` signature (psi = 1);
* `name:split` (e.g. `mnist:test`): a TFDS dataset split (MNIST is available offline);
* a folder of image files (PNG, JPEG, BMP, GIF), read recursively in sorted order;
* an `.npz` file with a uint8 `[N, H, W, C]` (or `[N, H, W]`) array under `images` and,
  optionally, an integer `[N]` array under `labels`.

Dataset splits and `.npz` files with `labels` are labelled sources: `first_batches(...,
labels=True)` gives each image's class with it (anomaly detection's evaluation).

Generators draw image i from seed i (`gan_tf.sampling.latents_for_seeds`); conditional
generators are asked for class `i % num_classes` (`gan_tf.sampling.labels_for_seeds`), so a
generated set is a pure function of the model and N, and balanced over classes.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

import numpy as np

from gan_tf.errors import DataError

Generate = Callable[[np.ndarray], np.ndarray]
Batches = Callable[[int], Iterable[np.ndarray]]
LabelledBatches = Callable[[int], Iterable[tuple[np.ndarray, np.ndarray]]]


@dataclass
class Source:
    """Where images come from: either a `generate(seeds)` function or finite batches."""

    description: str
    generate: Generate | None = None
    batches: Batches | None = None  # batch_size -> batches
    count: int | None = None  # images available (None: unbounded generator)
    num_classes: int = 0  # > 0: a conditional generator asked for class `seed % num_classes`
    labelled: LabelledBatches | None = None  # batch_size -> (images, int64 labels) batches


def check_images(images, where: str, expected: tuple[int, ...] | None = None) -> np.ndarray:
    """Validates a batch of images: uint8, `[n, H, W, 1|3]`, the same H, W, C throughout.

    `[n, H, W]` arrays get a channel axis.

    Raises:
      DataError: naming `where` and what is wrong.
    """
    x = np.asarray(images)
    if x.dtype != np.uint8:
        nan = np.issubdtype(x.dtype, np.floating) and not np.all(np.isfinite(x))
        raise DataError(
            f"{where}: images must be uint8 in [0, 255], got {x.dtype}"
            + (" holding NaN/Inf" if nan else "")
            + " (convert with gan_tf.images.to_uint8 for [-1, 1] floats)"
        )
    if x.ndim == 3:
        x = x[..., None]
    if x.ndim != 4 or x.shape[-1] not in (1, 3) or min(x.shape[1:3], default=0) < 1:
        raise DataError(f"{where}: expected images [N, H, W, 1 or 3], got shape {x.shape}")
    if expected is not None and x.shape[1:] != expected:
        raise DataError(
            f"{where}: images of mixed sizes: {x.shape[1:]} after {expected}; every image "
            "of a source must have the same height, width and channels"
        )
    return x


def checked_batches(batches: Iterable[np.ndarray], where: str) -> Iterator[np.ndarray]:
    """Validates each batch and that all share one image shape."""
    shape = None
    for batch in batches:
        x = check_images(batch, where, shape)
        shape = x.shape[1:]
        yield x


def take(batches: Iterable[np.ndarray], num: int, where: str) -> Iterator[np.ndarray]:
    """The first `num` images of `batches`, re-batched as they come.

    Raises:
      DataError: if the batches hold fewer than `num` images.
    """
    for x, _ in _take_labelled(((x, None) for x in batches), num, where):
        yield x


def _take_labelled(pairs, num: int, where: str) -> Iterator[tuple[np.ndarray, np.ndarray | None]]:
    """`take` over `(images, labels or None)` batches, labels cut with their images."""
    seen = 0
    shape = None
    for x, y in pairs:
        if seen >= num:
            break
        x = check_images(x, where, shape)[: num - seen]
        shape = x.shape[1:]
        if y is not None:
            y = np.asarray(y, np.int64).reshape(-1)[: num - seen]
            if len(y) != len(x):
                raise DataError(f"{where}: {len(y)} labels for {len(x)} images")
        seen += len(x)
        yield x, y
    if seen < num:
        raise DataError(f"{where} holds {seen} images, fewer than the {num} requested")


def first_batches(
    source: Source, num: int | None, batch_size: int, labels: bool = False
) -> Iterator:
    """The first `num` images of a source in batches (seeds 0..num-1 of a generator).

    Args:
      source: an opened source.
      num: images wanted; None for every image of a finite source.
      batch_size: images per batch.
      labels: yield `(images, int64 labels)` pairs (a labelled source only).

    Raises:
      DataError: when the source holds fewer images, or `num` is None for a generator, or
        labels are asked of a source without them.
    """
    where = source.description
    if num is None and source.count is None:
        raise DataError(f"{where} generates images without end: say how many (--num)")
    num = source.count if num is None else num
    if labels:
        if source.labelled is None:
            raise DataError(
                f"{where} has no labels: use a dataset split (e.g. mnist:test) or an .npz "
                "with an integer 'labels' array"
            )
        return _take_labelled(source.labelled(batch_size), num, where)
    if source.generate is not None:
        return generated_batches(source.generate, num, batch_size, where)
    return take(source.batches(batch_size), num, where)


def finite_to_uint8(x, where: str) -> np.ndarray:
    """[-1, 1] generator output to uint8, refusing NaN/Inf (which would silently become 0).

    Raises:
      DataError: if `x` holds NaN or Inf.
    """
    from gan_tf import images

    x = np.asarray(x, np.float32)
    if not np.all(np.isfinite(x)):
        raise DataError(f"{where}: the generator produced NaN/Inf pixels")
    return images.to_uint8(x)


def generated_batches(generate: Generate, num: int, batch_size: int, where: str):
    """Images of seeds 0..num-1 in batches, validated."""

    def raw():
        for start in range(0, num, batch_size):
            seeds = np.arange(start, min(start + batch_size, num), dtype=np.int64)
            images = generate(seeds)
            if len(images) != len(seeds):
                raise DataError(f"{where}: generated {len(images)} images for {len(seeds)} seeds")
            yield images

    return checked_batches(raw(), where)


def from_npz(path: str) -> Source:
    try:
        with np.load(path, allow_pickle=False) as data:
            if "images" not in data.files:
                raise DataError(f"{path} has no array 'images' (found: {', '.join(data.files)})")
            images = check_images(data["images"], path)
            labels = data["labels"] if "labels" in data.files else None
    except (OSError, ValueError) as e:
        raise DataError(f"cannot read {path} as .npz: {e}") from None
    if labels is not None and (labels.dtype.kind not in "iu" or labels.shape != (len(images),)):
        raise DataError(
            f"{path}: 'labels' must hold one integer per image ([{len(images)}]), got "
            f"{labels.dtype} {list(labels.shape)}"
        )

    def batches(bs: int):
        return (images[s : s + bs] for s in range(0, len(images), bs))

    def labelled(bs: int):
        return zip(batches(bs), (labels[s : s + bs] for s in range(0, len(labels), bs)))

    return Source(
        f"npz:{path}",
        batches=batches,
        count=len(images),
        labelled=labelled if labels is not None else None,
    )


def read_image_files(paths: list[str], where: str) -> np.ndarray:
    """Decodes image files (PNG, JPEG, BMP, GIF; alpha dropped) into one uint8 NHWC array.

    Raises:
      DataError: for an unreadable file or images of different sizes.
    """
    import tensorflow as tf

    out = []
    for f in paths:
        try:
            image = tf.io.decode_image(tf.io.read_file(f), expand_animations=False)
        except tf.errors.OpError as e:
            raise DataError(f"cannot decode image {f}: {e.message}") from None
        if image.shape[-1] == 4:
            image = image[..., :3]
        if out and image.shape != out[0].shape:
            raise DataError(
                f"{where}: images of mixed sizes: {f} is {tuple(image.shape)}, "
                f"{paths[0]} is {tuple(out[0].shape)}"
            )
        out.append(image.numpy())
    return np.stack(out)


def from_folder(path: str) -> Source:
    from gan_tf.data.sources import _images_below

    files = _images_below(path)
    if not files:
        raise DataError(f"{path} holds no image files ({', '.join(_extensions())})")

    def batches(bs: int):
        for s in range(0, len(files), bs):
            yield read_image_files(files[s : s + bs], path)

    return Source(f"folder:{path}", batches=batches, count=len(files))


def _extensions() -> tuple[str, ...]:
    from gan_tf.data.sources import IMAGE_EXTENSIONS

    return IMAGE_EXTENSIONS


def from_dataset(name: str, split: str) -> Source:
    from gan_tf.config import DataConfig
    from gan_tf.data import offline, pipeline
    from gan_tf.data import sources as data_sources

    cfg = DataConfig(source="tfds", name=name, split=split)
    data_dir = offline.prepare(name)
    if name != "mnist":
        import tensorflow_datasets as tfds

        try:
            shape = tfds.builder(name, data_dir=data_dir).info.features["image"]
            h, w, c = shape.shape
            cfg = DataConfig(source="tfds", name=name, split=split, image_size=h, channels=c)
            if h != w:
                raise DataError(f"TFDS {name}: non-square images {h}x{w} are not supported")
        except DataError:
            raise
        except Exception as e:
            raise DataError(f"cannot open TFDS dataset {name!r}: {e}") from None
    records = data_sources.records(cfg, split, labels=True)
    first = next(iter(records.dataset.take(1)))

    def batches(bs: int):
        for x in pipeline.image_batches(cfg, split, batch_size=bs):
            yield x.numpy()

    def labelled(bs: int):
        for x, y in pipeline.image_batches(cfg, split, batch_size=bs, labels=True):
            yield x.numpy(), y.numpy()

    return Source(
        f"tfds:{name}:{split}",
        batches=batches,
        count=records.count,
        labelled=labelled if int(first["label"]) >= 0 else None,
    )


def seeded(generator, where: str) -> Generate:
    """`generate(seeds)` of a generator network: image i from seed i, class `i % K`."""
    from gan_tf import sampling

    def generate(seeds: np.ndarray) -> np.ndarray:
        x = generator(sampling.generator_inputs(generator, seeds), training=False)
        return finite_to_uint8(x, where)

    return generate


def from_workdir(path: str) -> Source:
    from gan_tf import workdir

    generator, _, step = workdir.load_generator(path)
    return Source(
        f"workdir:{path}@step{step}",
        generate=seeded(generator, f"workdir {path}"),
        num_classes=generator.num_classes,
    )


def from_export(path: str) -> Source:
    import tensorflow as tf

    try:
        model = tf.saved_model.load(path)
        signature = model.signatures["generate"]
    except (OSError, ValueError, KeyError) as e:
        raise DataError(
            f"cannot load exported model {path} with a 'generate' signature: {e}"
        ) from None
    num_classes = 0
    meta = os.path.join(path, "assets", "gan_metadata.json")
    if os.path.isfile(meta):
        with open(meta, encoding="utf-8") as f:
            num_classes = int(json.load(f).get("num_classes", 0))

    def generate(seeds: np.ndarray) -> np.ndarray:
        args = {
            "seeds": tf.constant(seeds, tf.int64),
            "truncation": tf.ones([len(seeds)], tf.float32),
        }
        if num_classes > 0:
            args["labels"] = tf.constant(np.asarray(seeds) % num_classes, tf.int64)
        return signature(**args)["images"].numpy()

    return Source(f"export:{path}", generate=generate, num_classes=num_classes)


def open_source(spec: str) -> Source:
    """Opens a source spec (see the module docstring).

    Raises:
      DataError: if the spec names nothing readable.
    """
    if os.path.isfile(spec):
        if spec.endswith(".npz"):
            return from_npz(spec)
        raise DataError(f"{spec}: a file source must be an .npz with an 'images' array")
    if os.path.isdir(spec):
        if os.path.isfile(os.path.join(spec, "config.json")):
            return from_workdir(spec)
        if os.path.isfile(os.path.join(spec, "saved_model.pb")):
            return from_export(spec)
        return from_folder(spec)
    match = re.fullmatch(r"([a-z][a-z0-9_]*(?:/[\w.]+)?):(\w[\w\[\]:%+-]*)", spec)
    if match:
        return from_dataset(match.group(1), match.group(2))
    raise DataError(
        f"cannot read source {spec!r}: not a workdir, exported model, image folder, .npz file "
        "or dataset split such as mnist:test"
    )
