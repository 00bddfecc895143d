"""Class-balanced subsets: which examples are chosen, and refusals."""

from __future__ import annotations

import numpy as np
import pytest

from gan_tf.data import subsets
from gan_tf.errors import DataError


def test_first_examples_of_each_class_in_dataset_order():
    labels = np.array([2, 0, 0, 1, 2, 0, 1, 2, 1, 0])
    chosen = subsets.first_per_class(labels, 2, 3)
    # class 0 at 1, 2; class 1 at 3, 6; class 2 at 0, 4.
    np.testing.assert_array_equal(chosen, [0, 1, 2, 3, 4, 6])
    assert chosen.dtype == np.int64
    np.testing.assert_array_equal(np.bincount(labels[chosen]), [2, 2, 2])


def test_balanced_on_real_mnist_labels():
    from gan_tf.data import mnist

    _, labels = mnist.load_arrays()["train"]
    chosen = subsets.first_per_class(labels, 60, 10)
    assert len(chosen) == 600
    np.testing.assert_array_equal(np.bincount(labels[chosen], minlength=10), [60] * 10)
    # The first 60 of each class: nothing of a class is skipped before its 60th example.
    for label in range(10):
        last = chosen[labels[chosen] == label].max()
        assert np.sum(labels[: last + 1] == label) == 60


def test_refuses_a_class_with_too_few_examples():
    with pytest.raises(DataError, match="class 1 has 1 examples, fewer than 2"):
        subsets.first_per_class([0, 0, 1, 2, 2], 2, 3)
    with pytest.raises(DataError, match="class 3 has 0"):
        subsets.first_per_class([0, 1, 2], 1, 4)
    with pytest.raises(DataError, match="must be positive"):
        subsets.first_per_class([0, 1], 0, 2)
