"""The pipeline of a translator: two domains ingested, CycleGAN trained, translation gated.

On the gate alone (fast): the translation scores of fixed translators and a fixed
classifier against hand counts; the settings; a data root without domain B's splits.

End to end (slow): the real pipeline (ExampleGen ... SampleQualityGate, Pusher, on a sqlite ML
Metadata store) with the TFDS route of a two-domain preset: `cyclegan_digits` writes the
first 300 scikit-learn digits as `train` and `eval` (the digits have one split) and the first
300 MNIST train / test images as `train_b` / `eval_b`; the Trainer trains a tiny CycleGAN
(20 steps) on `train` and `train_b`, and the gate judges the export's `translate` and
`translate_back` on the 300 labelled digits of `eval`, the translations against `eval_b`.
Run 1's accuracy threshold is 0.05, set so that the tiny model passes (the preset's own
floors are for the trained model; `pipelines.presets.CYCLEGAN`); run 2 reruns it (the
Trainer cached) with the threshold just above run 1's accuracy and must refuse and push
nothing.
"""

from __future__ import annotations

import dataclasses
import json
import os

import numpy as np
import pytest
import tensorflow as tf

from gan_tf import config as config_lib
from gan_tf.data import sources
from gan_tf.errors import ConfigError, DataError
from gan_tf.metrics import translation
from gan_tf.metrics.domain import DomainFeatures
from pipelines import gate, local_runner, pipeline, presets, results
from pipelines.components.atomic_pusher import existing_versions

LIMIT = 300
TINY = (
    "train.steps=20",
    "train.steps_per_epoch=10",
    "train.checkpoint_every=10",
    "train.image_every=20",
    "train.embed_samples=0",
    "model.generator.width=8",
    "model.generator.blocks=1",
    "model.discriminator.width=8",
)
TINY_GATE = dataclasses.replace(
    presets.CYCLEGAN,
    num_samples={"translation": LIMIT, "domain": LIMIT},
    thresholds={"accuracy": 0.05},
    margins={},
)

# -- the scores on fixed translators -----------------------------------------------------


class FixedClassifier:
    """Classifies an image by its first pixel's value mod 10."""

    def features_and_logits(self, images):
        logits = np.eye(10, dtype=np.float32)[images[:, 0, 0, 0].astype(int) % 10]
        return np.zeros([len(images), 1], np.float32), logits


def test_translation_scores_on_fixed_translators():
    images = np.zeros([8, 4, 4, 1], np.uint8)
    images[:, 0, 0, 0] = np.arange(8)  # classified 0..7
    labels = np.array([0, 1, 2, 3, 4, 5, 6, 0])  # the source: 7 of 8 right

    def there(x):  # +1 on every pixel: the first pixel classifies as label + 1
        return x + 1

    def back(x):  # -1 on the first pixel only: 15 of 16 pixels stay 1 grey level off
        y = x.copy()
        y[:, 0, 0, 0] -= 1
        return y

    result = translation.scores(images, labels, there, back, FixedClassifier())
    # Translations classify as 1..8; labels 0..6, 0: none right.
    assert result == {
        "accuracy": 0.0,
        "accuracy_source": 7 / 8,
        "cycle_l1": pytest.approx(15 / 16 / 255),
    }
    shifted = translation.scores(images, labels + 1, there, back, FixedClassifier())
    assert shifted["accuracy"] == 7 / 8 and shifted["accuracy_source"] == 0.0
    # Translations the caller has already are used, not made again.
    calls = []

    def counted(x):
        calls.append(len(x))
        return there(x)

    given = translation.scores(images, labels, counted, back, FixedClassifier(), there(images))
    assert given == result and calls == []


def test_translation_grid_rows_are_sources_translations_and_cycles():
    images = np.zeros([7, 2, 2, 1], np.uint8)
    images[:, 0, 0, 0] = np.arange(7) * 10
    labels = np.array([2, 0, 2, 1, 0, 2, 1])

    def there(x):
        return x + 1

    def back(x):
        return x + 100

    grid = translation.grid(images, labels, there, back, per_class=2)
    pad, size = 2, 2
    assert grid.shape == (pad + 3 * (size + pad), pad + 6 * (size + pad), 1)
    corners = grid[pad :: size + pad, pad :: size + pad, 0][:3, :6]
    # Two of each class in class order: indices 1, 4 (class 0), 3, 6 (1), 0, 2 (2).
    sources = np.array([1, 4, 3, 6, 0, 2]) * 10
    np.testing.assert_array_equal(corners, [sources, sources + 1, sources + 101])


def test_translation_settings():
    settings = presets.gate_settings("cyclegan_digits")
    assert settings == presets.CYCLEGAN
    assert settings.result_keys() >= {"accuracy", "accuracy_source", "cycle_l1", "kid_domain"}
    assert gate.GateSettings.from_json(settings.to_json()) == settings
    assert gate.higher_is_better("accuracy") and not gate.higher_is_better("cycle_l1")
    blessed, checks = gate.decide(
        {"accuracy": 0.8, "cycle_l1": 0.04, "kid_domain": 1.0}, settings, None
    )
    assert not blessed and [c["name"] for c in checks if not c["passed"]] == ["cycle_l1"]
    with pytest.raises(ConfigError, match="does not compute"):
        presets.DEFAULT.with_overrides(["accuracy=0.9"], "threshold")  # a generator's gate
    with pytest.raises(ConfigError, match="needs a translator"):
        gate.score(lambda s: s, list, settings)


def test_translations_by_seed_translate_once_and_wrap():
    calls = []

    def translate(x):
        calls.append(len(x))
        return x + 100

    images = np.arange(3, dtype=np.uint8).reshape(3, 1, 1, 1)
    generate = gate.translations_by_seed(translate, gate.Sources(images, np.zeros(3)))
    assert generate(np.array([0, 4]))[:, 0, 0, 0].tolist() == [100, 101]
    assert generate(np.array([2]))[:, 0, 0, 0].tolist() == [102]
    assert calls == [3]


def test_the_gate_translates_the_sources_once_for_every_score():
    calls = []

    def translate(x):
        calls.append(len(x))
        return 255 - x

    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, size=(16, 28, 28, 1), dtype=np.uint8)
    digits = gate.Sources(images, np.arange(16) % 10)
    settings = dataclasses.replace(
        presets.CYCLEGAN,
        metrics={"domain": ("kid",)},
        num_samples={"translation": 16, "domain": 16},
    )
    reference = rng.integers(0, 256, size=(16, 28, 28, 1), dtype=np.uint8)
    result = gate.score(
        gate.translations_by_seed(translate, digits),
        lambda: [reference],
        settings,
        own=[gate.TranslationScore(gate.Translators(translate, lambda x: x), digits)],
    )
    assert calls == [16]
    assert {"accuracy", "cycle_l1", "kid_domain"} <= set(result["scores"])
    # cycle_l1 is translate_back(translate(x)) = 255 - x against x, in [0, 1] units.
    expected = np.mean(np.abs((255 - images.astype(np.float64)) - images)) / 255
    assert result["scores"]["cycle_l1"] == pytest.approx(expected, rel=1e-5)


def test_a_two_domain_root_without_domain_b_is_refused(tmp_path):
    for split in ("train", "eval", "train_b"):
        (tmp_path / split).mkdir()
    with pytest.raises(DataError, match="missing: eval_b/"):
        pipeline.input_config(str(tmp_path), None, ["train", "eval", "train_b", "eval_b"])
    with pytest.raises(DataError, match="cannot be hashed from one pool"):
        pipeline.input_config(str(tmp_path), False, ["train", "eval", "train_b", "eval_b"])
    (tmp_path / "eval_b").mkdir()
    in_config, out_config = pipeline.input_config(
        str(tmp_path), None, ["train", "eval", "train_b", "eval_b"]
    )
    assert [s.pattern for s in in_config.splits] == ["train/*", "eval/*", "train_b/*", "eval_b/*"]
    assert out_config is None


# -- the real pipeline -------------------------------------------------------------------


@dataclasses.dataclass
class Runs:
    run: local_runner.LocalRun
    passed: results.RunSummary
    refused: results.RunSummary
    serving_after_pass: list[int]


@pytest.fixture(scope="module")
def runs(tmp_path_factory, mnist_data_dir) -> Runs:
    run = local_runner.LocalRun(
        root=str(tmp_path_factory.mktemp("cyclegan") / "root"),
        preset="cyclegan_digits",
        overrides=TINY,
        tfds_limit=LIMIT,
        model_name="cyclegan",
        pipeline_name="gan-tf-cyclegan",
        gate=TINY_GATE,
    )
    passed = local_runner.run_pipeline(run)
    after_pass = existing_versions(os.path.join(run.serving_base, run.model_name))
    above = passed.report["scores"]["accuracy"] + 1e-3
    strict = TINY_GATE.with_overrides([f"accuracy={above}"], "threshold")
    refused = local_runner.run_pipeline(dataclasses.replace(run, gate=strict))
    return Runs(run, passed, refused, after_pass)


def _records(pattern: str) -> tuple[np.ndarray, np.ndarray]:
    data = config_lib.DataConfig(source="tfrecord", path=pattern)
    recs = sources.records(data, labels=True)
    pairs = [(tf.io.decode_image(r["image"]).numpy(), r["label"].numpy()) for r in recs.dataset]
    return np.stack([p[0] for p in pairs]), np.array([p[1] for p in pairs])


def _canonical(images: np.ndarray, labels: np.ndarray) -> list[tuple[int, bytes]]:
    return sorted(zip(labels.tolist(), (x.tobytes() for x in images)))


@pytest.mark.slow
def test_each_domain_is_ingested_and_trained_on(runs, mnist_data_dir):
    from gan_tf.data import mnist, sklearn_digits

    data_root = os.path.join(runs.run.root, "data", f"sklearn_digits+mnist-{LIMIT}")
    with open(os.path.join(data_root, "dataset.json"), encoding="utf-8") as f:
        written = json.load(f)
    assert written["counts"] == {s: LIMIT for s in ("train", "eval", "train_b", "eval_b")}
    assert written["request"]["sources"]["eval"] == ["sklearn_digits", "train"]
    assert written["request"]["sources"]["eval_b"] == ["mnist", "test"]
    digits, digit_labels = sklearn_digits.load_arrays()["train"]
    mnist_x, mnist_y = mnist.load_arrays()["train"]
    # The Trainer read domain A from ExampleGen's `train` split, domain B from `train_b`.
    model_run = runs.passed.model_run
    config = config_lib.Config.from_json_file(os.path.join(model_run, "config.json"))
    assert config.model.family == "cyclegan"
    assert config.data.source == config.data_b.source == "tfrecord"
    a, a_labels = _records(config.data.path)
    b, b_labels = _records(config.data_b.path)
    # Copied beside the run, one directory per split (the training split only: the family
    # has no labelled evaluation that would read a held-out one).
    assert config.data_b.path == os.path.join(model_run, "data_b", "{split}", "*")
    assert sorted(os.listdir(os.path.join(model_run, "data_b"))) == ["train"]
    # The same labelled images (ExampleGen does not keep the order).
    assert _canonical(a[..., 0], a_labels) == _canonical(digits[:LIMIT], digit_labels[:LIMIT])
    assert _canonical(b[..., 0], b_labels) == _canonical(mnist_x[:LIMIT], mnist_y[:LIMIT])
    assert runs.passed.report["reference"].endswith("split 'eval_b', first N images in file order")


@pytest.mark.slow
def test_first_run_is_blessed_and_pushes_a_translator(runs, mnist_data_dir):
    from gan_tf.data import sklearn_digits

    summary = runs.passed
    report = summary.report
    assert summary.blessed is True and report["baseline_model_id"] is None
    (check,) = report["checks"]
    assert check["rule"] == "accuracy >= 0.05" and check["passed"]
    (version,) = runs.serving_after_pass
    assert summary.pushed_path == os.path.join(runs.run.serving_base, "cyclegan", str(version))
    # The pushed SavedModel's translations give the scores the gate reported.
    digits, labels = sklearn_digits.load_arrays()["train"]
    digits, labels = digits[:LIMIT, ..., None], labels[:LIMIT]
    pushed = tf.saved_model.load(summary.pushed_path).signatures
    to_b = pushed["translate"](images=tf.constant(digits))["images"].numpy()
    back = pushed["translate_back"](images=tf.constant(to_b))["images"].numpy()
    classifier = DomainFeatures()
    scores = report["scores"]
    assert translation.class_accuracy(to_b, labels, classifier) == pytest.approx(
        scores["accuracy"],
        abs=2 / LIMIT,  # a pixel may round the other way in another batch
    )
    assert translation.class_accuracy(digits, labels, classifier) == scores["accuracy_source"]
    cycle = np.mean(np.abs(back.astype(np.float64) - digits)) / 255
    assert cycle == pytest.approx(scores["cycle_l1"], rel=1e-3)
    assert {"kid_domain", "fid_domain"} <= set(scores)
    protocol = report["protocol"]
    assert protocol["translation"]["images"] == LIMIT
    assert protocol["domain"]["num_samples"] == LIMIT
    with open(os.path.join(summary.report_dir, gate.REPORT_MD), encoding="utf-8") as f:
        markdown = f.read()
    assert markdown.startswith("# Translation gate: BLESSED")
    assert f"| accuracy | {scores['accuracy']:.6g} |" in markdown
    # The grid: two digits of each class in the first 300, translated, translated back.
    grid = tf.io.decode_png(tf.io.read_file(os.path.join(summary.report_dir, gate.REPORT_GRID)))
    assert grid.shape[0] > 3 * 28 and grid.shape[1] > 20 * 28


@pytest.mark.slow
def test_accuracy_below_the_threshold_is_refused_and_nothing_pushed(runs):
    first, summary = runs.passed, runs.refused
    report = summary.report
    assert report["candidate_model_id"] == first.report["candidate_model_id"]
    assert report["scores"]["accuracy"] == first.report["scores"]["accuracy"]
    failed = [c for c in report["checks"] if not c["passed"]]
    assert [c["kind"] for c in failed] == ["threshold"] and failed[0]["name"] == "accuracy"
    assert summary.blessed is False and summary.pushed_path is None
    serving = os.path.join(runs.run.serving_base, "cyclegan")
    assert existing_versions(serving) == runs.serving_after_pass
    assert "translation gate: NOT BLESSED" in summary.text()
    shows = "source images, its translations and their reconstructions"
    assert f"(+ {gate.REPORT_GRID}, {shows})" in summary.text()
    # A translator has no `generate`: the hint is its `translate`, not `gan-tf query --seeds`.
    assert "ServingClient('http://127.0.0.1:8501', 'cyclegan').translate(images)" in (
        summary.text()
    )
    assert "--seeds" not in summary.text()


def test_the_translation_gate_refuses_an_export_that_is_not_a_translator(tmp_path):
    from pipelines.components.sample_quality import export_translators

    class Generator(tf.Module):
        @tf.function(input_signature=[tf.TensorSpec([None], tf.int64)])
        def generate(self, seeds):
            return {"images": tf.zeros([tf.shape(seeds)[0], 28, 28, 1], tf.uint8)}

    module = Generator()
    tf.saved_model.save(module, str(tmp_path), signatures={"generate": module.generate})
    with pytest.raises(DataError, match="'translate' and 'translate_back' signatures"):
        export_translators(str(tmp_path))
