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


def measure(config, workdir: str) -> dict:
    from gan_tf import families
    from gan_tf.families.cyclegan import translate
    from gan_tf.metrics import fid, translation
    from gan_tf.metrics.domain import DomainFeatures

    translators, step = families.for_config(config).load(workdir)
    digits, labels, test = domain_data(config)
    ab = functools.partial(translate, translators.ab)
    ba = functools.partial(translate, translators.ba)
    translated = ab(digits)
    classifier = DomainFeatures()
    scores = translation.scores(digits, labels, ab, ba, classifier, translated=translated)

    reference = inception_features(os.path.join(workdir, "inception_mnist_test.npy"), test)
    upsampled = inception_features(os.path.join(workdir, "inception_upsampled.npy"), digits)
    translated_features = inception_features(
        os.path.join(workdir, f"inception_translated_{step}.npy"), translated
    )
    return {
        "step": step,
        "images": len(digits),
        "accuracy_upsampled": scores["accuracy_source"],
        "accuracy_translated": scores["accuracy"],
        "cycle_l1_a": scores["cycle_l1"],
        "cycle_l1_b": translation.cycle_l1(test, ba, ab),
        "fid_upsampled": fid.fid_from_features(upsampled, reference, allow_rank_deficient=True),
        "fid_translated": fid.fid_from_features(
            translated_features, reference, allow_rank_deficient=True
        ),
        "fid_protocol": f"Inception (TF 2015-12-05), N={len(digits)} vs first {len(test)} "
        "MNIST test, exact rank-deficient form",
        "classifier": classifier.protocol["weights"],
    }


def gate_scores(config, workdir: str) -> dict:
    """The translation gate's scores and decision (no baseline) for the run's translators
    and for the identity."""
    from gan_tf import families
    from gan_tf.families.cyclegan import translate
    from pipelines import gate
    from pipelines import presets as gate_presets

    settings = gate_presets.gate_settings("cyclegan_digits")
    translators, _ = families.for_config(config).load(workdir)
    digits, labels, test = domain_data(config)
    sources = gate.Sources(digits, labels)

    def reference():
        return (test[i : i + 250] for i in range(0, len(test), 250))

    candidates = {
        "translator": gate.Translators(
            functools.partial(translate, translators.ab),
            functools.partial(translate, translators.ba),
        ),
        "identity": gate.Translators(lambda x: x, lambda x: x),
    }
    out = {"settings": json.loads(settings.to_json())}
    for name, candidate in candidates.items():
        result = gate.score(
            gate.translations_by_seed(candidate.translate, sources),
            reference,
            settings,
            translators=candidate,
            sources=sources,
        )
        blessed, checks = gate.decide(result["scores"], settings, None)
        out[name] = {
            "scores": result["scores"],
            "blessed": blessed,
            "failed": [c["rule"] for c in checks if not c["passed"]],
        }
    return out


def write_grid(config, workdir: str, path: str) -> None:
    """20 digits, two per class: upsampled, translated, reconstructed (three rows)."""
    from gan_tf import families, images
    from gan_tf.families.cyclegan import translate
    from gan_tf.metrics import translation

    translators, _ = families.for_config(config).load(workdir)
    digits, labels, _ = domain_data(config)
    ab = functools.partial(translate, translators.ab)
    ba = functools.partial(translate, translators.ba)
    images.write_png(path, translation.grid(digits, labels, ab, ba, per_class=2))


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
    result = measure(config, args.workdir)
    result["train_seconds_this_call"] = round(seconds, 1)
    result["overrides"] = args.set
    met = result["accuracy_translated"] >= TARGET and (
        result["accuracy_translated"] > result["accuracy_upsampled"]
    )
    result["target_met"] = bool(met)
    if args.gate:
        result["gate"] = gate_scores(config, args.workdir)
    with open(os.path.join(args.workdir, "bench.json"), "w", encoding="utf-8") as f:
        json.dump(result, f, indent=2)
    if args.grid:
        write_grid(config, args.workdir, args.grid)
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
