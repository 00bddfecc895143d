"""`gan-tf interpolate` and `gan-tf synthesize` on tiny trained runs, read back by the pipeline."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image, ImageSequence

from gan_tf import cli, presets, sampling, train, workdir
from gan_tf.data import pipeline, sources, tfrecord
from gan_tf.networks.base import condition

TILE = 28 + 2  # a grid tile: the image and its padding


def trained_run(tmp_path_factory, mnist_data_dir, name, *sets):
    path = str(tmp_path_factory.mktemp(name))
    config = presets.smoke().override(
        [
            f"data.data_dir={mnist_data_dir}",
            "train.steps=4",
            "train.steps_per_epoch=2",
            "export.enabled=false",
            *sets,
        ]
    )
    train.train(config, path, verbose=0)
    return path


@pytest.fixture(scope="module")
def conditional(tmp_path_factory, mnist_data_dir):
    """A 10-class smoke run, 4 steps."""
    return trained_run(tmp_path_factory, mnist_data_dir, "conditional", "data.num_classes=10")


@pytest.fixture(scope="module")
def unconditional(tmp_path_factory, mnist_data_dir):
    return trained_run(tmp_path_factory, mnist_data_dir, "unconditional")


@pytest.fixture(scope="module")
def generator(conditional):
    return workdir.load_generator(conditional)[0]


def gan_tf(capsys, *argv: str) -> tuple[int, str, str]:
    code = cli.main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def in_subprocess(*argv: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "gan_tf.cli", *map(str, argv)],
        capture_output=True,
        text=True,
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"},
        timeout=300,
    )


def images_at(generator, z, c) -> np.ndarray:
    x = generator((tf.constant(z, tf.float32), tf.constant(c, tf.float32)), training=False)
    return np.clip(np.rint((x.numpy() + 1) * 127.5), 0, 255).astype(np.uint8)


def tiles(grid: np.ndarray, rows: int, cols: int) -> np.ndarray:
    """The [rows, cols, 28, 28, C] images of a grid written by `images.make_grid`."""
    return np.stack(
        [
            np.stack(
                [
                    grid[2 + r * TILE : r * TILE + TILE, 2 + q * TILE : q * TILE + TILE]
                    for q in range(cols)
                ]
            )
            for r in range(rows)
        ]
    )


def assert_close_images(got, expected):
    """Equal up to one grey level (float rounding of a batch of another size)."""
    diff = np.abs(got.astype(int) - expected.astype(int))
    assert diff.max() <= 1 and diff.mean() < 0.01, (diff.max(), diff.mean())


# -- interpolate -------------------------------------------------------------------------


def test_grid_has_one_row_per_segment_through_the_seeds_images(
    conditional, generator, capsys, tmp_path
):
    out = tmp_path / "grid.png"
    code, stdout, err = gan_tf(
        capsys,
        "interpolate",
        "--workdir",
        conditional,
        "--seeds",
        "3,7,11",
        "--steps",
        "3",
        "--labels",
        "3,7,1",
        "--out",
        out,
    )
    assert code == 0, err
    assert "2 x 3 grid" in stdout
    grid = tf.io.decode_png(out.read_bytes()).numpy()
    assert grid.shape == (2 * TILE + 2, 3 * TILE + 2, 1)
    got = tiles(grid, 2, 3)
    np.testing.assert_array_equal(got[0, -1], got[1, 0])  # both are seed 7
    # Ends: the images of the seeds with their labels, as `gan-tf generate` draws them.
    z = sampling.latents_for_seeds([3, 7, 11], 16).numpy()
    c = condition([3, 7, 1], 10).numpy()
    ends = images_at(generator, z, c)
    for image, expected in zip([got[0, 0], got[1, 0], got[1, -1]], ends):
        assert_close_images(image, expected)
    # Middles: slerp of z (closed form, angle by arccos) and the mean of the two one-hots.
    middles = []
    for a, b in ((z[0], z[1]), (z[1], z[2])):
        w = np.arccos(a @ b / np.linalg.norm(a) / np.linalg.norm(b))
        middles.append((np.sin(w / 2) * (a + b) / np.sin(w)).astype(np.float32))
    expected = images_at(generator, np.stack(middles), np.stack([c[:2].mean(0), c[1:].mean(0)]))
    assert_close_images(got[:, 1], expected)
    assert not np.array_equal(got[0, 1], got[0, 0]) and not np.array_equal(got[0, 1], got[0, 2])


def test_linear_method_and_one_label_for_two_seeds(conditional, generator, capsys, tmp_path):
    out = tmp_path / "grid.png"
    code, _, err = gan_tf(
        capsys,
        "interpolate",
        "--workdir",
        conditional,
        "--seeds",
        "5,6",
        "--steps",
        "5",
        "--method",
        "linear",
        "--label",
        "4",
        "--out",
        out,
    )
    assert code == 0, err
    got = tiles(tf.io.decode_png(out.read_bytes()).numpy(), 1, 5)[0]
    z = sampling.latents_for_seeds([5, 6], 16).numpy()
    t = np.linspace(0, 1, 5)[:, None]
    expected = images_at(generator, (1 - t) * z[0] + t * z[1], condition([4] * 5, 10).numpy())
    assert_close_images(got, expected)


def test_gif_plays_the_grid_in_order_and_is_the_same_from_another_process(
    conditional, capsys, tmp_path
):
    args = ["interpolate", "--workdir", conditional, "--seeds", "1,2,3", "--steps", "4"]
    code, stdout, err = gan_tf(capsys, *args, "--out", tmp_path / "a.gif", "--frame-ms", "80")
    assert code == 0, err
    assert "7 frames" in stdout
    code, _, err = gan_tf(capsys, *args, "--out", tmp_path / "grid.png")
    assert code == 0, err
    grid = tiles(tf.io.decode_png((tmp_path / "grid.png").read_bytes()).numpy(), 2, 4)
    expected = np.concatenate([grid[0], grid[1, 1:]])[..., 0]  # the joint frame once
    with Image.open(tmp_path / "a.gif") as gif:
        assert gif.n_frames == 7 and gif.info["loop"] == 0 and gif.info["duration"] == 80
        frames = np.stack([np.array(f.convert("L")) for f in ImageSequence.Iterator(gif)])
    np.testing.assert_array_equal(frames, expected)
    again = in_subprocess(*args, "--out", tmp_path / "b.gif", "--frame-ms", "80")
    assert again.returncode == 0, again.stderr
    assert (tmp_path / "a.gif").read_bytes() == (tmp_path / "b.gif").read_bytes()


def test_unconditional_interpolation(unconditional, capsys, tmp_path):
    out = tmp_path / "u.png"
    code, _, err = gan_tf(
        capsys, "interpolate", "--workdir", unconditional, "--seeds", "0,9", "--out", out
    )
    assert code == 0, err
    assert tf.io.decode_png(out.read_bytes()).shape == (TILE + 2, 8 * TILE + 2, 1)
    code, _, err = gan_tf(
        capsys,
        "interpolate",
        "--workdir",
        unconditional,
        "--seeds",
        "0,9",
        "--label",
        "1",
        "--out",
        out,
    )
    assert code == 2 and "no classes" in err


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--seeds", "1,x"], "--seeds '1,x': expected integers"),
        (["--seeds", "4"], "at least 2 seeds"),
        (["--seeds", "1,2", "--steps", "1"], "--steps must be at least 2"),
        (["--seeds", "1,2", "--frame-ms", "0"], "--frame-ms must be positive"),
        (["--seeds", "1,2", "--labels", "1,2,3"], "--labels has 3 entries for 2 seeds"),
        (["--seeds", "1,2", "--labels", "1,10"], "--labels entry 10 is invalid"),
        (["--seeds", "1,2", "--label", "-1"], "--label -1 is invalid: the model has classes 0..9"),
        (["--seeds", "1,2", "--label", "1", "--labels", "1,2"], "not both"),
        (["--seeds", "1,2", "--out-ext", ".jpg"], "expected a .png (grid) or .gif"),
    ],
)
def test_interpolate_bad_input_exits_2_with_one_line(conditional, capsys, tmp_path, extra, message):
    suffix = ".png"
    if "--out-ext" in extra:
        suffix = extra[-1]
        extra = extra[:-2]
    out = tmp_path / f"out{suffix}"
    code, _, err = gan_tf(capsys, "interpolate", "--workdir", conditional, *extra, "--out", out)
    assert code == 2
    assert err.startswith("gan-tf interpolate: error: ") and message in err
    assert err.strip().splitlines() == [err.strip()]
    assert not out.exists()


# -- synthesize --------------------------------------------------------------------------


def data_config(path: str, source: str):
    return presets.smoke().override(
        [f"data.source={source}", f"data.path={path}", "data.num_classes=10", "train.batch_size=40"]
    )


def read_records(config) -> list[tuple[bytes, np.ndarray, int]]:
    """(image bytes, decoded image, label) of every record, in source order."""
    recs = sources.records(config.data)
    decode = pipeline.decode_fn(config.data, recs.image_is_path)
    out = []
    for record in recs.dataset:
        raw = tf.io.read_file(record["image"]) if recs.image_is_path else record["image"]
        image, label = decode(record)
        out.append((raw.numpy(), image.numpy(), int(label)))
    return out


def one_epoch_labels(config) -> np.ndarray:
    """Labels of the training pipeline's first batch, which is the whole epoch here."""
    _, labels = next(iter(pipeline.train_dataset(config)))
    return labels.numpy()


@pytest.fixture(scope="module")
def synthesized(conditional, tmp_path_factory):
    """4 images per class as 3 TFRecord shards and as class folders."""
    root = tmp_path_factory.mktemp("synthetic")
    for fmt, shards in (("tfrecord", "3"), ("folder", "1")):
        code = cli.main(
            [
                "synthesize",
                "--workdir",
                conditional,
                "--per-class",
                "4",
                "--seed",
                "100",
                "--out",
                str(root / fmt),
                "--format",
                fmt,
                "--shards",
                shards,
            ]
        )
        assert code == 0
    return root


def test_tfrecords_are_read_by_the_pipeline_with_their_labels(conditional, synthesized):
    out = synthesized / "tfrecord"
    names = [f"synthetic-0000{i}-of-00003.tfrecord" for i in range(3)]
    assert sorted(os.listdir(out)) == ["manifest.json", *names]
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["step"] == 4 and manifest["count"] == 40 and manifest["format"] == "tfrecord"
    assert [(f["path"], f["count"]) for f in manifest["files"]] == list(zip(names, [13, 13, 14]))
    seeds = [s for f in manifest["files"] for s in f["seeds"]]
    assert seeds == list(range(100, 140))
    config = data_config(f"{out}/*.tfrecord", "tfrecord")
    records = read_records(config)
    labels = [label for _, _, label in records]
    assert labels == [s % 10 for s in seeds] == [x for f in manifest["files"] for x in f["labels"]]
    family, generator, _ = workdir.load_run(conditional)
    expected = family.generate(generator)(np.array(seeds))
    np.testing.assert_array_equal(np.stack([image for _, image, _ in records]), expected)
    assert np.bincount(one_epoch_labels(config), minlength=10).tolist() == [4] * 10


def test_folders_are_read_by_the_pipeline_with_their_labels(synthesized):
    out = synthesized / "folder"
    assert sorted(os.listdir(out)) == [*map(str, range(10)), "manifest.json"]
    manifest = json.loads((out / "manifest.json").read_text())
    by_seed = {f["seeds"][0]: f for f in manifest["files"]}
    assert sorted(by_seed) == list(range(100, 140))
    assert all(f["labels"] == [s % 10] and f["count"] == 1 for s, f in by_seed.items())
    assert by_seed[123]["path"] == "3/123.png"
    config = data_config(str(out), "folder")
    records = read_records(config)
    assert [label for _, _, label in records] == [i // 4 for i in range(40)]
    # The same PNG bytes per seed as in the TFRecords.
    tf_records = read_records(data_config(f"{synthesized / 'tfrecord'}/*.tfrecord", "tfrecord"))
    for f in manifest["files"]:
        assert (out / f["path"]).read_bytes() == tf_records[f["seeds"][0] - 100][0]
    assert np.bincount(one_epoch_labels(config), minlength=10).tolist() == [4] * 10


def test_the_same_command_writes_the_same_bytes(conditional, synthesized, tmp_path):
    args = ["synthesize", "--workdir", conditional, "--per-class", "4", "--seed", "100"]
    out = in_subprocess(*args, "--shards", "3", "--out", tmp_path / "again")
    assert out.returncode == 0, out.stderr
    first = synthesized / "tfrecord"
    assert sorted(os.listdir(tmp_path / "again")) == sorted(os.listdir(first))
    for name in os.listdir(first):
        assert (tmp_path / "again" / name).read_bytes() == (first / name).read_bytes(), name


def test_non_empty_out_is_refused_and_overwrite_replaces_it(conditional, capsys, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    args = ["synthesize", "--workdir", conditional, "--per-class", "1", "--out", out]
    code, _, err = gan_tf(capsys, *args)
    assert code == 2 and "is not empty; pass --overwrite" in err
    assert os.listdir(out) == ["keep.txt"]
    code, _, err = gan_tf(capsys, *args, "--overwrite")
    assert code == 0, err
    assert sorted(os.listdir(out)) == ["manifest.json", "synthetic-00000-of-00001.tfrecord"]
    assert sorted(os.listdir(tmp_path)) == ["out"]  # no temporary left beside it


def test_a_failed_write_leaves_the_old_output_and_no_temporary(
    conditional, capsys, tmp_path, monkeypatch
):
    out = tmp_path / "out"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    encode, calls = tfrecord.encode_png, []

    def disk_full_on_the_fifth_image(image):
        calls.append(1)
        if len(calls) == 5:
            raise OSError(28, "No space left on device")
        return encode(image)

    monkeypatch.setattr(tfrecord, "encode_png", disk_full_on_the_fifth_image)
    for fmt in ("tfrecord", "folder"):
        calls.clear()
        with pytest.raises(OSError, match="No space left"):
            cli.main(
                [
                    "synthesize",
                    "--workdir",
                    conditional,
                    "--per-class",
                    "1",
                    "--out",
                    str(out),
                    "--format",
                    fmt,
                    "--overwrite",
                ]
            )
        assert len(calls) == 5
        assert os.listdir(out) == ["keep.txt"] and (out / "keep.txt").read_text() == "mine"
        assert sorted(os.listdir(tmp_path)) == ["out"]


def test_unconditional_run_is_refused(unconditional, capsys, tmp_path):
    out = tmp_path / "out"
    code, _, err = gan_tf(
        capsys, "synthesize", "--workdir", unconditional, "--per-class", "2", "--out", out
    )
    assert code == 2
    assert err.strip() == (
        f"gan-tf synthesize: error: {unconditional} holds an unconditional model: synthesize "
        "needs a class-conditional run (data.num_classes > 0) to label its samples"
    )
    assert not out.exists()


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--per-class", "0"], "--per-class must be positive"),
        (["--per-class", "1", "--shards", "0"], "--shards must be positive"),
        (["--per-class", "1", "--shards", "11"], "--shards 11 is more than the 10 images"),
        (["--per-class", "1", "--format", "folder", "--shards", "2"], "--shards applies to"),
        (["--per-class", "1", "--seed", "-3"], "--seed must be >= 0"),
        (["--per-class", "1", "--out-file"], "is a file, not a directory"),
    ],
)
def test_synthesize_bad_input_exits_2_with_one_line(conditional, capsys, tmp_path, extra, message):
    out = tmp_path / "out"
    if "--out-file" in extra:
        out.write_text("a file")
        extra = extra[:-1]
    code, _, err = gan_tf(capsys, "synthesize", "--workdir", conditional, *extra, "--out", out)
    assert code == 2
    assert err.startswith("gan-tf synthesize: error: ") and message in err
    assert err.strip().splitlines() == [err.strip()]
    assert sorted(os.listdir(tmp_path)) == (["out"] if out.exists() else [])
