"""The gate's rule, settings, report and smoke bound, the atomic push and the Beam options.

No TFX run here: the gate is scored on real exported generators and real MNIST images, and
pushes go to a real directory, interrupted or watched while they copy.
"""

from __future__ import annotations

import math
import os
import shutil
import threading
import time

import numpy as np
import pytest

from gan_tf import files
from gan_tf.data import mnist
from gan_tf.errors import ConfigError
from pipelines import beam, gate, presets
from pipelines.components import atomic_pusher, sample_quality

SETTINGS = gate.GateSettings(
    features=("inception", "domain"),
    metrics={"inception": ("kid",), "domain": ("fid", "kid")},
    num_samples={"inception": 10, "domain": 10},
    thresholds={"kid": 0.05, "fid_domain": 20.0},
    margins={"kid": 0.01},
)


def test_thresholds_only_without_baseline():
    blessed, checks = gate.decide({"kid": 0.04, "fid_domain": 19.0}, SETTINGS, None)
    assert blessed
    assert [c["rule"] for c in checks] == ["fid_domain <= 20", "kid <= 0.05"]


def test_one_threshold_failing_refuses():
    blessed, checks = gate.decide({"kid": 0.06, "fid_domain": 1.0}, SETTINGS, None)
    assert not blessed
    assert [c["name"] for c in checks if not c["passed"]] == ["kid"]


def test_margin_against_baseline():
    scores = {"kid": 0.045, "fid_domain": 10.0}
    assert gate.decide(scores, SETTINGS, {"kid": 0.04})[0]  # worse by 0.005 <= 0.01
    blessed, checks = gate.decide(scores, SETTINGS, {"kid": 0.03})  # worse by 0.015
    assert not blessed
    assert checks[-1]["kind"] == "margin" and not checks[-1]["passed"]
    assert checks[-1]["bound"] == pytest.approx(0.04)


def test_non_finite_score_fails():
    blessed, _ = gate.decide({"kid": math.nan, "fid_domain": 1.0}, SETTINGS, None)
    assert not blessed


def test_higher_is_better_metrics():
    assert gate.higher_is_better("precision_domain")
    assert not gate.higher_is_better("kid_domain")


def test_settings_round_trip_and_validation():
    assert gate.GateSettings.from_json(SETTINGS.to_json()) == SETTINGS
    assert SETTINGS.result_keys() == {"kid", "fid_domain", "kid_domain"}
    with pytest.raises(ConfigError, match="does not compute"):
        SETTINGS.with_overrides(["fid=10"], "threshold")
    with pytest.raises(ConfigError, match="metric=number"):
        SETTINGS.with_overrides(["kid"], "threshold")
    tighter = SETTINGS.with_overrides(["kid=-1"], "threshold")
    assert tighter.thresholds["kid"] == -1.0


def test_report_files(tmp_path):
    blessed, checks = gate.decide({"kid": 0.01, "fid_domain": 2.0}, SETTINGS, None)
    report = {
        "blessed": blessed,
        "candidate": "/m",
        "baseline": None,
        "scores": {"kid": 0.01, "fid_domain": 2.0},
        "baseline_scores": None,
        "checks": checks,
        "protocol": {"domain": {"num_samples": 10}},
    }
    json_path, md_path = gate.write_report(str(tmp_path), report)
    assert gate.read_report(str(tmp_path))["scores"]["kid"] == 0.01
    text = open(md_path, encoding="utf-8").read()
    assert "BLESSED" in text and "`kid <= 0.05`" in text and "num_samples" in text
    assert os.path.basename(json_path) == gate.REPORT_JSON


def _fake_model(directory, tag: str) -> dict[str, bytes]:
    """A SavedModel-shaped directory of a few files; returns relative path -> contents."""
    contents = {
        "saved_model.pb": b"pb " + tag.encode(),
        "fingerprint.pb": tag.encode(),
        os.path.join("variables", "variables.index"): b"index",
        os.path.join("variables", "variables.data-00000-of-00001"): os.urandom(4096),
        os.path.join("assets", "gan_metadata.json"): b"{}",
    }
    for rel, data in contents.items():
        os.makedirs(os.path.dirname(os.path.join(directory, rel)), exist_ok=True)
        with open(os.path.join(directory, rel), "wb") as f:
            f.write(data)
    return contents


def _contents(directory) -> dict[str, bytes]:
    out = {}
    for dirpath, _, names in os.walk(directory):
        for name in names:
            path = os.path.join(dirpath, name)
            with open(path, "rb") as f:
                out[os.path.relpath(path, directory)] = f.read()
    return out


def test_push_is_atomic_and_versions_grow(tmp_path):
    model = tmp_path / "model"
    _fake_model(model, "model 1")
    base = tmp_path / "serving" / "gan"
    path1, v1 = atomic_pusher.push_atomically(str(model), str(base), now=1000)
    again = atomic_pusher.push_atomically(str(model), str(base), now=1005)
    assert again == (path1, "1000")  # the same model is not pushed twice
    contents = _fake_model(model, "model 2")
    path2, v2 = atomic_pusher.push_atomically(str(model), str(base), now=1000)
    assert (v1, v2) == ("1000", "1001")
    assert sorted(os.listdir(base)) == [".lock", "1000", "1001"]  # no temporary directory
    assert _contents(path2) == contents


def _copy_hook(monkeypatch, after_each):
    """Calls `after_each(count)` after every file `shutil.copytree` copies."""
    copied = []
    real = shutil.copyfile

    def copyfile(src, dst, *args, **kwargs):
        result = real(src, dst, *args, **kwargs)
        copied.append(dst)
        after_each(len(copied))
        return result

    monkeypatch.setattr(shutil, "copyfile", copyfile)


def test_a_failed_copy_leaves_no_version_and_no_leftover(tmp_path, monkeypatch):
    base = tmp_path / "gan"
    _fake_model(tmp_path / "m1", "model 1")
    path1, _ = atomic_pusher.push_atomically(str(tmp_path / "m1"), str(base), now=1000)
    before = _contents(path1)
    _fake_model(tmp_path / "m2", "model 2")

    def fail(count):
        if count == 3:
            raise OSError(28, "No space left on device")

    _copy_hook(monkeypatch, fail)
    with pytest.raises(OSError, match="No space left"):
        atomic_pusher.push_atomically(str(tmp_path / "m2"), str(base), now=1000)
    assert sorted(os.listdir(base)) == [".lock", "1000"]
    assert _contents(path1) == before


def test_no_partial_version_is_ever_visible(tmp_path, monkeypatch):
    """A reader polling the base directory during a (slowed) push sees whole versions only."""
    base = tmp_path / "gan"
    contents = _fake_model(tmp_path / "model", "model 1")
    _copy_hook(monkeypatch, lambda count: time.sleep(0.05))
    seen: list[dict[str, bytes]] = []
    done = threading.Event()

    def watch():
        while not done.is_set():
            if os.path.isdir(base):
                seen.extend(_contents(base / d) for d in os.listdir(base) if d.isdigit())
            time.sleep(0.002)

    watcher = threading.Thread(target=watch)
    watcher.start()
    try:
        atomic_pusher.push_atomically(str(tmp_path / "model"), str(base), now=1000)
        time.sleep(0.02)
    finally:
        done.set()
        watcher.join()
    assert seen, "the watcher never saw the version"
    assert all(view == contents for view in seen)


def _record_calls(monkeypatch, owner, name: str, calls: list) -> None:
    """Appends `(name, *args)` to `calls` whenever `owner.<name>` is called, then calls it."""
    real = getattr(owner, name)

    def recorded(*args):
        calls.append((name, *args))
        return real(*args)

    monkeypatch.setattr(owner, name, recorded)


def test_a_version_is_flushed_to_disk_before_it_is_renamed(tmp_path, monkeypatch):
    base = tmp_path / "gan"
    contents = _fake_model(tmp_path / "model", "model 1")
    calls: list[tuple] = []
    for owner, name in ((files, "fsync_file"), (files, "fsync_dir"), (os, "rename")):
        _record_calls(monkeypatch, owner, name, calls)
    target, _ = atomic_pusher.push_atomically(str(tmp_path / "model"), str(base), now=1000)
    renames = [i for i, call in enumerate(calls) if call[0] == "rename"]
    assert len(renames) == 1
    _, incoming, renamed_to = calls[renames[0]]
    assert renamed_to == target
    flushed = {call[1] for call in calls[: renames[0]] if call[0] == "fsync_file"}
    assert flushed == {os.path.join(incoming, rel) for rel in contents}
    assert ("fsync_dir", str(base)) in calls[renames[0] + 1 :]  # the rename itself is on disk


def test_leftovers_of_interrupted_pushes_are_removed(tmp_path):
    base = tmp_path / "gan"
    for leftover in (".1000.incoming-4242", ".1001.incoming-17"):
        os.makedirs(base / leftover / "variables")
        (base / leftover / "saved_model.pb").write_bytes(b"half")
    os.makedirs(base / ".not-a-push")
    _fake_model(tmp_path / "model", "model 1")
    atomic_pusher.push_atomically(str(tmp_path / "model"), str(base), now=1000)
    assert sorted(os.listdir(base)) == [".lock", ".not-a-push", "1000"]


def test_a_push_fails_while_another_push_holds_the_directory(tmp_path):
    base = tmp_path / "gan"
    _fake_model(tmp_path / "model", "model 1")
    with files.DirLock(str(base), "model's serving directory"):
        with pytest.raises(
            files.LockedError, match=rf"in use by another process \(pid {os.getpid()}"
        ):
            atomic_pusher.push_atomically(str(tmp_path / "model"), str(base), now=1000)
    assert sorted(os.listdir(base)) == [".lock"]


def test_the_candidate_is_never_its_own_baseline():
    from tfx.types import standard_artifacts

    def artifact(cls, artifact_id):
        a = cls()
        a.id = artifact_id
        return a

    candidate = artifact(standard_artifacts.Model, 7)
    blessing = artifact(standard_artifacts.ModelBlessing, 8)
    itself = artifact(standard_artifacts.Model, 7)
    assert sample_quality.usable_baseline(candidate, itself, blessing) == (None, None)
    other = artifact(standard_artifacts.Model, 3)
    assert sample_quality.usable_baseline(candidate, other, blessing) == (other, blessing)
    assert sample_quality.usable_baseline(candidate, None, None) == (None, None)


@pytest.fixture(scope="module")
def mnist_test_images() -> np.ndarray:
    return mnist.load_arrays()["test"][0][..., None]


def _smoke_generator(tmp_path, breakage: str) -> str:
    """Exports the smoke preset's generator, broken as named; returns the SavedModel dir."""
    import keras

    from gan_tf import export, networks
    from gan_tf import presets as gan_presets

    keras.utils.set_random_seed(0)
    generator, _ = networks.build(gan_presets.smoke())
    generator(generator.dummy_inputs())
    # NaN weights can no longer be exported (export refuses them); "black" is what such an
    # export used to serve: the tanh output stuck at -1. "saturated": stuck at +1.
    last = generator.layers[-1]
    last.kernel.assign(np.zeros(last.kernel.shape, "float32"))
    last.bias.assign(np.full(last.bias.shape, -10.0 if breakage == "black" else 10.0, "float32"))
    directory = str(tmp_path / breakage)
    export.export_generator(generator, directory, {"step": 0}, warmup_requests=0)
    return directory


@pytest.mark.parametrize("breakage", ["black", "saturated"])
def test_smoke_threshold_refuses_a_broken_generator(tmp_path, mnist_test_images, breakage):
    generate = sample_quality.export_source(_smoke_generator(tmp_path, breakage)).generate
    reference = mnist_test_images[: presets.SMOKE.num_samples["domain"]]
    result = gate.score(generate, lambda: [reference], presets.SMOKE)
    blessed, checks = gate.decide(result["scores"], presets.SMOKE, baseline=None)
    assert not blessed
    failed = {c["rule"] for c in checks if not c["passed"]}
    assert failed == {"kid_domain <= 15", "classes_covered_domain >= 5"}


def test_smoke_threshold_passes_real_digits(mnist_test_images):
    """The bound is not refusing everything: held-out real digits pass it."""
    n = presets.SMOKE.num_samples["domain"]
    held_out = mnist_test_images[n : 2 * n]
    result = gate.score(
        lambda seeds: held_out[seeds], lambda: [mnist_test_images[:n]], presets.SMOKE
    )
    assert gate.decide(result["scores"], presets.SMOKE, baseline=None)[0]


def test_beam_args():
    direct = beam.beam_args("direct", workers=2)
    assert "--direct_running_mode=multi_processing" in direct
    assert "--direct_num_workers=2" in direct
    flink = beam.beam_args("flink", options={"flink_master": "host:8081"})
    assert "--runner=FlinkRunner" in flink and "--flink_master=host:8081" in flink
    with pytest.raises(ConfigError, match="temp_location"):
        beam.beam_args("dataflow", options={"project": "p", "region": "r"})
    with pytest.raises(ConfigError, match="unknown Beam runner"):
        beam.beam_args("nope")
