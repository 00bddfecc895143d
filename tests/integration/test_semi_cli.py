"""`gan-tf classify` on a tiny trained semi-supervised run: its classes are the export's, its
errors are counted on the labelled images it was given."""

from __future__ import annotations

import csv
import json
import os

import numpy as np
import pytest
import tensorflow as tf
from tiny_semi import TINY

from gan_tf import cli, families, presets, train
from gan_tf.families.semi_supervised import labelled_split
from gan_tf.metrics import classification

# Trained without evaluation and without the classifier average (after 8 steps the average
# would classify almost as the initial weights do).
SETTINGS = [*TINY, "semi.eval_every=0", "semi.classifier_ema=0", "train.embed_samples=0"]


@pytest.fixture(scope="module")
def run(mnist_data_dir, tmp_path_factory):
    """A trained tiny run, its export's `classify`, and the first 300 test images."""
    config = presets.ssgan_mnist().override([f"data.data_dir={mnist_data_dir}", *SETTINGS])
    workdir = str(tmp_path_factory.mktemp("semi_cli") / "run")
    train.train(config, workdir)
    family = families.for_config(config)
    inference, step = family.load(workdir)
    target = str(tmp_path_factory.mktemp("export") / "1")
    exported = family.export(inference, target, {"step": step})
    classify = tf.saved_model.load(exported).signatures["classify"]
    images, labels = labelled_split(config, "test", 300)
    return workdir, classify, images, labels


def _served(classify, images):
    out = classify(images=tf.constant(images))
    return out["labels"].numpy(), out["probabilities"].numpy()


def test_default_is_the_held_out_split_with_its_errors(run, tmp_path, capsys):
    workdir, classify, images, labels = run
    out = str(tmp_path / "result.json")
    assert cli.main(["classify", "--workdir", workdir, "--num", "300", "--json", out]) == 0
    printed = json.loads(capsys.readouterr().out)
    with open(out, encoding="utf-8") as f:
        assert json.load(f) == printed
    predicted, _ = _served(classify, images)
    wrong = predicted != labels
    assert printed["images"] == 300
    assert printed["test_error"] == pytest.approx(wrong.mean())
    per_class = [wrong[labels == k].mean() for k in range(10)]
    np.testing.assert_allclose(printed["class_error"], per_class)
    assert printed["worst_class_error"] == pytest.approx(max(per_class))
    assert printed["protocol"]["source"].endswith(":test")
    assert printed["protocol"]["classifier"] == "discriminator"


def test_a_labelled_npz_gets_a_csv_row_per_image(run, tmp_path, capsys):
    workdir, classify, images, labels = run
    source = str(tmp_path / "digits.npz")
    np.savez(source, images=images[:40], labels=labels[:40])
    out = str(tmp_path / "classes.csv")
    argv = ["classify", "--workdir", workdir, source, "--out", out, "--batch-size", "16"]
    assert cli.main(argv) == 0
    printed = json.loads(capsys.readouterr().out)
    with open(out, encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    predicted, probabilities = _served(classify, images[:40])
    assert [int(r["index"]) for r in rows] == list(range(40))
    assert [int(r["class"]) for r in rows] == predicted.tolist()
    assert [int(r["label"]) for r in rows] == labels[:40].tolist()
    np.testing.assert_allclose(
        [float(r["probability"]) for r in rows], probabilities.max(axis=1), rtol=1e-5
    )
    assert printed["test_error"] == pytest.approx(np.mean(predicted != labels[:40]))
    assert printed["test_error"] == classification.errors(predicted, labels[:40])["test_error"]


def test_unlabelled_images_get_classes_only(run, tmp_path, capsys):
    workdir, classify, images, _ = run
    source = str(tmp_path / "images.npz")
    np.savez(source, images=images[:5])
    out = str(tmp_path / "classes.csv")
    assert cli.main(["classify", "--workdir", workdir, source, "--out", out]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed["images"] == 5 and "test_error" not in printed
    with open(out, encoding="utf-8") as f:
        rows = list(csv.reader(f))
    assert rows[0] == ["index", "class", "probability"]
    assert [int(r[1]) for r in rows[1:]] == _served(classify, images[:5])[0].tolist()


def test_bad_requests_exit_2_and_write_nothing(run, anomaly_workdir, tmp_path, capsys):
    workdir = run[0]
    out = str(tmp_path / "classes.csv")
    cases = [
        (["--workdir", anomaly_workdir], "not a semi-supervised classifier"),
        (["--workdir", workdir, "--num", "0"], "--num must be positive"),
        (["--workdir", workdir, str(tmp_path / "missing")], "missing"),
        (["--workdir", str(tmp_path / "nowhere")], "nowhere"),
    ]
    for argv, message in cases:
        assert cli.main(["classify", *argv, "--out", out]) == 2
        assert message in capsys.readouterr().err
    assert not os.path.exists(out)
