"""End to end with LocalDagRunner, a real sqlite ML Metadata store and 1,500 real MNIST images.

1. The smoke preset trains, the gate blesses, a numbered version is pushed, MLMD records it.
2. Re-run with an impossible threshold: nothing blessed, the serving root unchanged.
3. A TFRecord of non-image bytes stops the run at ExampleValidator, naming the anomaly;
   the Trainer never runs.
"""

from __future__ import annotations

import dataclasses
import os

import numpy as np
import pytest

from gan_tf.data import mnist, tfrecord
from pipelines import gate, local_runner, presets

pytestmark = pytest.mark.slow

PIPELINE = "gan-tf-test"
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
    out = {}
    for dirpath, _, files in os.walk(directory):
        for name in files:
            path = os.path.join(dirpath, name)
            out[os.path.relpath(path, directory)] = os.path.getmtime(path)
    return out


def test_bless_push_then_refuse_with_impossible_threshold(tmp_path, mnist_subset):
    from ml_metadata.proto import metadata_store_pb2

    done = (metadata_store_pb2.Execution.COMPLETE, metadata_store_pb2.Execution.CACHED)
    run = local_runner.LocalRun(
        root=str(tmp_path / "root"),
        preset="smoke",
        data_root=mnist_subset,
        pipeline_name=PIPELINE,
        gate=presets.SMOKE,
    )
    summary = local_runner.run_pipeline(run)

    store = _store(run.metadata_path)
    for node in RUN_NODES:
        states = _node_states(store, node)
        assert states and states[-1] in done, (node, states)
    serving = os.path.join(run.serving_base, "gan")
    versions = [d for d in os.listdir(serving) if d != ".lock"]  # the push lock file
    assert len(versions) == 1 and versions[0].isdigit()
    assert os.path.isfile(os.path.join(serving, versions[0], "saved_model.pb"))
    assert summary.blessed and summary.pushed_path == os.path.join(serving, versions[0])
    assert np.isfinite(summary.report["scores"]["kid_domain"])
    blessings = store.get_artifacts_by_type("ModelBlessing")
    assert [b.custom_properties["blessed"].int_value for b in blessings] == [1]
    model = store.get_artifacts_by_type("Model")[-1]
    assert blessings[0].custom_properties["current_model_id"].int_value == model.id
    assert os.path.isfile(os.path.join(blessings[0].uri, "BLESSED"))
    assert os.path.isdir(os.path.join(summary.model_run, "tensorboard"))
    before = _tree(run.serving_base)

    impossible = presets.SMOKE.with_overrides(["kid_domain=-1"], "threshold")
    summary2 = local_runner.run_pipeline(dataclasses.replace(run, gate=impossible))
    assert summary2.blessed is False and summary2.pushed_path is None
    assert summary2.report["baseline_model_id"] == model.id  # compared with the blessed one
    assert _tree(run.serving_base) == before
    blessings = _store(run.metadata_path).get_artifacts_by_type("ModelBlessing")
    assert [b.custom_properties["blessed"].int_value for b in blessings] == [1, 0]
    text = summary2.text()
    assert "NOT BLESSED" in text and "kid_domain <= -1" in text and "tensorboard --logdir" in text


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
