"""Classification error of a classifier's predicted labels, overall and per class.

Used by the classification gate of semi-supervised models (`pipelines.gate`, through the
export's `classify` signature). Both keys are fractions of images, lower is better.
"""

from __future__ import annotations

import numpy as np

from gan_tf.errors import DataError

# Result keys of `errors`: the share of images misclassified, and that share in the class
# classified worst (a classifier that gives up a class fails it while its mean looks fine).
KEYS = ("test_error", "worst_class_error")


def errors(predicted, labels) -> dict[str, float | list[float | None]]:
    """The error rate of `predicted` against `labels`, overall and per true class.

    Args:
      predicted: predicted class indices, one per image.
      labels: true class indices (>= 0), one per image.

    Returns:
      `{"test_error", "worst_class_error", "class_error"}`: `class_error[k]` is the share of
      images of class `k` misclassified, for `k` up to the largest label (None for a class
      with no image); `worst_class_error` is the largest of them.

    Raises:
      DataError: if the arrays differ in length, are empty, or a label is negative.
    """
    predicted = np.asarray(predicted).reshape(-1)
    labels = np.asarray(labels).reshape(-1)
    if predicted.shape != labels.shape or not labels.size:
        raise DataError(f"{predicted.size} predictions for {labels.size} labels")
    if labels.min() < 0:
        raise DataError("classification error needs labelled images (a label is negative)")
    wrong = predicted != labels
    per_class: list[float | None] = []
    for k in range(int(labels.max()) + 1):
        of_k = labels == k
        per_class.append(float(wrong[of_k].mean()) if of_k.any() else None)
    return {
        "test_error": float(wrong.mean()),
        "worst_class_error": max(e for e in per_class if e is not None),
        "class_error": per_class,
    }
