"""Class coverage: how a generator's samples spread over the classes of its domain.

A mode-collapse measure, not a quality score and not an Inception Score: each sample is
assigned the class the domain classifier (`gan_tf.metrics.domain`) gives it, and the
generated class histogram is compared with the reference set's histogram under the same
classifier (so the classifier's own biases cancel).

Result keys (all carry the `_domain` suffix of the classifier that made them):

* `classes_covered_domain`: classes receiving at least `COVERED_FRACTION` (a quarter) of their
  reference share of the samples (10 for MNIST test; 1 for a set of one digit);
* `class_kl_domain`: KL(reference || generated) of the class histograms, each smoothed with
  half a sample per class; 0 for identical histograms, large when a class is missing;
* `class_share_min_domain`, `class_share_max_domain`: the smallest and largest share of the
  generated samples any class receives (0.1 each for a perfectly balanced 10-class set);
* `class_histogram_domain`: the generated shares per class (a list, for reports);
* for conditional generators, which are asked for class `seed % num_classes`:
  `class_accuracy_domain` (share of samples classified as the class asked for),
  `class_accuracy_min_domain` (the worst class's) and `class_accuracy_per_class_domain`.
"""

from __future__ import annotations

import numpy as np

COVERED_FRACTION = 0.25
SMOOTHING = 0.5


def class_counts(logits: np.ndarray, num_classes: int) -> np.ndarray:
    """Counts of the arg-max class of each row of `logits` ([n, num_classes])."""
    logits = np.asarray(logits)
    if logits.ndim != 2 or logits.shape[1] != num_classes:
        raise ValueError(f"expected logits [n, {num_classes}], got {logits.shape}")
    return np.bincount(np.argmax(logits, axis=1), minlength=num_classes).astype(np.int64)


def smoothed_kl(reference_counts: np.ndarray, counts: np.ndarray) -> float:
    """KL(p || q) of two count vectors, each smoothed with `SMOOTHING` per class (nats)."""
    p = np.asarray(reference_counts, np.float64) + SMOOTHING
    q = np.asarray(counts, np.float64) + SMOOTHING
    p, q = p / p.sum(), q / q.sum()
    return float(np.sum(p * np.log(p / q)))


def coverage_from_counts(counts: np.ndarray, reference_counts: np.ndarray) -> dict:
    """Coverage keys (see the module docstring) from generated and reference class counts.

    Raises:
      ValueError: for empty or mismatched count vectors.
    """
    counts = np.asarray(counts, np.int64)
    reference_counts = np.asarray(reference_counts, np.int64)
    if counts.shape != reference_counts.shape or counts.ndim != 1:
        raise ValueError(f"count vectors differ: {counts.shape} vs {reference_counts.shape}")
    if counts.sum() == 0 or reference_counts.sum() == 0:
        raise ValueError("class coverage needs at least one generated and one reference image")
    shares = counts / counts.sum()
    reference_shares = reference_counts / reference_counts.sum()
    covered = int(np.sum(shares >= COVERED_FRACTION * reference_shares))
    return {
        "classes_covered_domain": float(covered),
        "class_kl_domain": smoothed_kl(reference_counts, counts),
        "class_share_min_domain": float(shares.min()),
        "class_share_max_domain": float(shares.max()),
        "class_histogram_domain": [round(float(s), 6) for s in shares],
    }


def conditional_accuracy(predicted: np.ndarray, requested: np.ndarray, num_classes: int) -> dict:
    """How often samples asked for class c are classified as c, overall and per class.

    Raises:
      ValueError: for mismatched lengths or a class never asked for.
    """
    predicted, requested = np.asarray(predicted), np.asarray(requested)
    if predicted.shape != requested.shape:
        raise ValueError(f"{len(predicted)} predictions for {len(requested)} requests")
    per_class = []
    for c in range(num_classes):
        asked = requested == c
        if not asked.any():
            raise ValueError(f"no sample was asked for class {c}; use at least {num_classes}")
        per_class.append(float(np.mean(predicted[asked] == c)))
    return {
        "class_accuracy_domain": float(np.mean(predicted == requested)),
        "class_accuracy_min_domain": min(per_class),
        "class_accuracy_per_class_domain": [round(a, 6) for a in per_class],
    }
