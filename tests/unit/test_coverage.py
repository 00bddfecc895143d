"""Class coverage maths against values computed by hand."""

from __future__ import annotations

import math

import numpy as np
import pytest

from gan_tf.metrics import coverage


def test_class_counts_take_the_arg_max():
    logits = np.array([[0.1, 2.0, 0.0], [3.0, 0.0, 0.0], [0.0, 1.0, 0.5], [0.0, 0.0, 9.0]])
    np.testing.assert_array_equal(coverage.class_counts(logits, 3), [1, 2, 1])
    with pytest.raises(ValueError, match=r"logits \[n, 4\]"):
        coverage.class_counts(logits, 4)


def test_smoothed_kl_by_hand():
    # p = (2.5, 2.5) / 5, q = (4.5, 0.5) / 5.
    expected = 0.5 * math.log(0.5 / 0.9) + 0.5 * math.log(0.5 / 0.1)
    assert coverage.smoothed_kl([2, 2], [4, 0]) == pytest.approx(expected, rel=1e-12)
    # Smoothing: p = (7.5, 3.5) / 11, q = (70.5, 30.5) / 101.
    p, q = (7.5 / 11, 3.5 / 11), (70.5 / 101, 30.5 / 101)
    assert coverage.smoothed_kl([7, 3], [70, 30]) == pytest.approx(
        p[0] * math.log(p[0] / q[0]) + p[1] * math.log(p[1] / q[1]), rel=1e-12
    )
    assert coverage.smoothed_kl([5, 5, 5], [5, 5, 5]) == 0.0


def test_one_class_set_covers_one_class_and_balanced_set_covers_all():
    reference = np.full(10, 1000)
    one = coverage.coverage_from_counts(np.eye(10, dtype=np.int64)[3] * 500, reference)
    assert one["classes_covered_domain"] == 1.0
    assert one["class_share_min_domain"] == 0.0 and one["class_share_max_domain"] == 1.0
    assert one["class_kl_domain"] == pytest.approx(
        0.1 * math.log(0.1 / (500.5 / 505)) + 0.9 * math.log(0.1 / (0.5 / 505)), rel=1e-12
    )
    balanced = coverage.coverage_from_counts(np.full(10, 50), reference)
    assert balanced["classes_covered_domain"] == 10.0
    assert balanced["class_kl_domain"] == pytest.approx(0.0, abs=1e-15)
    assert balanced["class_histogram_domain"] == [0.1] * 10


def test_covered_means_a_quarter_of_the_reference_share():
    reference = np.array([500, 300, 200])
    # Shares 0.5, 0.05, 0.45 against 0.5, 0.3, 0.2: class 1 gets 1/6 of its share.
    got = coverage.coverage_from_counts(np.array([100, 10, 90]), reference)
    assert got["classes_covered_domain"] == 2.0
    # 0.075 = exactly a quarter of 0.3 counts as covered.
    got = coverage.coverage_from_counts(np.array([85, 15, 100]), reference)
    assert got["classes_covered_domain"] == 3.0


def test_conditional_accuracy_by_hand():
    got = coverage.conditional_accuracy(np.array([0, 1, 1, 1]), np.array([0, 1, 0, 1]), 2)
    assert got["class_accuracy_domain"] == 0.75
    assert got["class_accuracy_per_class_domain"] == [0.5, 1.0]
    assert got["class_accuracy_min_domain"] == 0.5
    with pytest.raises(ValueError, match="no sample was asked for class 2"):
        coverage.conditional_accuracy(np.array([0, 1]), np.array([0, 1]), 3)


def test_bad_counts():
    with pytest.raises(ValueError, match="count vectors differ"):
        coverage.coverage_from_counts(np.ones(3), np.ones(4))
    with pytest.raises(ValueError, match="at least one generated"):
        coverage.coverage_from_counts(np.zeros(3), np.ones(3))
