"""The pipeline of an anomaly detector: trained on the normal class, judged by AUROC, pushed.

On the gate alone (fast): fixed anomaly scores through `pipelines.gate.score` and `decide`,
the AUROC threshold and the margin against the last pushed detector each broken once.

End to end (slow): the real pipeline (ExampleGen ... SampleQualityGate, Pusher, on a sqlite ML
Metadata store) trains a tiny `anomaly_mnist` (60 steps, the last 20 the encoder's) on 1,000
labelled MNIST images, of which it must use only the zeros, and its gate scores the export's
`score` signature on 500 held-out images (zeros normal). Run 1's AUROC threshold is 0.1, set
so that the tiny model passes: 40 GAN steps draw blobs that reconstruct zeros, the digit with
the most ink, worst, so it scores below chance (AUROC 0.28 measured); these runs check the
plumbing, and the preset's own threshold (`pipelines.presets.ANOMALY`) the quality. Run 2
reruns it (the Trainer cached) with a threshold just above the AUROC run 1 measured, and must
refuse and push nothing.
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
from gan_tf.data import sources
from gan_tf.errors import ConfigError
from gan_tf.families.anomaly import labelled_images
from gan_tf.metrics import detection
from pipelines import gate, local_runner, presets, results
from pipelines.components.atomic_pusher import existing_versions

PIPELINE = "gan-tf-anomaly"
TINY = (
    "train.steps=60",
    "anomaly.encoder_steps=20",
    "train.steps_per_epoch=20",
    "train.checkpoint_every=30",
    "train.image_every=30",
    "anomaly.eval_every=0",
)
TRAIN, EVAL = 1000, 500
# Passed by the tiny model (see the module docstring).
TINY_GATE = dataclasses.replace(
    presets.ANOMALY, num_samples={"detection": EVAL}, thresholds={"auroc": 0.1}
)

# -- the rule on fixed scores ------------------------------------------------------------

# Four normal and four anomalous images; anomalous ones outrank normal ones in 11 of the
# 16 pairs, so AUROC = 11/16.
NORMAL_SCORES = [0.1, 0.2, 0.3, 0.4]
ANOMALOUS_SCORES = [0.35, 0.5, 0.6, 0.05]
AUROC = 11 / 16


def _fixed_detector():
    """Images whose first pixel is their index, a scorer returning the fixed scores."""
    scores = np.array(NORMAL_SCORES + ANOMALOUS_SCORES, np.float32)
    images = np.zeros([len(scores), 28, 28, 1], np.uint8)
    images[:, 0, 0, 0] = np.arange(len(scores))
    anomalous = np.array([False] * 4 + [True] * 4)
    labelled = gate.Labelled(images, anomalous, normal_classes="0", fpr=0.25)
    return (lambda batch: scores[batch[:, 0, 0, 0]]), labelled


def _detection_result(settings: gate.GateSettings) -> dict:
    score_images, labelled = _fixed_detector()

    def no_generator(seeds):
        raise AssertionError("the detection gate does not sample the generator")

    return gate.score(
        no_generator, list, settings, own=[gate.DetectionScore(score_images, labelled)]
    )


def test_detection_scores_on_fixed_scores():
    settings = dataclasses.replace(TINY_GATE, batch_size=3)  # batches split the images
    result = _detection_result(settings)
    scores = result["scores"]
    assert scores["auroc"] == pytest.approx(AUROC)
    # Threshold at 25% false positives: one normal score (0.4) may lie above it, so 0.3;
    # above 0.3: 0.35, 0.5 and 0.6 of the anomalous ones.
    assert scores["threshold"] == pytest.approx(0.3)
    assert scores["fpr"] == 0.25 and scores["tpr"] == 0.75
    # Average precision: hits at ranks 1 (0.6), 2 (0.5) and 4 (0.35), and the last at rank 8.
    assert scores["auprc"] == pytest.approx((1 + 1 + 3 / 4 + 4 / 8) / 4)
    protocol = result["protocol"]["detection"]
    assert (protocol["images"], protocol["normal"], protocol["anomalous"]) == (8, 4, 4)


def test_auroc_threshold_and_margin_each_refuse_once():
    scores = _detection_result(TINY_GATE)["scores"]
    passing = dataclasses.replace(TINY_GATE, thresholds={"auroc": 0.68}, margins={"auroc": 0.02})
    blessed, checks = gate.decide(scores, passing, None)
    assert blessed and [c["rule"] for c in checks] == ["auroc >= 0.68"]
    # The threshold broken: 0.6875 < 0.69.
    strict = dataclasses.replace(passing, thresholds={"auroc": 0.69})
    blessed, checks = gate.decide(scores, strict, None)
    assert not blessed and [c["kind"] for c in checks if not c["passed"]] == ["threshold"]
    # The margin: worse than a baseline of 0.70 by 0.0125 <= 0.02 passes ...
    blessed, checks = gate.decide(scores, passing, {"auroc": 0.70})
    assert blessed and checks[-1]["kind"] == "margin"
    assert checks[-1]["bound"] == pytest.approx(0.68)
    # ... worse than 0.71 by 0.0225 does not, though the threshold holds.
    blessed, checks = gate.decide(scores, passing, {"auroc": 0.71})
    assert not blessed and [c["kind"] for c in checks if not c["passed"]] == ["margin"]


def test_detection_settings():
    settings = presets.gate_settings("anomaly_mnist")
    assert settings == presets.ANOMALY
    assert settings.result_keys() == {"auroc", "auprc", "tpr"}
    assert gate.GateSettings.from_json(settings.to_json()) == settings
    assert gate.higher_is_better("auroc") and gate.higher_is_better("tpr")
    assert settings.with_overrides(["auroc=0.95"], "threshold").thresholds["auroc"] == 0.95
    with pytest.raises(ConfigError, match="does not compute"):
        settings.with_overrides(["threshold=1"], "threshold")  # reported, not gated
    with pytest.raises(ConfigError, match="does not compute"):
        presets.SMOKE.with_overrides(["auroc=0.9"], "threshold")  # a generator's gate
    with pytest.raises(ConfigError, match="needs an anomaly detector"):
        gate.score(lambda s: s, list, settings)


# -- the real pipeline -------------------------------------------------------------------


@dataclasses.dataclass
class Runs:
    run: local_runner.LocalRun
    passed: results.RunSummary
    refused: results.RunSummary
    serving_after_pass: list[int]
    eval_images: np.ndarray
    eval_labels: np.ndarray
    train_labels: np.ndarray


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> Runs:
    data = tmp_path_factory.mktemp("anomaly_data")
    written = write_splits(data, TRAIN, EVAL)
    run = local_runner.LocalRun(
        root=str(tmp_path_factory.mktemp("anomaly") / "root"),
        preset="anomaly_mnist",
        overrides=TINY,
        data_root=str(data),
        model_name="anomaly",
        pipeline_name=PIPELINE,
        gate=TINY_GATE,
    )
    passed = local_runner.run_pipeline(run)
    serving = os.path.join(run.serving_base, run.model_name)
    after_pass = existing_versions(serving)
    above = passed.report["scores"]["auroc"] + 1e-3
    strict = TINY_GATE.with_overrides([f"auroc={above}"], "threshold")
    refused = local_runner.run_pipeline(dataclasses.replace(run, gate=strict))
    return Runs(run, passed, refused, after_pass, *written["eval"], written["train"][1])


@pytest.mark.slow
def test_trainer_trains_on_the_normal_class_only(runs):
    config = config_lib.Config.from_json_file(os.path.join(runs.passed.model_run, "config.json"))
    assert config.model.family == "anomaly" and config.data.normal_classes == "0"
    assert config.data.source == "tfrecord"
    # The Trainer's own data (ExampleGen's train split, as it reads it): zeros only.
    records = sources.records(config.data)
    labels = np.concatenate([r["label"].numpy()[None] for r in records.dataset])
    assert records.count == np.sum(runs.train_labels == 0) == len(labels)
    assert set(labels.tolist()) == {0}
    # Its held-out split, which the in-training AUROC and `gan-tf anomaly` read: ExampleGen's
    # eval split copied beside the run, not the training images.
    assert config.anomaly.eval_split == "test" and "{split}" in config.data.path
    images, anomalous = labelled_images(config)
    assert len(images) == EVAL and anomalous.sum() == np.sum(runs.eval_labels != 0)
    np.testing.assert_array_equal(  # the same images, in whatever order ExampleGen wrote them
        np.sort(images.reshape(EVAL, -1).sum(axis=1)),
        np.sort(runs.eval_images.reshape(EVAL, -1).sum(axis=1, dtype=np.int64)),
    )


@pytest.mark.slow
def test_first_run_is_blessed_and_pushes_a_scorer(runs):
    summary = runs.passed
    report = summary.report
    assert summary.blessed is True
    assert report["baseline_model_id"] is None  # nothing pushed before: threshold only
    (check,) = report["checks"]
    assert check["rule"] == "auroc >= 0.1" and check["passed"]
    protocol = report["protocol"]["detection"]
    normal = int(np.sum(runs.eval_labels == 0))
    assert (protocol["images"], protocol["normal"]) == (EVAL, normal)
    (version,) = runs.serving_after_pass
    assert summary.pushed_path == os.path.join(runs.run.serving_base, "anomaly", str(version))
    # The pushed SavedModel's `score` gives the AUROC the gate reported, on the eval split.
    pushed = tf.saved_model.load(summary.pushed_path)
    out = pushed.signatures["score"](images=tf.constant(runs.eval_images[..., None]))
    assert out["scores"].shape == (EVAL,) and out["reconstructions"].shape == (EVAL, 28, 28, 1)
    anomalous = runs.eval_labels != 0
    assert detection.auroc(out["scores"].numpy(), anomalous) == pytest.approx(
        report["scores"]["auroc"], abs=1e-6
    )
    # The report: markdown and the judged model's TensorBoard run show the AUROC.
    with open(os.path.join(summary.report_dir, gate.REPORT_MD), encoding="utf-8") as f:
        markdown = f.read()
    assert markdown.startswith("# Detection gate: BLESSED")
    assert f"| auroc | {report['scores']['auroc']:.6g} |" in markdown
    tags: dict[str, list[float]] = {}
    for tag, values in read_values(os.path.join(summary.model_run, "tensorboard")).items():
        for _, value in values:
            tensor = tf.make_ndarray(value.tensor)
            if tag.startswith("gate/") and tensor.dtype.kind == "f":  # scalars
                tags.setdefault(tag, []).append(tensor.item())
    assert tags["gate/auroc"][0] == pytest.approx(report["scores"]["auroc"], rel=1e-6)
    assert {"gate/auprc", "gate/tpr", "gate/threshold"} <= set(tags)
    assert tags["gate/blessed"] == [1.0, 0.0]  # run 1 blessed, run 2 refused


@pytest.mark.slow
def test_auroc_below_the_threshold_is_refused_and_nothing_pushed(runs):
    first, summary = runs.passed, runs.refused
    report = summary.report
    # The cached Trainer's model, scored again: the same AUROC, now below the bound.
    assert report["candidate_model_id"] == first.report["candidate_model_id"]
    assert report["scores"]["auroc"] == pytest.approx(first.report["scores"]["auroc"], abs=1e-6)
    (check,) = report["checks"]
    assert check["kind"] == "threshold" and not check["passed"]
    assert summary.blessed is False and summary.pushed_path is None
    serving = os.path.join(runs.run.serving_base, "anomaly")
    assert existing_versions(serving) == runs.serving_after_pass
    store = results.open_store(runs.run.metadata_path)
    pushed = [
        a.custom_properties["pushed"].int_value for a in store.get_artifacts_by_type("PushedModel")
    ]
    assert sorted(pushed) == [0, 1]  # run 1 pushed, run 2 did not
    assert "detection gate: NOT BLESSED (auprc=" in summary.text()
    assert "FAIL auroc >= " in summary.text()
