"""End to end with LocalDagRunner, a real sqlite ML Metadata store and 1,500 real MNIST images.

One pipeline root goes through five runs (the module fixture `history`), all on the `smoke`
gate (`kid_domain <= 15`, `classes_covered_domain >= 5`, margin +3 on kid_domain against the
baseline):

1. smoke, 80 steps: blessed on thresholds (no model pushed before), pushed.
2. the same with an impossible threshold: the Trainer is cached, so the candidate is the
   pushed model; it is never its own baseline, and the threshold refuses it.
3. `gan-tf pipeline run --set train.steps=1000` as a user runs it (its own process): a better
   generator, blessed against model 1 (a real baseline) and pushed as a second version; the
   command prints a line per component and the summary, and everything else (TFX, Beam, the
   Trainer's Keras lines, the Trainer module's wheel build) goes to the run's log file.
4. the 80-step settings again: the cached 80-step model, compared with model 3, is refused by
   the margin alone (its threshold passes).
5. the 1000-step settings again: every component cached; its baseline is model 1 (the latest
   push other than itself) and the summary reports this run's verdict, not run 4's.

Every gate report shows the grid it judged and is added to the TensorBoard run of the model
it judged. The five runs leave nothing in the system temp dir. Separately, a TFRecord of
non-image bytes stops the run at ExampleValidator.
"""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
import tempfile
import time

import numpy as np
import pytest
import tensorflow as tf
from event_files import read_values
from mnist_splits import write_splits

from gan_tf.data import tfrecord
from pipelines import gate, local_runner, presets, results
from pipelines.pipeline import COMPONENT_IDS

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
    root = tmp_path_factory.mktemp("mnist_subset")
    write_splits(root, 1000, 500)
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
    cli: subprocess.CompletedProcess
    temp_left: list[str]  # what the five runs left in the system temp dir


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
    system_temp = tmp_path_factory.mktemp("system_temp")

    def record(summary):
        summaries.append(summary)
        trees.append(_tree(run.serving_base))

    with pytest.MonkeyPatch.context() as watch:
        watch.setattr(tempfile, "tempdir", str(system_temp))
        watch.setenv("TMPDIR", str(system_temp))
        record(local_runner.run_pipeline(run))
        impossible = presets.SMOKE.with_overrides(["kid_domain=-1"], "threshold")
        record(local_runner.run_pipeline(dataclasses.replace(run, gate=impossible)))
        start = time.time()
        command = ["pipeline", "run", "--preset", "smoke", "--root", run.root]
        command += ["--data-root", mnist_subset, "--pipeline-name", PIPELINE, "--set", BETTER]
        out = subprocess.run(
            [sys.executable, "-m", "gan_tf.cli", *command],
            capture_output=True,
            text=True,
            timeout=900,
        )
        serving = os.path.join(run.serving_base, "gan")
        record(results.summarize(run.metadata_path, PIPELINE, start, serving, "gan", seconds=0))
        record(local_runner.run_pipeline(run))
        record(local_runner.run_pipeline(dataclasses.replace(run, overrides=(BETTER,))))
    return History(run, summaries, trees, out, sorted(os.listdir(system_temp)))


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
    # Model 1 was judged by runs 1, 2 and 4 (its Trainer cached in the last two).
    _check_gate_report(summary, step=80, blessed=[1.0, 0.0, 0.0])


def test_runs_leave_nothing_in_the_system_temp_dir(history):
    assert history.temp_left == []
    assert not os.path.exists(os.path.join(history.run.root, ".tmp"))


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
    assert history.cli.returncode == 0, history.cli.stdout + history.cli.stderr
    first, summary = history.summaries[0], history.summaries[2]
    report = summary.report
    assert "sample-quality gate: BLESSED" in history.cli.stdout
    assert f"pushed model: {summary.pushed_path}" in history.cli.stdout
    assert report["baseline_model_id"] == first.report["candidate_model_id"]
    assert report["candidate_model_id"] != report["baseline_model_id"]  # a new model
    better = report["scores"]["kid_domain"]
    assert better < report["baseline_scores"]["kid_domain"] == first.report["scores"]["kid_domain"]
    (margin,) = _checks(report, "margin")
    assert margin["passed"] and summary.blessed
    versions = _versions(history.trees[2])
    assert len(versions) == 2 and int(versions[1]) > int(versions[0])
    assert summary.pushed_path == os.path.join(history.run.serving_base, "gan", versions[1])
    _check_gate_report(summary, step=1000, blessed=[1.0])  # run 5 reuses run 3's gate


def test_cli_prints_a_line_per_component_and_logs_the_rest(history):
    out, summary = history.cli, history.summaries[2]
    assert out.stderr == ""
    lines = out.stdout.splitlines()
    log_path = lines[0].removeprefix("full log: ")
    assert os.path.dirname(log_path) == os.path.join(history.run.root, "logs")
    end = next(i for i, line in enumerate(lines) if line.startswith("pipeline finished"))
    components = {line.split()[0]: line for line in lines[1:end]}
    assert sorted(components) == sorted(COMPONENT_IDS), lines
    assert "cached" in components["ExampleValidator"] and "done" in components["Trainer"]
    assert "BLESSED" in components["SampleQualityGate"]
    assert f"pushed version {os.path.basename(summary.pushed_path)}" in components["Pusher"]
    # The summary follows, and nothing else.
    text = summary.text()
    assert "\n".join(lines[end + 1 :]) == text[text.index("\n") + 1 :]
    with open(log_path, encoding="utf-8") as f:
        log = f.read()
    for noise in ("Component Trainer is running.", "running egg_info", "Epoch 1/"):
        assert noise in log and noise not in out.stdout, noise


def _check_gate_report(summary, step: int, blessed: list[float]) -> None:
    """The report embeds the judged grid; the judged model's TensorBoard run has the verdicts."""
    with open(os.path.join(summary.report_dir, gate.REPORT_MD), encoding="utf-8") as f:
        assert f"]({gate.REPORT_GRID})" in f.read()
    grid = tf.io.decode_png(tf.io.read_file(os.path.join(summary.report_dir, gate.REPORT_GRID)))
    assert grid.shape == (8 * 30 + 2, 8 * 30 + 2, 1)  # seeds 0-63 of the 28x28 smoke model
    events = read_values(os.path.join(summary.model_run, "tensorboard"))
    assert [float(tf.make_ndarray(v.tensor)) for _, v in events["gate/blessed"]] == blessed
    assert {s for tag in events if tag.startswith("gate/") for s, _ in events[tag]} == {step}
    kids = [float(tf.make_ndarray(v.tensor)) for _, v in events["gate/kid_domain"]]
    assert summary.report["scores"]["kid_domain"] == pytest.approx(kids[0], rel=1e-6)
    text = tf.make_ndarray(events["gate/report"][0][1].tensor).item().decode()
    assert text.startswith("# Sample-quality gate: BLESSED")
    png = tf.make_ndarray(events["gate/samples"][0][1].tensor)[2]
    assert tf.io.decode_png(png).shape == grid.shape


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
        with tf.io.TFRecordWriter(str(data / split / "data.tfrecord")) as writer:
            for i in range(count):
                example = tfrecord.make_example(rng.bytes(64), i % 10)
                writer.write(example.SerializeToString())
    run = local_runner.LocalRun(
        root=str(tmp_path / "root"), preset="smoke", data_root=str(data), pipeline_name=PIPELINE
    )
    command = ["pipeline", "run", "--preset", "smoke", "--root", run.root]
    command += ["--data-root", run.data_root, "--pipeline-name", PIPELINE]
    out = subprocess.run(
        [sys.executable, "-m", "gan_tf.cli", *command], capture_output=True, text=True, timeout=600
    )
    assert out.returncode == 2, out.stdout + out.stderr
    assert out.stderr.startswith("gan-tf pipeline: error: ExampleValidator found anomalies")
    assert "not recognised as images" in out.stderr and "Traceback" not in out.stderr
    first, *_, failed, last = out.stdout.splitlines()
    assert failed.split()[:2] == ["ExampleValidator", "FAILED"]
    assert last == "the run failed; its full log: " + first.removeprefix("full log: ")
    store = _store(run.metadata_path)
    assert _node_states(store, "ExampleValidator")  # it ran (and failed) ...
    assert _node_states(store, "Trainer") == []  # ... and no Trainer ever ran
    assert not os.path.exists(os.path.join(run.serving_base, "gan"))
