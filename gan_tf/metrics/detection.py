"""Detection metrics over anomaly scores: AUROC, AUPRC and the threshold at a false-positive
rate. Anomalous examples are the positive class; a higher score means more anomalous."""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from gan_tf.errors import DataError


def _check(scores, anomalous) -> tuple[np.ndarray, np.ndarray]:
    scores = np.asarray(scores, np.float64).reshape(-1)
    anomalous = np.asarray(anomalous, bool).reshape(-1)
    if scores.shape != anomalous.shape:
        raise DataError(f"{scores.size} scores but {anomalous.size} labels")
    if not np.all(np.isfinite(scores)):
        raise DataError("anomaly scores must be finite")
    if anomalous.all() or not anomalous.any():
        raise DataError("detection metrics need both normal and anomalous examples")
    return scores, anomalous


def auroc(scores, anomalous) -> float:
    """Area under the ROC curve: the probability that a random anomalous example scores
    higher than a random normal one, ties counting one half (Mann-Whitney U / (n_a n_n))."""
    scores, anomalous = _check(scores, anomalous)
    order = np.argsort(scores, kind="mergesort")
    ranks = np.empty(len(scores))
    sorted_scores = scores[order]
    # Average ranks (1-based) over runs of equal scores.
    starts = np.r_[0, np.flatnonzero(np.diff(sorted_scores)) + 1]
    ends = np.r_[starts[1:], len(scores)]
    for start, end in zip(starts, ends):
        ranks[order[start:end]] = (start + end + 1) / 2.0
    n_a, n_n = anomalous.sum(), (~anomalous).sum()
    u = ranks[anomalous].sum() - n_a * (n_a + 1) / 2.0
    return float(u / (n_a * n_n))


def auprc(scores, anomalous) -> float:
    """Area under the precision-recall curve as average precision: the sum over distinct
    score thresholds t (high to low) of `(recall(t) - recall(previous t)) * precision(t)`."""
    scores, anomalous = _check(scores, anomalous)
    order = np.argsort(-scores, kind="mergesort")
    s, y = scores[order], anomalous[order]
    last = np.r_[np.flatnonzero(np.diff(s)), len(s) - 1]  # last index of each threshold
    tp = np.cumsum(y)[last]
    fp = (last + 1) - tp
    precision = tp / (tp + fp)
    recall = tp / y.sum()
    return float(np.sum(np.diff(np.r_[0.0, recall]) * precision))


class Threshold(NamedTuple):
    """A score threshold (`score > threshold` flags an anomaly) and its rates on the data."""

    threshold: float
    fpr: float
    tpr: float


def threshold_at_fpr(scores, anomalous, fpr: float) -> Threshold:
    """The lowest threshold whose false-positive rate on the normal examples is <= `fpr`.

    Raises:
      DataError: for `fpr` outside [0, 1] or bad scores/labels.
    """
    if not 0.0 <= fpr <= 1.0:
        raise DataError(f"false-positive rate must be in [0, 1], got {fpr}")
    scores, anomalous = _check(scores, anomalous)
    normal = np.sort(scores[~anomalous])
    # Flagging `score > normal[k]` leaves n - k - 1 normal scores above it (ties excluded).
    allowed = int(np.floor(fpr * len(normal) + 1e-9))
    candidates = np.unique(normal)
    above = len(normal) - np.searchsorted(normal, candidates, side="right")
    threshold = float(candidates[np.argmax(above <= allowed)])
    return Threshold(
        threshold,
        float(np.mean(scores[~anomalous] > threshold)),
        float(np.mean(scores[anomalous] > threshold)),
    )


def summary(scores, anomalous, fpr: float = 0.05) -> dict[str, float]:
    """AUROC, AUPRC, and the threshold at `fpr` with its true-positive rate."""
    at = threshold_at_fpr(scores, anomalous, fpr)
    return {
        "auroc": auroc(scores, anomalous),
        "auprc": auprc(scores, anomalous),
        "threshold": at.threshold,
        "fpr": at.fpr,
        "tpr": at.tpr,
        "normal": int(np.sum(~np.asarray(anomalous, bool))),
        "anomalous": int(np.sum(np.asarray(anomalous, bool))),
    }
