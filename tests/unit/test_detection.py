"""Detection metrics against values worked out by hand and against scikit-learn."""

import numpy as np
import pytest
from sklearn.metrics import average_precision_score, roc_auc_score

from gan_tf.errors import DataError
from gan_tf.metrics import detection

# Normal: 0.1, 0.4, 0.65, 0.2. Anomalous: 0.35, 0.8, 0.9, 0.5.
SCORES = [0.1, 0.4, 0.35, 0.8, 0.65, 0.2, 0.9, 0.5]
ANOMALOUS = [0, 0, 1, 1, 0, 0, 1, 1]


def test_auroc_by_hand():
    # Anomalous above normal: 0.35 beats 2, 0.8 and 0.9 beat 4 each, 0.5 beats 3: 13 of 16.
    assert detection.auroc(SCORES, ANOMALOUS) == pytest.approx(13 / 16, abs=1e-12)


def test_auroc_counts_ties_as_half():
    assert detection.auroc([1, 1, 2, 2], [0, 1, 0, 1]) == pytest.approx(0.5, abs=1e-12)
    assert detection.auroc([1, 2, 2], [0, 0, 1]) == pytest.approx(0.75, abs=1e-12)


def test_auprc_by_hand():
    # Descending: A A N A N A N N; precision at each anomalous hit: 1, 1, 3/4, 4/6.
    expected = (1 + 1 + 3 / 4 + 4 / 6) / 4
    assert detection.auprc(SCORES, ANOMALOUS) == pytest.approx(expected, abs=1e-12)


def test_threshold_at_fpr_by_hand():
    at = detection.threshold_at_fpr(SCORES, ANOMALOUS, 0.25)  # one normal of 4 may pass
    assert (at.threshold, at.fpr, at.tpr) == (0.4, 0.25, 0.75)
    at = detection.threshold_at_fpr(SCORES, ANOMALOUS, 0.0)
    assert (at.threshold, at.fpr, at.tpr) == (0.65, 0.0, 0.5)


@pytest.mark.parametrize("seed", range(20))
def test_metrics_match_scikit_learn(seed):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(5, 300))
    anomalous = rng.random(n) < 0.3
    anomalous[:2] = [True, False]
    # Half the cases draw from few values, so ties are common.
    scores = rng.integers(0, 5, n) if seed % 2 else rng.normal(size=n) + anomalous
    assert detection.auroc(scores, anomalous) == pytest.approx(
        roc_auc_score(anomalous, scores), abs=1e-12
    )
    assert detection.auprc(scores, anomalous) == pytest.approx(
        average_precision_score(anomalous, scores), abs=1e-12
    )
    at = detection.threshold_at_fpr(scores, anomalous, 0.1)
    normal = np.asarray(scores)[~anomalous]
    assert np.mean(normal > at.threshold) <= 0.1
    lower = normal[normal < at.threshold]
    if lower.size:  # the next lower normal score would exceed the rate
        assert np.mean(normal > lower.max()) > 0.1


@pytest.mark.parametrize(
    "scores, anomalous, match",
    [
        ([0.1, 0.2], [1, 1], "both normal and anomalous"),
        ([0.1, 0.2], [0, 0], "both normal and anomalous"),
        ([0.1, np.nan], [0, 1], "finite"),
        ([0.1, 0.2, 0.3], [0, 1], "3 scores but 2 labels"),
    ],
)
def test_bad_inputs_are_refused(scores, anomalous, match):
    with pytest.raises(DataError, match=match):
        detection.auroc(scores, anomalous)


def test_summary_counts():
    s = detection.summary(SCORES, ANOMALOUS, fpr=0.25)
    assert (s["normal"], s["anomalous"], s["threshold"]) == (4, 4, 0.4)
    assert s["auroc"] == pytest.approx(13 / 16)
