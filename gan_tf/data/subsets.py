"""Deterministic, class-balanced subsets of a labelled dataset (low-data experiments)."""

from __future__ import annotations

import numpy as np

from gan_tf.errors import DataError


def first_per_class(labels, per_class: int, num_classes: int) -> np.ndarray:
    """Indices of the first `per_class` examples of every class, in dataset order.

    The subset depends on the labels' order only (no random draw), so the same data gives the
    same subset everywhere; its indices are sorted, so it keeps the dataset's order.

    Args:
      labels: integer class labels, one per example, in dataset order.
      per_class: examples to take of each class.
      num_classes: classes `0..num_classes-1`; every one must hold `per_class` examples.

    Returns:
      Sorted int64 indices into `labels`, `per_class * num_classes` of them.

    Raises:
      DataError: if `per_class` or `num_classes` is not positive, or a class has too few
        examples.
    """
    if per_class <= 0 or num_classes <= 0:
        raise DataError(
            f"per_class and num_classes must be positive, got {per_class} and {num_classes}"
        )
    labels = np.asarray(labels)
    chosen = []
    for label in range(num_classes):
        where = np.flatnonzero(labels == label)
        if len(where) < per_class:
            raise DataError(f"class {label} has {len(where)} examples, fewer than {per_class}")
        chosen.append(where[:per_class])
    return np.sort(np.concatenate(chosen)).astype(np.int64)
