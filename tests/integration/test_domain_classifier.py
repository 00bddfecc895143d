"""The domain classifier: pinned weights, accuracy, and class coverage on real digits."""

from __future__ import annotations

import json
import os
import shutil

import numpy as np
import pytest

from gan_tf.cli import main
from gan_tf.data import mnist
from gan_tf.errors import DataError
from gan_tf.metrics import domain


@pytest.fixture(scope="module")
def classifier(mnist_data_dir):
    return domain.DomainFeatures()


def test_cached_classifier_is_the_pinned_network(classifier):
    assert classifier.pinned is True
    assert classifier.sha256 == domain.PINNED_SHA256
    assert classifier.protocol["weights_sha256"] == domain.PINNED_SHA256
    assert classifier.info["test_accuracy"] >= 0.993
    # The accuracy is that of these weights, not only a number in a file.
    x, y = mnist.load_arrays()["test"]
    _, logits = classifier.features_and_logits(x[:2000, ..., None])
    assert np.mean(np.argmax(logits, axis=1) == y[:2000]) >= 0.99


def test_other_weights_are_refused_unless_accepted(classifier, tmp_path, monkeypatch):
    path = domain.weights_file()
    copy = domain.weights_file(str(tmp_path))
    shutil.copy(path, copy)
    model = domain.build_classifier()
    model.load_weights(copy)
    kernel = model.weights[0]
    kernel.assign(kernel.numpy() * 1.001)
    model.save_weights(copy)
    with pytest.raises(DataError, match="not the pinned"):
        domain.DomainFeatures(directory=str(tmp_path))
    monkeypatch.setenv(domain.UNPINNED_ENV, "1")
    accepted = domain.DomainFeatures(directory=str(tmp_path))
    assert accepted.pinned is False and accepted.protocol["pinned"] is False


def _evaluate(capsys, *argv):
    code = main(["evaluate", *argv])
    out, err = capsys.readouterr()
    assert code == 0, err
    return json.loads(out)


def test_coverage_of_one_digit_and_of_all_digits(capsys, tmp_path, classifier):
    x, y = mnist.load_arrays()["test"]
    threes = tmp_path / "threes.npz"
    np.savez(threes, images=x[y == 3][:1000, ..., None])
    one = _evaluate(
        capsys,
        f"--source={threes}",
        "--reference=mnist:test",
        "--features=domain",
        "--metrics=coverage",
        "--num=1000",
    )
    assert one["classes_covered_domain"] == 1.0
    assert one["class_share_max_domain"] > 0.98
    assert one["class_kl_domain"] > 1.5
    assert len(one["class_histogram_domain"]) == 10
    both = _evaluate(
        capsys,
        "--source=mnist:train",
        "--reference=mnist:test",
        "--features=domain",
        "--metrics=coverage",
        "--num=5000",
    )
    assert both["classes_covered_domain"] == 10.0
    assert both["class_kl_domain"] < 0.005
    assert 0.08 < both["class_share_min_domain"] <= both["class_share_max_domain"] < 0.12
    assert "coverage" in both["protocol"]["metrics"]


def test_coverage_needs_domain_features(capsys):
    args = ["--source=mnist:train", "--reference=mnist:test", "--metrics=coverage", "--num=10"]
    code = main(["evaluate", *args])
    assert code == 2
    assert "use --features domain" in capsys.readouterr().err
    assert os.path.isfile(domain.weights_file())
