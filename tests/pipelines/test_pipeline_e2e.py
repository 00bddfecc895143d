"""End to end with LocalDagRunner, a real sqlite ML Metadata store and 1,500 real MNIST images.

One pipeline root goes through five runs (the module fixture `history`), all on the `smoke`
gate (`kid_domain <= 15`, `classes_covered_domain >= 5`, margin +3 on kid_domain against the
baseline):

1. smoke, 80 steps: blessed on thresholds (no model pushed before), pushed.
2. the same with an impossible threshold: the Trainer is cached, so the candidate is the
   pushed model; it is never its own baseline, and the threshold refuses it.
3. `gan-tf pipeline run --set train.steps=1000` through the CLI: a better generator, blessed
   against model 1 (a real baseline) and pushed as a second version.
4. the 80-step settings again: the cached 80-step model, compared with model 3, is refused by
   the margin alone (its threshold passes).
5. the 1000-step settings again: every component cached; its baseline is model 1 (the latest
   push other than itself) and the summary reports this run's verdict, not run 4's.

Separately, a TFRecord of non-image bytes stops the run at ExampleValidator.
"""

from __future__ import annotations

import contextlib
import dataclasses
import io
import os
import time

import numpy as np
import pytest

from gan_tf import cli
from gan_tf.data import mnist, tfrecord
from pipelines import gate, local_runner, presets, results

pytestmark = pytest.mark.slow

PIPELINE = "gan-tf-test"
BETTER = "train.steps=1000"
RUN_NODES = (
    "ImportExampleGen",
    "StatisticsGen",
    "SchemaGen",
    "ExampleValidator",
    "Trainer",
    "SampleQualityGate",
    "Pusher",
)


@pytest.fixture(scope="module")
def mnist_subset(tmp_path_factory) -> str:
    """1,000 train and 500 eval MNIST images as TFRecords of tf.Example (PNG + label)."""
    arrays = mnist.load_arrays()
    root = tmp_path_factory.mktemp("mnist_subset")
    (x, y), (xt, yt) = arrays["train"], arrays["test"]
    tfrecord.write_images(str(root / "train" / "data.tfrecord"), x[:1000], y[:1000])
    tfrecord.write_images(str(root / "eval" / "data.tfrecord"), xt[:500], yt[:500])
    return str(root)


def _store(path: str):
    from ml_metadata.metadata_store import metadata_store
    from ml_metadata.proto import metadata_store_pb2

    config = metadata_store_pb2.ConnectionConfig()
    config.sqlite.filename_uri = path
    return metadata_store.MetadataStore(config)


def _node_states(store, node: str) -> list[int]:
    context = store.get_context_by_type_and_name("node", f"{PIPELINE}.{node}")
    if context is None:
        return []
    return [e.last_known_state for e in store.get_executions_by_context(context.id)]


def _tree(directory: str) -> dict[str, float]:
    """Relative path -> mtime of every file below `directory`, except push lock files."""
    out = {}
    for dirpath, _, files in os.walk(directory):
        for name in files:
            if name == ".lock":
                continue
            path = os.path.join(dirpath, name)
            out[os.path.relpath(path, directory)] = os.path.getmtime(path)
    return out


def _versions(tree: dict[str, float]) -> list[str]:
    """The version directories holding a `saved_model.pb` in a `_tree` of the serving root."""
    parts = (path.split(os.sep) for path in tree)
    return sorted(p[1] for p in parts if len(p) == 3 and p[2] == "saved_model.pb")


@dataclasses.dataclass
class History:
    run: local_runner.LocalRun
    summaries: list[results.RunSummary]  # runs 1..5 (index 0..4); run 3's read back after the CLI
    trees: list[dict[str, float]]  # the serving root after each run
    cli_status: int
    cli_out: str


@pytest.fixture(scope="module")
def history(tmp_path_factory, mnist_subset) -> History:
    run = local_runner.LocalRun(
        root=str(tmp_path_factory.mktemp("e2e") / "root"),
        preset="smoke",
        data_root=mnist_subset,
        pipeline_name=PIPELINE,
        gate=presets.SMOKE,
    )
    summaries, trees = [], []

    def record(summary):
        summaries.append(summary)
        trees.append(_tree(run.serving_base))

    record(local_runner.run_pipeline(run))
    impossible = presets.SMOKE.with_overrides(["kid_domain=-1"], "threshold")
    record(local_runner.run_pipeline(dataclasses.replace(run, gate=impossible)))
    out, start = io.StringIO(), time.time()
    with contextlib.redirect_stdout(out):
        status = cli.main(
            [
                "pipeline",
                "run",
                "--preset",
                "smoke",
                "--root",
                run.root,
                "--data-root",
                mnist_subset,
                "--pipeline-name",
                PIPELINE,
                "--set",
                BETTER,
            ]
        )
    serving = os.path.join(run.serving_base, "gan")
    record(results.summarize(run.metadata_path, PIPELINE, start, serving, "gan", seconds=0))
    record(local_runner.run_pipeline(run))
    record(local_runner.run_pipeline(dataclasses.replace(run, overrides=(BETTER,))))
    return History(run, summaries, trees, status, out.getvalue())


def _checks(report: dict, kind: str) -> list[dict]:
    return [c for c in report["checks"] if c["kind"] == kind]


def test_first_run_blesses_and_pushes(history):
    from ml_metadata.proto import metadata_store_pb2

    run, summary = history.run, history.summaries[0]
    done = (metadata_store_pb2.Execution.COMPLETE, metadata_store_pb2.Execution.CACHED)
    store = _store(run.metadata_path)
    for node in RUN_NODES:
        states = _node_states(store, node)
        assert states and states[0] in done, (node, states)
    serving = os.path.join(run.serving_base, "gan")
    (version,) = _versions(history.trees[0])
    assert summary.blessed and summary.pushed_path == os.path.join(serving, version)
    assert np.isfinite(summary.report["scores"]["kid_domain"])
    assert summary.report["baseline_model_id"] is None  # nothing pushed before
    blessing = store.get_artifacts_by_type("ModelBlessing")[0]
    assert blessing.custom_properties["blessed"].int_value == 1
    model = store.get_artifacts_by_type("Model")[0]
    assert blessing.custom_properties["current_model_id"].int_value == model.id
    assert summary.report["candidate_model_id"] == model.id
    assert os.path.isfile(os.path.join(blessing.uri, "BLESSED"))
    assert os.path.isdir(os.path.join(summary.model_run, "tensorboard"))


def test_cached_rerun_is_never_its_own_baseline(history):
    first, summary = history.summaries[0], history.summaries[1]
    # The Trainer was cached: the candidate is model 1, which is also the pushed model.
    assert summary.report["candidate_model_id"] == first.report["candidate_model_id"]
    assert summary.report["baseline_model_id"] is None
    assert _checks(summary.report, "margin") == []
    assert summary.blessed is False and summary.pushed_path is None
    assert history.trees[1] == history.trees[0]
    text = summary.text()
    assert "NOT BLESSED" in text and "kid_domain <= -1" in text and "tensorboard --logdir" in text


def test_better_candidate_is_blessed_against_a_real_baseline(history):
    assert history.cli_status == 0
    first, summary = history.summaries[0], history.summaries[2]
    report = summary.report
    assert "sample-quality gate: BLESSED" in history.cli_out
    assert f"pushed model: {summary.pushed_path}" in history.cli_out
    assert report["baseline_model_id"] == first.report["candidate_model_id"]
    assert report["candidate_model_id"] != report["baseline_model_id"]  # a new model
    better = report["scores"]["kid_domain"]
    assert better < report["baseline_scores"]["kid_domain"] == first.report["scores"]["kid_domain"]
    (margin,) = _checks(report, "margin")
    assert margin["passed"] and summary.blessed
    versions = _versions(history.trees[2])
    assert len(versions) == 2 and int(versions[1]) > int(versions[0])
    assert summary.pushed_path == os.path.join(history.run.serving_base, "gan", versions[1])


def test_worse_candidate_is_refused_by_the_margin_alone(history):
    first, better, summary = history.summaries[0], history.summaries[2], history.summaries[3]
    report = summary.report
    # The 20-step model (the Trainer was cached) against the 1000-step one.
    assert report["candidate_model_id"] == first.report["candidate_model_id"]
    assert report["baseline_model_id"] == better.report["candidate_model_id"]
    worse_by = report["scores"]["kid_domain"] - report["baseline_scores"]["kid_domain"]
    assert worse_by > presets.SMOKE.margins["kid_domain"]
    assert all(c["passed"] for c in _checks(report, "threshold"))
    (margin,) = _checks(report, "margin")
    assert not margin["passed"]
    assert summary.blessed is False and summary.pushed_path is None
    assert history.trees[3] == history.trees[2]


def test_fully_cached_rerun_reports_its_own_verdict(history):
    first, better, summary = history.summaries[0], history.summaries[2], history.summaries[4]
    report = summary.report
    assert report["candidate_model_id"] == better.report["candidate_model_id"]
    # Model 3 is the latest push, but it is the candidate: the baseline is the push before.
    assert report["baseline_model_id"] == first.report["candidate_model_id"]
    assert summary.blessed is True and summary.pushed_path is None  # nothing new pushed
    assert "sample-quality gate: BLESSED" in summary.text()
    assert history.trees[4] == history.trees[2]


def test_non_image_bytes_stop_at_example_validator(tmp_path):
    rng = np.random.default_rng(0)
    data = tmp_path / "junk"
    for split, count in (("train", 300), ("eval", 100)):
        os.makedirs(data / split)
        import tensorflow as tf

        with tf.io.TFRecordWriter(str(data / split / "data.tfrecord")) as writer:
            for i in range(count):
                example = tfrecord.make_example(rng.bytes(64), i % 10)
                writer.write(example.SerializeToString())
    run = local_runner.LocalRun(
        root=str(tmp_path / "root"),
        preset="smoke",
        data_root=str(data),
        pipeline_name=PIPELINE,
        gate=gate.GateSettings(features=("domain",), num_samples={"domain": 50}),
    )
    with pytest.raises(Exception, match="ExampleValidator found anomalies") as info:
        local_runner.run_pipeline(run)
    assert "not recognised as images" in str(info.value)
    store = _store(run.metadata_path)
    assert _node_states(store, "ExampleValidator")  # it ran (and failed) ...
    assert _node_states(store, "Trainer") == []  # ... and no Trainer ever ran
    assert not os.path.exists(os.path.join(run.serving_base, "gan"))
