"""CycleGAN between the scikit-learn 8x8 digits and MNIST: what the translation preserves.

    python bench/cyclegan_digits.py --workdir /tmp/cyclegan_digits
    python bench/cyclegan_digits.py --workdir /tmp/cyclegan_digits --set train.steps=1000 \
        --grid docs/images/cyclegan_digits.png

Trains the `cyclegan_digits` preset in `--workdir` (rerunning resumes, or only measures once
the run is complete), then measures on all 1,797 digits (domain A, labels known), upsampled
to 28x28 as `gan_tf.data.sklearn_digits` stores them:

* `accuracy_translated`: accuracy of the project's MNIST classifier (`gan_tf.metrics.domain`,
  pinned weights, 99.4% on MNIST test) on the translations G_AB(a), against
  `accuracy_upsampled`, its accuracy on the digits as they are. Target: >= 90% and above
  the upsampled baseline.
* `cycle_l1_a`: mean |G_BA(G_AB(a)) - a| over pixels, in [0, 1] units; `cycle_l1_b` the
  same for the first 1,797 MNIST test images through G_BA then G_AB.
* `fid_translated` / `fid_upsampled`: FID of the translations / the upsampled digits against
  the first 1,797 MNIST test images. Inception features (TF inception-2015-12-05 weights,
  `gan_tf.metrics.inception`, grayscale to RGB, bilinear resize to 299). With 1,797 < 2,048
  samples the covariances are rank deficient: the FID is computed exactly in its
  nuclear-norm form (`gan_tf.metrics.fid`), is biased upwards by the small N, and is
  comparable only with FIDs of the same N and reference set.

Writes `<workdir>/bench.json` and prints it; `--grid` writes a PNG of 20 digits (two per
class): upsampled, translated, reconstructed.

`--gate` adds what the pipeline's translation gate (`pipelines.presets.CYCLEGAN`) would
score and decide, in process, for the run's translators and for the untranslated digits
(identity), on the same images the pipeline gate uses (every digit; the domain reference is
the first 1,797 MNIST test images): the measurements the gate's floors were set from.

    python bench/cyclegan_digits.py --workdir /tmp/cyclegan_30 --set train.steps=30 --gate
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import sys
import time
from collections.abc import Callable
from typing import Any, NamedTuple

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

N = 1797
TARGET = 0.90


def inception_features(path: str, images):
    """Inception pool features of uint8 images, cached in `path` (.npy)."""
    import numpy as np

    from gan_tf.metrics.api import get_extractor

    if os.path.isfile(path):
        return np.load(path)
    features = get_extractor("inception")(images)
    np.save(path, features)
    return features


def domain_data(config):
    """The digits (uint8 [N, 28, 28, 1]) with labels, and the first N MNIST test images."""
    import dataclasses

    import numpy as np

    from gan_tf.data import pipeline

    digits, labels = [], []
    for x, y in pipeline.image_batches(config.data, batch_size=1000, labels=True):
        digits.append(x.numpy())
        labels.append(y.numpy())
    mnist = dataclasses.replace(config.data_b, limit=0)
    test = np.concatenate([x.numpy() for x in pipeline.image_batches(mnist, "test", 1000, N)])
    return np.concatenate(digits), np.concatenate(labels), test


class Run(NamedTuple):
    """A trained run's translators (uint8 images in and out) at `step`, and the data."""

    ab: Callable
    ba: Callable
    step: int
    digits: Any
    labels: Any
    test: Any


def load_run(config, workdir: str) -> Run:
    """The run's translators, loaded once, with the digits, their labels and MNIST test."""
    from gan_tf import families
    from gan_tf.families.cyclegan import translate

    translators, step = families.for_config(config).load(workdir)
    ab = functools.partial(translate, translators.ab)
    ba = functools.partial(translate, translators.ba)
    return Run(ab, ba, step, *domain_data(config))


def measure(run: Run, workdir: str) -> dict:
    from gan_tf.metrics import fid, translation
    from gan_tf.metrics.domain import DomainFeatures

    translated = run.ab(run.digits)
    classifier = DomainFeatures()
    scores = translation.scores(
        run.digits, run.labels, run.ab, run.ba, classifier, translated=translated
    )

    reference = inception_features(os.path.join(workdir, "inception_mnist_test.npy"), run.test)
    upsampled = inception_features(os.path.join(workdir, "inception_upsampled.npy"), run.digits)
    translated_features = inception_features(
        os.path.join(workdir, f"inception_translated_{run.step}.npy"), translated
    )
    return {
        "step": run.step,
        "images": len(run.digits),
        "accuracy_upsampled": scores["accuracy_source"],
        "accuracy_translated": scores["accuracy"],
        "cycle_l1_a": scores["cycle_l1"],
        "cycle_l1_b": translation.cycle_l1(run.test, run.ba, run.ab),
        "fid_upsampled": fid.fid_from_features(upsampled, reference, allow_rank_deficient=True),
        "fid_translated": fid.fid_from_features(
            translated_features, reference, allow_rank_deficient=True
        ),
        "fid_protocol": f"Inception (TF 2015-12-05), N={len(run.digits)} vs first "
        f"{len(run.test)} MNIST test, exact rank-deficient form",
        "classifier": classifier.protocol["weights"],
    }


def gate_scores(run: Run) -> dict:
    """The translation gate's scores and decision (no baseline) for the run's translators
    and for the identity."""
    from pipelines import gate
    from pipelines import presets as gate_presets

    settings = gate_presets.gate_settings("cyclegan_digits")
    sources = gate.Sources(run.digits, run.labels)

    def reference():
        return (run.test[i : i + 250] for i in range(0, len(run.test), 250))

    candidates = {
        "translator": gate.Translators(run.ab, run.ba),
        "identity": gate.Translators(lambda x: x, lambda x: x),
    }
    out = {"settings": json.loads(settings.to_json())}
    for name, candidate in candidates.items():
        result = gate.score(
            gate.translations_by_seed(candidate.translate, sources),
            reference,
            settings,
            own=[gate.TranslationScore(candidate, sources)],
        )
        blessed, checks = gate.decide(result["scores"], settings, None)
        out[name] = {
            "scores": result["scores"],
            "blessed": blessed,
            "failed": [c["rule"] for c in checks if not c["passed"]],
        }
    return out


def write_grid(run: Run, path: str) -> None:
    """20 digits, two per class: upsampled, translated, reconstructed (three rows)."""
    from gan_tf import images
    from gan_tf.metrics import translation

    images.write_png(path, translation.grid(run.digits, run.labels, run.ab, run.ba, per_class=2))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workdir", required=True)
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--grid", default="", help="write the before/after grid PNG here")
    parser.add_argument(
        "--gate", action="store_true", help="also score as the pipeline's translation gate"
    )
    args = parser.parse_args()

    from gan_tf import presets, train

    config = presets.cyclegan_digits().override(args.set)
    start = time.perf_counter()
    train.train(config, args.workdir, verbose=2)
    seconds = time.perf_counter() - start
    run = load_run(config, args.workdir)
    result = measure(run, args.workdir)
    result["train_seconds_this_call"] = round(seconds, 1)
    result["overrides"] = args.set
    met = result["accuracy_translated"] >= TARGET and (
        result["accuracy_translated"] > result["accuracy_upsampled"]
    )
    result["target_met"] = bool(met)
    if args.gate:
        result["gate"] = gate_scores(run)
    with open(os.path.join(args.workdir, "bench.json"), "w", encoding="utf-8") as f:
        json.dump(result, f, indent=2)
    if args.grid:
        write_grid(run, args.grid)
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
