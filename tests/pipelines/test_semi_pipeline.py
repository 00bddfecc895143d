"""The pipeline of a semi-supervised classifier: trained on few labels, gated on its test error.

On the gate alone (fast): a fixed classifier's labels through `pipelines.gate.score` and
`decide` against hand counts, the thresholds and the margin each broken once.

End to end (slow): the real pipeline (ExampleGen ... SampleQualityGate, Pusher, on a sqlite ML
Metadata store) trains a tiny `ssgan_mnist` (40 steps, 10 labels per class from 1,000 MNIST
training images) and its gate scores the export's `classify` signature on the 500 labelled
images of the eval split. The test-error bound of the run is loose, set so that the tiny
model passes (the preset's own bounds, `pipelines.presets.SEMI`, are for the trained model);
what the run checks is that the gate reports the pushed model's error on the eval split,
and that training evaluated on that split too.
"""

from __future__ import annotations

import dataclasses
import os

import numpy as np
import pytest
import tensorflow as tf
from event_files import read_values
from mnist_splits import write_splits

from gan_tf import config as config_lib
from gan_tf.errors import ConfigError
from gan_tf.families.semi_supervised import labelled_split
from pipelines import gate, local_runner, presets
from pipelines.components.atomic_pusher import existing_versions

TINY = (
    "model.latent_dim=16",
    "model.generator.units=16,16",
    "model.discriminator.units=16,8",
    "train.batch_size=32",
    "train.steps=40",
    "train.steps_per_epoch=20",
    "train.checkpoint_every=20",
    "train.image_every=40",
    "train.embed_samples=0",
    "semi.eval_every=20",
)
TRAIN, EVAL = 1000, 500
TINY_GATE = dataclasses.replace(
    presets.SEMI,
    num_samples={"classification": EVAL},
    thresholds={"test_error": 0.97, "worst_class_error": 1.0},
)

# -- the rule on a fixed classifier -----------------------------------------------------

# Ten images whose first pixel is their predicted class. Class 0: 4 images, 1 wrong;
# class 1: 2 images, both wrong; class 2: 4 images, none wrong: 3 wrong of 10.
LABELS = [0, 0, 0, 0, 1, 1, 2, 2, 2, 2]
PREDICTED = [0, 0, 2, 0, 0, 2, 2, 2, 2, 2]


def _classification_result(settings: gate.GateSettings) -> dict:
    images = np.zeros([len(LABELS), 28, 28, 1], np.uint8)
    images[:, 0, 0, 0] = PREDICTED
    labelled = gate.Sources(images, np.array(LABELS, np.int64))

    def no_generator(seeds):
        raise AssertionError("the classification gate does not sample the generator")

    def classify(batch):
        assert len(batch) <= settings.batch_size
        return batch[:, 0, 0, 0].astype(np.int64)

    return gate.score(
        no_generator, list, settings, own=[gate.ClassificationScore(classify, labelled)]
    )


def test_classification_scores_on_a_fixed_classifier():
    result = _classification_result(dataclasses.replace(TINY_GATE, batch_size=3))
    assert result["scores"] == pytest.approx({"test_error": 0.3, "worst_class_error": 1.0})
    assert result["details"]["class_error"] == [0.25, 1.0, 0.0]
    protocol = result["protocol"]["classification"]
    assert protocol["images"] == 10 and protocol["images_per_class"] == [4, 2, 4]
    assert protocol["signature"] == "classify"


def test_the_report_shows_the_misclassified_images_and_the_error_per_class():
    # Image i is all i + 1: class 0 gets image 2 wrong, class 1 images 4 and 5, class 2 none.
    images = (np.arange(len(LABELS), dtype=np.uint8) + 1)[:, None, None, None]
    images = np.broadcast_to(images, [len(LABELS), 4, 4, 1])
    labelled = gate.Sources(images, np.array(LABELS))
    grid = gate.misclassified_grid(labelled, np.array(PREDICTED))
    # Two rows (class 1's two), three columns, 4-pixel cells with 2 black pixels around.
    assert grid.shape == (2 + 2 * 6, 2 + 3 * 6, 1)

    def cell(row: int, col: int) -> np.ndarray:
        return grid[2 + 6 * row : 6 + 6 * row, 2 + 6 * col : 6 + 6 * col, 0]

    assert (cell(0, 0) == 3).all() and (cell(0, 1) == 5).all() and (cell(1, 1) == 6).all()
    assert (cell(1, 0) == 0).all() and (cell(0, 2) == 0).all() and (cell(1, 2) == 0).all()
    assert gate.misclassified_grid(labelled, np.array(LABELS)) is None  # nothing wrong
    one_per_class = gate.misclassified_grid(labelled, np.array(PREDICTED), per_class=1)
    assert one_per_class.shape == (2 + 6, 2 + 3 * 6, 1)

    result = _classification_result(TINY_GATE)
    report = {
        "blessed": False,
        "candidate": "/c",
        "settings": {"features": ["classification"]},
        "checks": [],
        **result,
    }
    markdown = gate.to_markdown(report, gate.REPORT_GRID)
    assert markdown.startswith("# Classification gate: NOT BLESSED")
    assert "![held-out images the candidate misclassified: a column per true class" in markdown
    assert "| true class | error |\n| --- | --- |\n| 0 | 0.25 |\n| 1 | 1 |\n| 2 | 0 |" in markdown


def test_the_grid_comes_from_the_scored_predictions_without_classifying_again():
    images = np.zeros([len(LABELS), 4, 4, 1], np.uint8)
    images[:, 0, 0, 0] = PREDICTED
    calls = []

    def classify(batch):
        calls.append(len(batch))
        return batch[:, 0, 0, 0].astype(np.int64)

    judge = gate.ClassificationScore(classify, gate.Sources(images, np.array(LABELS)))
    with pytest.raises(RuntimeError, match="scored predictions"):
        judge.grid(None, 0)  # nothing scored yet
    gate.score(lambda s: s, list, dataclasses.replace(TINY_GATE, batch_size=4), own=[judge])
    assert calls == [4, 4, 2]
    expected = gate.misclassified_grid(judge.sources, np.array(PREDICTED))
    np.testing.assert_array_equal(judge.grid(None, 0), expected)
    assert calls == [4, 4, 2]


def test_error_thresholds_and_margin_each_refuse_once():
    scores = _classification_result(TINY_GATE)["scores"]
    passing = dataclasses.replace(
        TINY_GATE,
        thresholds={"test_error": 0.3, "worst_class_error": 1.0},
        margins={"test_error": 0.05},
    )
    blessed, checks = gate.decide(scores, passing, None)
    assert blessed
    assert [c["rule"] for c in checks] == ["test_error <= 0.3", "worst_class_error <= 1"]
    # Each threshold broken alone: lower error is better.
    for key, bound in (("test_error", 0.29), ("worst_class_error", 0.99)):
        strict = dataclasses.replace(passing, thresholds={**passing.thresholds, key: bound})
        blessed, checks = gate.decide(scores, strict, None)
        assert not blessed and [c["name"] for c in checks if not c["passed"]] == [key]
    # The margin: worse than a baseline of 0.26 by 0.04 <= 0.05 passes; than 0.24, not.
    assert gate.decide(scores, passing, {"test_error": 0.26})[0]
    blessed, checks = gate.decide(scores, passing, {"test_error": 0.24})
    assert not blessed and [c["kind"] for c in checks if not c["passed"]] == ["margin"]


def test_classification_settings():
    settings = presets.gate_settings("ssgan_mnist")
    assert settings == presets.SEMI
    assert settings.result_keys() == {"test_error", "worst_class_error"}
    assert not gate.higher_is_better("test_error") and not gate.higher_is_better(
        "worst_class_error"
    )
    assert gate.GateSettings.from_json(settings.to_json()) == settings
    assert gate.title({"settings": {"features": ["classification"]}}) == "classification gate"
    with pytest.raises(ConfigError, match="does not compute"):
        presets.DEFAULT.with_overrides(["test_error=0.1"], "threshold")  # a generator's gate
    with pytest.raises(ConfigError, match="needs a classifier's export"):
        gate.score(lambda s: s, list, settings)


# -- the real pipeline -------------------------------------------------------------------


@dataclasses.dataclass
class Run:
    run: local_runner.LocalRun
    summary: object
    eval_images: np.ndarray
    eval_labels: np.ndarray


@pytest.fixture(scope="module")
def run(tmp_path_factory) -> Run:
    data = tmp_path_factory.mktemp("semi_data")
    written = write_splits(data, TRAIN, EVAL)
    run = local_runner.LocalRun(
        root=str(tmp_path_factory.mktemp("semi") / "root"),
        preset="ssgan_mnist",
        overrides=TINY,
        data_root=str(data),
        model_name="ssgan",
        pipeline_name="gan-tf-semi",
        gate=TINY_GATE,
    )
    return Run(run, local_runner.run_pipeline(run), *written["eval"])


def _tensorboard_scalars(logdir: str) -> dict[str, list[float]]:
    tags: dict[str, list[float]] = {}
    for tag, values in read_values(logdir).items():
        for _, value in values:
            tensor = tf.make_ndarray(value.tensor)
            if tensor.dtype.kind == "f" and tensor.ndim == 0:
                tags.setdefault(tag, []).append(tensor.item())
    return tags


@pytest.mark.slow
def test_the_gate_reports_the_pushed_classifiers_test_error(run):
    summary = run.summary
    report = summary.report
    assert summary.blessed is True
    assert [c["rule"] for c in report["checks"]] == ["test_error <= 0.97", "worst_class_error <= 1"]
    (version,) = existing_versions(os.path.join(run.run.serving_base, "ssgan"))
    assert summary.pushed_path == os.path.join(run.run.serving_base, "ssgan", str(version))
    # The pushed SavedModel's `classify`, on the eval split's images: the gate's figures.
    pushed = tf.saved_model.load(summary.pushed_path)
    out = pushed.signatures["classify"](images=tf.constant(run.eval_images[..., None]))
    wrong = out["labels"].numpy() != run.eval_labels
    assert report["scores"]["test_error"] == pytest.approx(wrong.mean(), abs=1e-9)
    per_class = [wrong[run.eval_labels == k].mean() for k in range(10)]
    np.testing.assert_allclose(report["details"]["class_error"], per_class)
    assert report["scores"]["worst_class_error"] == pytest.approx(max(per_class))
    protocol = report["protocol"]["classification"]
    assert protocol["images"] == EVAL
    assert protocol["images_per_class"] == np.bincount(run.eval_labels).tolist()
    with open(os.path.join(summary.report_dir, gate.REPORT_MD), encoding="utf-8") as f:
        assert f.read().startswith("# Classification gate: BLESSED")
    # Its grid: the eval images the pushed model misclassifies, a column per true class, in
    # the order the gate read them (ExampleGen's files, which the Trainer copied as they are).
    config = config_lib.Config.from_json_file(os.path.join(summary.model_run, "config.json"))
    images, labels = labelled_split(config, config.semi.eval_split)
    predicted = pushed.signatures["classify"](images=tf.constant(images))["labels"].numpy()
    wrong = [images[(predicted != labels) & (labels == k)] for k in range(10)]
    rows = min(6, max(len(w) for w in wrong))
    png = tf.io.decode_png(tf.io.read_file(os.path.join(summary.report_dir, gate.REPORT_GRID)))
    assert png.shape == (2 + 30 * rows, 2 + 30 * 10, 1)
    for k in range(10):
        if len(wrong[k]):
            np.testing.assert_array_equal(png[2:30, 2 + 30 * k : 30 + 30 * k], wrong[k][0])
    assert f"(+ {gate.REPORT_GRID}, the images it misclassified)" in summary.text()
    tags = _tensorboard_scalars(os.path.join(summary.model_run, "tensorboard"))
    assert tags["gate/test_error"] == [pytest.approx(report["scores"]["test_error"])]
    assert "classification gate: BLESSED (test_error=" in summary.text()
    query = "gan-tf query --url http://127.0.0.1:8501 --model-name ssgan --classify IMAGE.png"
    assert query in summary.text()


@pytest.mark.slow
def test_training_evaluates_on_the_eval_split_it_was_given(run):
    model_run = run.summary.model_run
    config = config_lib.Config.from_json_file(os.path.join(model_run, "config.json"))
    assert config.model.family == "semi_supervised" and "{split}" in config.data.path
    images, labels = labelled_split(config, config.semi.eval_split)
    assert len(images) == EVAL
    np.testing.assert_array_equal(np.sort(labels), np.sort(run.eval_labels))
    # The in-training test error (steps 20 and 40) was measured on those images.
    assert len(_tensorboard_scalars(os.path.join(model_run, "tensorboard"))["semi/test_error"]) == 2
