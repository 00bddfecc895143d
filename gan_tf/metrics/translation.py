"""What an image translation preserves: class accuracy and cycle reconstruction error, and a
grid that shows it.

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
    return _l1(back(there(images)), images)


def _l1(cycled: np.ndarray, images: np.ndarray) -> float:
    return float(np.mean(np.abs(cycled.astype(np.float64) - images) / 255.0))


def scores(
    images: np.ndarray,
    labels: np.ndarray,
    translate: Translate,
    translate_back: Translate,
    classifier=None,
    translated: np.ndarray | None = None,
) -> dict[str, float]:
    """The translation scores of labelled source-domain images.

    Args:
      images: uint8 source-domain images.
      labels: their classes.
      translate: the translator.
      translate_back: the translator in the other direction.
      classifier: the domain classifier (`gan_tf.metrics.domain.DomainFeatures`; a new one
        if None).
      translated: `translate(images)` when the caller has it already.

    Returns:
      `accuracy` (the classifier on the translations), `accuracy_source` (on the images as
      they are: the baseline a translation should keep or beat) and `cycle_l1`
      (`translate` then `translate_back`).
    """
    from gan_tf.metrics.domain import DomainFeatures

    classifier = classifier or DomainFeatures()
    translated = translate(images) if translated is None else translated
    return {
        "accuracy": class_accuracy(translated, labels, classifier),
        "accuracy_source": class_accuracy(images, labels, classifier),
        "cycle_l1": _l1(translate_back(translated), images),
    }


def grid(
    images: np.ndarray,
    labels: np.ndarray,
    translate: Translate,
    translate_back: Translate,
    per_class: int = 2,
) -> np.ndarray:
    """A uint8 grid of three rows: the first `per_class` images of each class, their
    translations, and those translated back."""
    from gan_tf.images import make_grid

    labels = np.asarray(labels)
    chosen = np.concatenate([np.flatnonzero(labels == k)[:per_class] for k in np.unique(labels)])
    sources = images[chosen]
    there = translate(sources)
    return make_grid(np.concatenate([sources, there, translate_back(there)]), cols=len(sources))
