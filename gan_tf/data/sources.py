"""Data sources as finite, deterministically ordered datasets of undecoded records.

Every source yields `{"image": <encoded bytes or file path>, "label": int64}` (label -1 when
the source has none) and knows how many records it holds, so the training pipeline can shuffle
per epoch, skip to any step cheaply (before decoding) and refuse empty data up front.
"""

from __future__ import annotations

import dataclasses
import os
from typing import NamedTuple

import tensorflow as tf

from gan_tf.config import DataConfig, parse_classes
from gan_tf.data import offline, tfrecord
from gan_tf.errors import ConfigError, DataError

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".gif")
SOURCES = ("tfds", "tfrecord", "folder")
# In `data.path`, replaced by the split read (`data.split` for training).
SPLIT_FIELD = "{split}"


class Records(NamedTuple):
    """Undecoded records, their count, and whether `image` holds file paths."""

    dataset: tf.data.Dataset
    count: int
    image_is_path: bool
    description: str


def _count(dataset: tf.data.Dataset) -> int:
    return int(dataset.reduce(tf.constant(0, tf.int64), lambda n, _: n + 1).numpy())


def reads_labels(cfg: DataConfig) -> bool:
    """Whether training needs the labels: conditional, or filtered to `data.normal_classes`."""
    return cfg.num_classes > 0 or bool(cfg.normal_classes.strip())


def tfds_records(cfg: DataConfig, split: str, labels: bool = False) -> Records:
    import tensorflow_datasets as tfds

    data_dir = offline.prepare(cfg.name, cfg.data_dir or None)
    try:
        builder = tfds.builder(cfg.name, data_dir=data_dir)
        if not builder.is_prepared():
            builder.download_and_prepare()
        info = builder.info
        if cfg.image_key not in info.features:
            raise DataError(
                f"TFDS dataset {cfg.name!r} has no feature {cfg.image_key!r} (data.image_key); "
                f"features: {', '.join(info.features)}"
            )
        decoders = {cfg.image_key: tfds.decode.SkipDecoding()}
        ds = builder.as_dataset(split=split, decoders=decoders, shuffle_files=False)
        count = int(info.splits[split].num_examples)
    except DataError:
        raise
    except Exception as e:  # TFDS raises many types for unknown names, splits, downloads.
        raise DataError(f"cannot load TFDS dataset {cfg.name!r} split {split!r}: {e}") from e
    has_label = (labels or reads_labels(cfg)) and cfg.label_key in info.features

    def select(ex):
        label = tf.cast(ex[cfg.label_key], tf.int64) if has_label else tf.constant(-1, tf.int64)
        return {"image": ex[cfg.image_key], "label": label}

    return Records(ds.map(select), count, False, f"tfds:{cfg.name}:{split}")


def tfrecord_compression(files: list[str]) -> str:
    """`"GZIP"` when every file is gzipped (as TFX ExampleGen writes them), `""` when none is.

    Raises:
      DataError: if the files mix the two.
    """
    gzipped = {}
    for path in files:
        with tf.io.gfile.GFile(path, "rb") as f:
            gzipped[path] = f.read(2) == b"\x1f\x8b"
    if len(set(gzipped.values())) > 1:
        some = [p for p, z in gzipped.items() if z][:1] + [p for p, z in gzipped.items() if not z][
            :1
        ]
        raise DataError(
            f"data.path={files[0]!r}...: TFRecord files mix gzip and uncompressed "
            f"(e.g. {some[0]} is gzipped, {some[1]} is not); expected one kind"
        )
    return "GZIP" if any(gzipped.values()) else ""


def tfrecord_records(cfg: DataConfig, labels: bool = False) -> Records:
    files = sorted(tf.io.gfile.glob(cfg.path)) if cfg.path else []
    if not files:
        raise DataError(f"no TFRecord files match data.path={cfg.path!r}")
    with_label = labels or reads_labels(cfg)
    parse = tfrecord.parse_fn(cfg.image_key, cfg.label_key, with_label=with_label)
    compression = tfrecord_compression(files)
    ds = tf.data.TFRecordDataset(files, compression_type=compression).map(parse)
    try:
        count = _count(tf.data.TFRecordDataset(files, compression_type=compression))
        if count:
            next(iter(ds.take(1)))
    except tf.errors.OpError as e:
        raise DataError(
            f"cannot read TFRecords {cfg.path!r}: {e.message.splitlines()[0]} (expected "
            f"tf.Example records with bytes feature {cfg.image_key!r}"
            + (f" and int64 feature {cfg.label_key!r})" if with_label else ")")
        ) from None
    return Records(ds, count, False, f"tfrecord:{cfg.path}")


def folder_records(cfg: DataConfig) -> Records:
    root = cfg.path
    if not root or not os.path.isdir(root):
        raise DataError(f"data.path={root!r} is not a directory of images")
    paths, labels = [], []
    if cfg.num_classes > 0:
        classes = sorted(d for d in os.listdir(root) if os.path.isdir(os.path.join(root, d)))
        if len(classes) != cfg.num_classes:
            raise DataError(
                f"{root} has {len(classes)} class sub-folders ({', '.join(classes[:10])}) but "
                f"data.num_classes={cfg.num_classes}"
            )
        for index, name in enumerate(classes):
            found = _images_below(os.path.join(root, name))
            paths += found
            labels += [index] * len(found)
    else:
        paths = _images_below(root)
        labels = [-1] * len(paths)
    ds = tf.data.Dataset.from_tensor_slices(
        {"image": tf.constant(paths, tf.string), "label": tf.constant(labels, tf.int64)}
    )
    return Records(ds, len(paths), True, f"folder:{root}")


def _images_below(root: str) -> list[str]:
    found = []
    for dirpath, _, files in sorted(os.walk(root)):
        found += [
            os.path.join(dirpath, f) for f in sorted(files) if f.lower().endswith(IMAGE_EXTENSIONS)
        ]
    return found


def split_path(cfg: DataConfig, split: str | None = None, key: str = "split") -> str:
    """`data.path` of `split` (default `data.split`) for a TFRecord or folder source: the path
    with its `{split}` field replaced.

    A path without the field holds one split, the training data (`data.split`); reading it
    as another split would score a model on the images it trained on, so that is refused.

    Args:
      cfg: the data configuration.
      split: the split to read.
      key: the setting that asked for `split`, for the message.

    Raises:
      ConfigError: for a split other than `data.split` of a path without `{split}`.
    """
    split = split or cfg.split
    if SPLIT_FIELD in cfg.path:
        return cfg.path.replace(SPLIT_FIELD, split)
    if split != cfg.split:
        raise ConfigError(
            f"{key}={split!r}: data.path={cfg.path!r} holds only the training data "
            f"(data.split={cfg.split!r}); to read a held-out split, write the path with a "
            f"{SPLIT_FIELD} field (e.g. /data/{SPLIT_FIELD}/*.tfrecord), replaced by the split"
        )
    return cfg.path


def check_split(cfg: DataConfig, split: str, key: str) -> None:
    """Checks, before training, that `split` can be read without reading the training data
    instead (`split_path`; TFDS sources name their splits).

    Raises:
      ConfigError: naming `key`, the setting that asks for `split`.
    """
    if cfg.source != "tfds":
        split_path(cfg, split, key)


def records(cfg: DataConfig, split: str | None = None, labels: bool = False) -> Records:
    """Returns the records of the configured source: of `data.normal_classes` only when
    set, then the first `cfg.limit` if set.

    Args:
      cfg: the data configuration.
      split: the split (default `cfg.split`): TFDS's, or `split_path`'s for the others.
      labels: read labels even when training would not need them (labelled evaluation).

    Raises:
      ConfigError: for an unknown source, bad `data.normal_classes`, or a held-out split
        of a path without `{split}` (`split_path`).
      DataError: when the data cannot be read or holds no example (of the normal classes).
    """
    if cfg.source == "tfds":
        recs = tfds_records(cfg, split or cfg.split, labels)
    elif cfg.source == "tfrecord":
        recs = tfrecord_records(dataclasses.replace(cfg, path=split_path(cfg, split)), labels)
    elif cfg.source == "folder":
        recs = folder_records(dataclasses.replace(cfg, path=split_path(cfg, split)))
    else:
        raise ConfigError(f"unknown data.source {cfg.source!r}; expected one of {SOURCES}")
    normal = parse_classes(cfg.normal_classes)
    if normal:
        recs = _of_classes(recs, normal)
    if cfg.limit:
        recs = recs._replace(dataset=recs.dataset.take(cfg.limit), count=min(recs.count, cfg.limit))
    if recs.count == 0:
        raise DataError(f"data source {recs.description} holds no examples")
    return recs


def _of_classes(recs: Records, classes: tuple[int, ...]) -> Records:
    """The records whose label is one of `classes`, counted.

    Raises:
      DataError: if the source has no labels.
    """
    wanted = tf.constant(classes, tf.int64)
    first = next(iter(recs.dataset.take(1)), None)
    if first is not None and int(first["label"]) < 0:
        raise DataError(
            f"data.normal_classes needs labels, but {recs.description} has none (TFDS/TFRecord: "
            "data.label_key; folder: class sub-folders and data.num_classes)"
        )
    ds = recs.dataset.filter(lambda r: tf.reduce_any(tf.equal(r["label"], wanted)))
    return recs._replace(
        dataset=ds,
        count=_count(ds),
        description=f"{recs.description} (classes {','.join(map(str, classes))})",
    )
