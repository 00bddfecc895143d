"""What an image translation preserves: class accuracy and cycle reconstruction error.

Used by the CycleGAN translation gate (`pipelines.gate`) and `bench/cyclegan_digits.py`.
Translators are functions of uint8 NHWC images returning uint8 images (an in-process
network through `gan_tf.families.cyclegan.translate`, or an export's `translate` /
`translate_back` signatures).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

Translate = Callable[[np.ndarray], np.ndarray]

# Result keys of `scores`; `accuracy_source` describes the data, not the translator.
KEYS = ("accuracy", "accuracy_source", "cycle_l1")
HIGHER_IS_BETTER = ("accuracy", "accuracy_source")


def class_accuracy(images: np.ndarray, labels: np.ndarray, classifier=None) -> float:
    """Share of `images` the domain classifier (`gan_tf.metrics.domain`) puts in `labels`."""
    from gan_tf.metrics.domain import DomainFeatures

    classifier = classifier or DomainFeatures()
    logits = classifier.features_and_logits(images)[1]
    return float(np.mean(logits.argmax(1) == np.asarray(labels)))


def cycle_l1(images: np.ndarray, there: Translate, back: Translate) -> float:
    """Mean |back(there(x)) - x| over pixels, in [0, 1] units."""
    cycled = back(there(images))
    return float(np.mean(np.abs(cycled.astype(np.float64) - images) / 255.0))


def scores(
    images: np.ndarray,
    labels: np.ndarray,
    translate: Translate,
    translate_back: Translate,
    classifier=None,
) -> dict[str, float]:
    """The translation scores of labelled source-domain images.

    Returns:
      `accuracy` (the classifier on the translations), `accuracy_source` (on the images as
      they are: the baseline a translation should keep or beat) and `cycle_l1`
      (`translate` then `translate_back`).
    """
    from gan_tf.metrics.domain import DomainFeatures

    classifier = classifier or DomainFeatures()
    return {
        "accuracy": class_accuracy(translate(images), labels, classifier),
        "accuracy_source": class_accuracy(images, labels, classifier),
        "cycle_l1": cycle_l1(images, translate, translate_back),
    }
