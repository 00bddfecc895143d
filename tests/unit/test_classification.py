"""Classification error (`gan_tf.metrics.classification`) against counts worked out by hand."""

from __future__ import annotations

import numpy as np
import pytest

from gan_tf.errors import DataError
from gan_tf.metrics import classification


def test_errors_overall_and_per_class():
    # Class 0: 4 images, 1 wrong; class 1: none; class 2: 2 images, 2 wrong; class 3: 4
    # images, 0 wrong. 3 wrong of 10.
    labels = np.array([0, 0, 0, 0, 2, 2, 3, 3, 3, 3])
    predicted = np.array([0, 0, 1, 0, 0, 3, 3, 3, 3, 3])
    result = classification.errors(predicted, labels)
    assert result["test_error"] == pytest.approx(0.3)
    assert result["class_error"] == [0.25, None, 1.0, 0.0]
    assert result["worst_class_error"] == 1.0
    assert set(classification.KEYS) == set(result) - {"class_error"}


def test_a_perfect_classifier_scores_zero():
    labels = np.arange(5).repeat(3)
    result = classification.errors(labels.copy(), labels)
    assert result["test_error"] == 0.0 and result["worst_class_error"] == 0.0


@pytest.mark.parametrize(
    "predicted, labels, message",
    [
        ([0, 1], [0, 1, 2], "2 predictions for 3 labels"),
        ([], [], "0 predictions for 0 labels"),
        ([0, 1], [0, -1], "a label is negative"),
    ],
)
def test_bad_input_is_refused(predicted, labels, message):
    with pytest.raises(DataError, match=message):
        classification.errors(np.array(predicted), np.array(labels))
