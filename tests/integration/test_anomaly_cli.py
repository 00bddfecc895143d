"""`gan-tf anomaly score` and `gan-tf anomaly evaluate` on a tiny trained detector."""

from __future__ import annotations

import csv
import dataclasses
import json
import os

import numpy as np
import pytest
import tensorflow as tf

from gan_tf import cli, families, presets, score_histogram
from gan_tf import workdir as workdir_lib
from gan_tf.data import pipeline
from gan_tf.families.anomaly import labelled_images
from gan_tf.metrics import detection

# The module trains the shared tiny detector when it runs first (~30-110 s on 2 busy cores).
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def run(anomaly_workdir):
    """`(workdir, config, detector)` of the tiny trained detector."""
    config = workdir_lib.load_config(anomaly_workdir)
    detector, step = families.for_config(config).load(anomaly_workdir)
    assert step == config.train.steps
    return anomaly_workdir, config, detector


@pytest.fixture(scope="module")
def test_images(run):
    """The first 300 images of the test split, every class, and their labels."""
    _, config, _ = run
    data = dataclasses.replace(config.data, normal_classes="", limit=300)
    ((images, labels),) = pipeline.image_batches(data, "test", batch_size=300, labels=True)
    return images.numpy(), labels.numpy()


def read_csv(path: str) -> list[dict[str, str]]:
    with open(path, newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def test_score_writes_the_detectors_scores(run, test_images, tmp_path, capsys):
    workdir, _, detector = run
    images, labels = test_images
    npz = str(tmp_path / "labelled.npz")
    np.savez(npz, images=images, labels=labels)
    out, recon = str(tmp_path / "scores.csv"), str(tmp_path / "recon")
    argv = ["anomaly", "score", "--workdir", workdir, npz, "--out", out]
    assert cli.main([*argv, "--reconstructions", recon, "--batch-size", "128"]) == 0
    assert "scored 300 images" in capsys.readouterr().out

    want = detector.score(images)
    rows = read_csv(out)
    assert list(rows[0]) == ["index", "score", "image_residual", "feature_residual", "label"]
    assert [int(r["index"]) for r in rows] == list(range(300))
    assert [int(r["label"]) for r in rows] == labels.tolist()
    for column, key in (("score", "scores"), ("image_residual", "image_residual")):
        got = np.array([float(r[column]) for r in rows])
        np.testing.assert_allclose(got, want[key], rtol=1e-6)
    got = np.array([float(r["feature_residual"]) for r in rows])
    np.testing.assert_allclose(got, want["feature_residual"], rtol=1e-6, atol=1e-9)
    for i in (0, 150, 299):
        png = tf.io.decode_png(tf.io.read_file(os.path.join(recon, f"{i:06d}.png"))).numpy()
        np.testing.assert_array_equal(png, want["reconstructions"][i])

    # A folder of PNGs has no labels: no label column.
    folder = tmp_path / "pngs"
    folder.mkdir()
    for i in range(3):
        tf.io.write_file(str(folder / f"{i}.png"), tf.io.encode_png(images[i]))
    assert cli.main(["anomaly", "score", "--workdir", workdir, str(folder), "--out", out]) == 0
    rows = read_csv(out)
    assert list(rows[0]) == ["index", "score", "image_residual", "feature_residual"]
    np.testing.assert_allclose([float(r["score"]) for r in rows], want["scores"][:3], rtol=1e-6)


def test_evaluate_reports_the_detection_metrics(run, test_images, tmp_path, capsys):
    workdir, config, detector = run
    hist, out = str(tmp_path / "hist.png"), str(tmp_path / "eval.json")
    argv = ["anomaly", "evaluate", "--workdir", workdir, "--num", "400", "--fpr", "0.1"]
    assert cli.main([*argv, "--histogram", hist, "--json", out]) == 0
    printed = json.loads(capsys.readouterr().out)
    with open(out, encoding="utf-8") as f:
        assert json.load(f) == printed

    images, anomalous = labelled_images(config, 400)
    scores = detector.score(images)["scores"]
    assert printed["auroc"] == detection.auroc(scores, anomalous)
    assert printed["auprc"] == detection.auprc(scores, anomalous)
    at = detection.threshold_at_fpr(scores, anomalous, 0.1)
    assert (printed["threshold"], printed["fpr"], printed["tpr"]) == tuple(at)
    assert (
        printed["normal"] == int((~anomalous).sum())
        and printed["anomalous"] == 400 - printed["normal"]
    )
    assert printed["protocol"]["normal_classes"] == "0"
    assert printed["protocol"]["target_fpr"] == 0.1

    png = tf.io.decode_png(tf.io.read_file(hist)).numpy()
    assert png.shape == (score_histogram.SIZE[1], score_histogram.SIZE[0], 3)
    for colour in (score_histogram.NORMAL_COLOUR, score_histogram.ANOMALOUS_COLOUR):
        assert np.all(png == colour, axis=-1).sum() > 100

    # A labelled source with other normal classes: 1 and 7 normal.
    test, labels = test_images
    npz = str(tmp_path / "labelled.npz")
    np.savez(npz, images=test, labels=labels)
    argv = ["anomaly", "evaluate", "--workdir", workdir, npz, "--normal-classes", "1,7"]
    assert cli.main(argv) == 0
    printed = json.loads(capsys.readouterr().out)
    want = detection.auroc(detector.score(test)["scores"], ~np.isin(labels, [1, 7]))
    assert printed["auroc"] == pytest.approx(want, abs=1e-12)
    assert printed["normal"] == int(np.isin(labels, [1, 7]).sum())


def letter(kind: str) -> np.ndarray:
    """A 28x28x1 uint8 'X' or 'T' drawn in white on black, like MNIST's strokes."""
    image = np.zeros([28, 28], np.uint8)
    if kind == "X":
        for i in range(4, 24):
            image[i, i - 1 : i + 2] = 255
            image[i, 26 - i : 29 - i] = 255
    else:
        image[4:8, 5:23] = 255
        image[4:24, 12:16] = 255
    return image[..., None]


def test_letters_score_above_normal_training_images(run):
    _, config, detector = run
    training = np.concatenate(
        [x.numpy() for x in pipeline.image_batches(config.data, "train", batch_size=512)]
    )
    assert len(training) == config.data.limit
    median = np.median(detector.score(training)["scores"])
    scores = detector.score(np.stack([letter("X"), letter("T")]))["scores"]
    assert np.all(scores > median), (scores, median)


def one_line_error(capsys) -> str:
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and err.startswith("gan-tf anomaly: error: "), err
    return err


def test_bad_input_exits_2_with_one_line(run, tmp_path, capsys):
    workdir = run[0]
    out = str(tmp_path / "s.csv")

    gan = tmp_path / "gan"
    gan.mkdir()
    (gan / "config.json").write_text(presets.smoke().to_json())
    assert cli.main(["anomaly", "score", "--workdir", str(gan), "mnist:test", "--out", out]) == 2
    assert "holds a 'gan' model, not an anomaly detector" in one_line_error(capsys)

    missing = str(tmp_path / "nothing")
    assert cli.main(["anomaly", "evaluate", "--workdir", missing]) == 2
    assert "not a gan_tf workdir" in one_line_error(capsys)

    # A run configured longer, whose newest checkpoint is from its GAN steps.
    early = tmp_path / "early"
    early.mkdir()
    os.symlink(os.path.join(workdir, "checkpoints"), early / "checkpoints")
    config = workdir_lib.load_config(workdir).override(["train.steps=1000"])
    (early / "config.json").write_text(config.to_json())
    assert cli.main(["anomaly", "evaluate", "--workdir", str(early)]) == 2
    assert "before the encoder steps" in one_line_error(capsys)

    folder = tmp_path / "pngs"
    folder.mkdir()
    tf.io.write_file(str(folder / "a.png"), tf.io.encode_png(letter("T")))
    assert cli.main(["anomaly", "evaluate", "--workdir", workdir, str(folder)]) == 2
    assert "has no labels" in one_line_error(capsys)
    assert cli.main(["anomaly", "evaluate", "--workdir", workdir, "--fpr", "1.5"]) == 2
    assert "--fpr must be in [0, 1]" in one_line_error(capsys)
    rgb = str(tmp_path / "rgb.npz")
    np.savez(rgb, images=np.zeros([2, 28, 28, 3], np.uint8))
    assert cli.main(["anomaly", "score", "--workdir", workdir, rgb, "--out", out]) == 2
    assert "cannot be scored" in one_line_error(capsys)
    empty = str(tmp_path / "empty.npz")
    np.savez(empty, images=np.zeros([0, 28, 28, 1], np.uint8))
    assert cli.main(["anomaly", "score", "--workdir", workdir, empty, "--out", out]) == 2
    assert "no images to score" in one_line_error(capsys)
    assert not os.path.exists(out)
