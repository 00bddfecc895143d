"""Data sources and the training input pipeline, on real files."""

from __future__ import annotations

import gzip
import os
import pickle

import numpy as np
import pytest
import tensorflow as tf

from gan_tf.config import Config, DataConfig
from gan_tf.data import mnist, pipeline, sources, tfrecord
from gan_tf.errors import ConfigError, DataError
from gan_tf.images import write_png


def digits(n, size=28, channels=1, seed=0):
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, size=(n, size, size, channels), dtype=np.uint8)


def tfrecord_config(path, *overrides):
    return Config().override(
        ["data.source=tfrecord", f"data.path={path}", "train.batch_size=4", *overrides]
    )


def test_mnist_arrays_are_the_classic_splits():
    arrays = mnist.load_arrays()
    (train_x, train_y), (test_x, test_y) = arrays["train"], arrays["test"]
    assert train_x.shape == (60000, 28, 28) and test_x.shape == (10000, 28, 28)
    assert train_x.dtype == np.uint8
    # The well-known first labels of MNIST's training and test sets.
    assert train_y[:10].tolist() == [5, 0, 4, 1, 9, 2, 1, 3, 1, 4]
    assert test_y[:10].tolist() == [7, 2, 1, 0, 4, 1, 4, 9, 5, 9]
    assert np.bincount(train_y).tolist()[:2] == [5923, 6742]
    assert train_x.max() == 255 and train_x.min() == 0


def test_mnist_archive_refuses_code(tmp_path):
    class Evil:
        def __reduce__(self):
            return (os.system, ("echo pwned",))

    path = tmp_path / "evil.pkl.gz"
    with gzip.open(path, "wb") as f:
        pickle.dump(Evil(), f)
    with pytest.raises(pickle.UnpicklingError, match="only numpy arrays"):
        mnist.load_arrays(path)


def test_tfds_mnist_is_served_by_tfds(mnist_data_dir):
    import tensorflow_datasets as tfds

    ds = tfds.load("mnist", split="test", data_dir=mnist_data_dir, download=False)
    first = next(iter(ds))
    expected = mnist.load_arrays()["test"][0][0]
    np.testing.assert_array_equal(first["image"].numpy()[..., 0], expected)
    assert int(first["label"]) == 7


def test_tfrecord_source_with_labels(tmp_path):
    path = str(tmp_path / "data.tfrecord")
    x = digits(10)
    tfrecord.write_images(path, x, labels=list(range(10)))
    cfg = tfrecord_config(path, "data.num_classes=10")
    images = next(iter(pipeline.image_batches(cfg.data, batch_size=10).take(1)))
    np.testing.assert_array_equal(images.numpy(), x)
    ds = pipeline.train_dataset(cfg)
    xb, yb = next(iter(ds))
    assert xb.shape == (4, 28, 28, 1) and yb.dtype == tf.int32
    assert float(tf.reduce_min(xb)) >= -1.0 and float(tf.reduce_max(xb)) <= 1.0
    assert set(yb.numpy().tolist()) <= set(range(10))


def test_folder_source_with_classes(tmp_path):
    for label, name in enumerate(["cat", "dog"]):
        for i, image in enumerate(digits(3, 32, 3, seed=label)):
            write_png(str(tmp_path / name / f"{i}.png"), image)
    cfg = Config().override(
        [
            "data.source=folder",
            f"data.path={tmp_path}",
            "data.num_classes=2",
            "data.image_size=32",
            "data.channels=3",
            "train.batch_size=6",
        ]
    )
    recs = sources.records(cfg.data)
    assert recs.count == 6 and recs.image_is_path
    _, labels = next(iter(pipeline.train_dataset(cfg)))
    assert sorted(labels.numpy().tolist()) == [0, 0, 0, 1, 1, 1]
    with pytest.raises(DataError, match="2 class sub-folders.*num_classes=3"):
        sources.records(cfg.override(["data.num_classes=3"]).data)


def test_a_split_field_in_the_path_names_the_split_read(tmp_path):
    """`{split}` in `data.path` is replaced by the split read: `data.split` for training,
    the asked-for one for held-out evaluation; a path without it holds only the training
    data, so another split of it is refused rather than read as the training images."""
    train, test = digits(6, seed=1), digits(4, seed=2)
    tfrecord.write_images(str(tmp_path / "train" / "a.tfrecord"), train, labels=[1] * 6)
    tfrecord.write_images(str(tmp_path / "test" / "a.tfrecord"), test, labels=[2] * 4)
    for_split = tfrecord_config(str(tmp_path / "{split}" / "*.tfrecord")).data
    assert sources.split_path(for_split, "test") == str(tmp_path / "test" / "*.tfrecord")
    images = np.concatenate([x.numpy() for x in pipeline.image_batches(for_split)])
    np.testing.assert_array_equal(images, train)
    batches = pipeline.image_batches(for_split, "test", batch_size=10, labels=True)
    x, y = next(iter(batches))
    np.testing.assert_array_equal(x.numpy(), test)
    assert y.numpy().tolist() == [2] * 4
    assert sources.records(for_split, "test").description.endswith("/test/*.tfrecord")
    with pytest.raises(DataError, match="no TFRecord files match.*/valid/"):
        sources.records(for_split, "valid")

    one_split = tfrecord_config(str(tmp_path / "train" / "*.tfrecord")).data
    assert sources.records(one_split).count == 6
    assert sources.records(one_split, "train").count == 6  # data.split itself
    with pytest.raises(ConfigError, match=r"split='test': data.path=.* holds only the training"):
        sources.records(one_split, "test")
    with pytest.raises(ConfigError, match=r"anomaly.eval_split='test'.*\{split\} field"):
        sources.check_split(one_split, "test", "anomaly.eval_split")
    sources.check_split(for_split, "test", "anomaly.eval_split")
    sources.check_split(DataConfig(), "test", "semi.eval_split")  # TFDS names its splits

    for split, images in (("train", train), ("test", test)):
        for i, image in enumerate(images):
            write_png(str(tmp_path / "folders" / split / f"{i}.png"), image)
    folders = DataConfig(source="folder", path=str(tmp_path / "folders" / "{split}"))
    assert sources.records(folders).count == 6 and sources.records(folders, "test").count == 4


def test_resumed_pipeline_reads_what_the_uninterrupted_one_reads(tmp_path):
    path = str(tmp_path / "data.tfrecord")
    tfrecord.write_images(path, digits(10))  # 10 records, batch 4: epochs straddle batches
    cfg = tfrecord_config(path, "train.seed=5")
    full = [b.numpy() for b in pipeline.train_dataset(cfg).take(9)]
    resumed = [b.numpy() for b in pipeline.train_dataset(cfg, start_step=5).take(4)]
    for a, b in zip(full[5:], resumed):
        np.testing.assert_array_equal(a, b)
    # Every epoch is a permutation of the data, and epochs are shuffled differently.
    flat = np.concatenate(full)[:20].reshape(2, 10, -1)
    assert sorted(map(bytes, flat[0])) == sorted(map(bytes, flat[1]))
    assert not np.array_equal(flat[0], flat[1])


def test_order_depends_only_on_seed_and_epoch(tmp_path):
    # A resumed run makes other iterators than an uninterrupted one (a first-batch check,
    # one `fit` per plan entry) and runs after other code that may set TF's global seed.
    path = str(tmp_path / "data.tfrecord")
    tfrecord.write_images(path, digits(10))  # batch 4: 12 batches span 4.8 epochs
    cfg = tfrecord_config(path, "train.seed=5")
    reference = [b.numpy() for b in pipeline.train_dataset(cfg).take(12)]
    ds = pipeline.train_dataset(cfg)
    for _ in range(3):
        next(iter(ds.skip(4)))  # iterators given up early, after one epoch boundary
    tf.random.set_seed(123)
    for start, batches in ((0, ds), (7, pipeline.train_dataset(cfg, start_step=7))):
        again = [b.numpy() for b in batches.take(12 - start)]
        np.testing.assert_array_equal(np.stack(reference[start:]), np.stack(again))
    other_seed = [
        b.numpy() for b in pipeline.train_dataset(cfg.override(["train.seed=6"])).take(12)
    ]
    assert not np.array_equal(np.stack(reference), np.stack(other_seed))
    # ...and each epoch has its own order (20 batches of 4 = 8 epochs of 10 images)
    flat = np.concatenate([b.numpy() for b in pipeline.train_dataset(cfg).take(20)])
    epochs = flat.reshape(8, 10, -1)
    assert len({e.tobytes() for e in epochs}) == 8


@pytest.mark.parametrize("extra", [[], ["data.resize=true", "data.image_size=16"]])
def test_decoded_cache_reads_what_decoding_every_epoch_reads(tmp_path, extra):
    path = str(tmp_path / "data.tfrecord")
    images = digits(10)
    tfrecord.write_images(path, images)
    cached = tfrecord_config(path, "train.seed=5", *extra)
    uncached = tfrecord_config(path, "train.seed=5", "data.cache_mb=0", *extra)
    assert pipeline.decoded_bytes(cached.data, 10) <= cached.data.cache_mb * 2**20
    for start in (0, 5):
        a = [b.numpy() for b in pipeline.train_dataset(cached, start_step=start).take(6)]
        b = [b.numpy() for b in pipeline.train_dataset(uncached, start_step=start).take(6)]
        np.testing.assert_array_equal(np.stack(a), np.stack(b))
    if not extra:  # and the values are the images, scaled to [-1, 1]
        first = {bytes(x) for x in np.round((a[0] + 1.0) * 127.5).astype(np.uint8)}
        assert first <= {bytes(x) for x in images}


def gzip_copy(src: str, dst: str) -> None:
    with tf.io.TFRecordWriter(dst, options="GZIP") as writer:
        for record in tf.data.TFRecordDataset(src):
            writer.write(record.numpy())


def test_gzipped_tfrecords_read_like_uncompressed_ones(tmp_path):
    plain = str(tmp_path / "plain" / "data.tfrecord")
    tfrecord.write_images(plain, digits(10), labels=range(10))
    os.makedirs(tmp_path / "gz")
    gzip_copy(plain, str(tmp_path / "gz" / "data.tfrecord.gz"))  # what TFX ExampleGen writes
    with open(tmp_path / "gz" / "data.tfrecord.gz", "rb") as f:
        assert f.read(2) == b"\x1f\x8b"

    def batches(path):
        config = tfrecord_config(path, "data.num_classes=10")
        return [(x.numpy(), y.numpy()) for x, y in pipeline.train_dataset(config).take(5)]

    for (xa, ya), (xb, yb) in zip(batches(plain), batches(str(tmp_path / "gz" / "*"))):
        np.testing.assert_array_equal(xa, xb)
        np.testing.assert_array_equal(ya, yb)
    assert sources.records(tfrecord_config(str(tmp_path / "gz" / "*")).data).count == 10


def test_mixed_gzip_and_plain_tfrecords_are_refused(tmp_path):
    tfrecord.write_images(str(tmp_path / "a.tfrecord"), digits(3))
    gzip_copy(str(tmp_path / "a.tfrecord"), str(tmp_path / "b.tfrecord"))
    with pytest.raises(DataError, match="mix gzip and uncompressed.*b.tfrecord is gzipped"):
        sources.records(tfrecord_config(str(tmp_path / "*.tfrecord")).data)


def test_resize_option(tmp_path):
    path = str(tmp_path / "big.tfrecord")
    tfrecord.write_images(path, digits(4, size=40))
    cfg = tfrecord_config(path, "data.resize=true")
    assert next(iter(pipeline.train_dataset(cfg))).shape == (4, 28, 28, 1)


def test_wrong_image_shape_names_the_expected_shape(tmp_path):
    path = str(tmp_path / "big.tfrecord")
    tfrecord.write_images(path, digits(4, size=40))
    with pytest.raises(tf.errors.InvalidArgumentError, match="expected 28x28x1"):
        next(iter(pipeline.train_dataset(tfrecord_config(path))))


def test_empty_and_missing_sources(tmp_path):
    path = str(tmp_path / "empty.tfrecord")
    tfrecord.write_images(path, [])
    with pytest.raises(DataError, match="holds no examples"):
        sources.records(tfrecord_config(path).data)
    with pytest.raises(DataError, match="no TFRecord files match"):
        sources.records(tfrecord_config(str(tmp_path / "nothing-*.tfrecord")).data)
    (tmp_path / "imgs").mkdir()
    cfg = Config().override(["data.source=folder", f"data.path={tmp_path / 'imgs'}"])
    with pytest.raises(DataError, match="holds no examples"):
        sources.records(cfg.data)


def test_not_a_tfrecord_file(tmp_path):
    path = tmp_path / "junk.tfrecord"
    path.write_bytes(b"this is not a tfrecord file at all")
    with pytest.raises(DataError, match="cannot read TFRecords"):
        sources.records(tfrecord_config(str(path)).data)


def test_missing_label_feature(tmp_path):
    path = str(tmp_path / "nolabel.tfrecord")
    tfrecord.write_images(path, digits(3))
    with pytest.raises(DataError, match="int64 feature 'label'"):
        sources.records(tfrecord_config(path, "data.num_classes=10").data)


def _fashion_files(directory, rng, train=12, test=5):
    from gan_tf.data import fashion_mnist, idx

    arrays = {}
    for split, n in (("train", train), ("test", test)):
        images = rng.integers(0, 256, size=(n, 28, 28), dtype=np.uint8)
        labels = rng.integers(0, 10, size=n).astype(np.uint8)
        images_file, labels_file = fashion_mnist.FILES[split]
        idx.write_idx(directory / images_file, images)
        idx.write_idx(directory / labels_file, labels)
        arrays[split] = (images, labels)
    return arrays


def test_idx_files_round_trip_and_bad_files_are_named(tmp_path):
    from gan_tf.data import idx

    array = np.arange(24, dtype=np.uint8).reshape(2, 3, 4)
    for compress in (True, False):
        path = tmp_path / f"a-{compress}.idx"
        idx.write_idx(path, array, compress=compress)
        np.testing.assert_array_equal(idx.read_idx(path), array)
    raw = (tmp_path / "a-False.idx").read_bytes()
    (tmp_path / "short").write_bytes(raw[:-3])
    with pytest.raises(DataError, match=r"declares \(2, 3, 4\) \(24 bytes\) but holds 21"):
        idx.read_idx(tmp_path / "short")
    (tmp_path / "magic").write_bytes(b"\x01\x02" + raw[2:])
    with pytest.raises(DataError, match="not an IDX file"):
        idx.read_idx(tmp_path / "magic")
    (tmp_path / "float").write_bytes(raw[:2] + b"\x0d" + raw[3:])
    with pytest.raises(DataError, match="not unsigned bytes"):
        idx.read_idx(tmp_path / "float")


def test_fashion_mnist_from_idx_files_is_read_by_tfds(tmp_path, monkeypatch):
    idx_dir = tmp_path / "idx"
    idx_dir.mkdir()
    arrays = _fashion_files(idx_dir, np.random.default_rng(3))
    monkeypatch.setenv("GAN_TF_FASHION_MNIST_DIR", str(idx_dir))
    data_dir = str(tmp_path / "tfds")
    cfg = DataConfig(source="tfds", name="fashion_mnist", split="test", data_dir=data_dir)
    recs = sources.records(cfg)  # prepares it on first use
    assert recs.count == 5
    got = np.concatenate([b.numpy() for b in pipeline.image_batches(cfg, "train", 5)])
    np.testing.assert_array_equal(got[..., 0], arrays["train"][0])
    import tensorflow_datasets as tfds

    builder = tfds.builder("fashion_mnist", data_dir=data_dir)
    assert builder.info.splits["train"].num_examples == 12
    labels = [int(ex["label"]) for ex in builder.as_dataset(split="test").as_numpy_iterator()]
    assert labels == arrays["test"][1].tolist()


def test_missing_fashion_mnist_files_say_where_to_get_them(tmp_path, monkeypatch):
    from gan_tf.data import fashion_mnist

    monkeypatch.setenv("GAN_TF_FASHION_MNIST_DIR", str(tmp_path))
    monkeypatch.setattr(fashion_mnist, "candidate_dirs", lambda: [str(tmp_path)])
    with pytest.raises(DataError, match="GAN_TF_FASHION_MNIST_DIR.*get_fashion_mnist.sh"):
        fashion_mnist.prepare(str(tmp_path / "tfds"))


def test_map_batches_slices_in_order_and_passes_an_empty_array_through():
    from gan_tf.images import map_batches

    seen = []

    def double(x):
        seen.append(len(x))
        return (2 * x).astype(np.int16)

    out = map_batches(double, np.arange(7, dtype=np.uint8), 3)
    assert seen == [3, 3, 1] and out.dtype == np.int16
    np.testing.assert_array_equal(out, 2 * np.arange(7))
    empty = map_batches(lambda x: np.zeros([len(x), 5], np.float32), np.zeros([0, 2]), 3)
    assert empty.shape == (0, 5) and empty.dtype == np.float32


def test_labelled_images_read_every_class_in_order_with_labels(tmp_path):
    path = str(tmp_path / "labelled.tfrecord")
    images, labels = digits(7), [3, 1, 4, 1, 5, 9, 2]
    tfrecord.write_images(path, images, labels)
    # A run training on class 1 from its first 2 images still reads every class, in order.
    cfg = tfrecord_config(path, "data.normal_classes=1", "data.limit=2").data
    got, got_labels = pipeline.labelled_images(cfg, limit=5)
    np.testing.assert_array_equal(got, images[:5])
    assert got_labels.dtype == np.int64 and got_labels.tolist() == labels[:5]
    assert pipeline.labelled_images(cfg)[1].tolist() == labels

    for i, image in enumerate(images):  # a folder without class sub-folders: no labels
        write_png(str(tmp_path / "unlabelled" / f"{i}.png"), image)
    unlabelled = DataConfig(source="folder", path=str(tmp_path / "unlabelled"))
    with pytest.raises(DataError, match=r"split 'train' has no labels \(data.label_key\)"):
        pipeline.labelled_images(unlabelled)
