"""Real `gan-tf pipeline run` processes on one root: run twice at once, and killed between
the gate's blessing and the end of the push.

The first run (the `first_run` fixture, 1,000 + 1,000 MNIST images through the TFDS route)
is started, and while it holds the root a second run is started on the same root. Then a
better candidate (`--set train.steps=200`) is run three times, each killed with SIGKILL at
one crash point inside the Pusher (the process kills itself there, so the point is exact):

  before_push   the gate has blessed the candidate; nothing is copied yet
  mid_copy      two files of the new version are in the Pusher's hidden directory
  after_rename  the version is in place; ML Metadata does not know it was pushed

and then run once more without a fault. After every kill the serving root holds only whole
versions, byte for byte the models they came from; the last run pushes the candidate exactly
once; and the candidate is only ever compared with the model pushed before it.
"""

from __future__ import annotations

import glob
import hashlib
import json
import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest

pytestmark = pytest.mark.slow

RUN_TIMEOUT = 900
BETTER = "train.steps=200"
CRASH_POINTS = ("before_push", "mid_copy", "after_rename")

# Runs `gan-tf` (argv[2:]) with a SIGKILL planted at crash point argv[1] of the Pusher.
_KILLED_RUN = textwrap.dedent(
    """
    import os, shutil, signal, sys
    from gan_tf import cli, files
    from pipelines.components import atomic_pusher

    point, argv = sys.argv[1], sys.argv[2:]
    copied = []
    real_do, real_copyfile, real_replace_dir = (
        atomic_pusher.Executor.Do, shutil.copyfile, files.replace_dir)

    def die():
        os.kill(os.getpid(), signal.SIGKILL)

    def copyfile(src, dst, *args, **kwargs):
        result = real_copyfile(src, dst, *args, **kwargs)
        copied.append(dst)
        if len(copied) == 2:
            die()
        return result

    def replace_dir(tmp, dest):
        real_replace_dir(tmp, dest)
        die()

    def do(self, *args, **kwargs):
        if point == "before_push":
            die()
        elif point == "mid_copy":
            shutil.copyfile = copyfile
        elif point == "after_rename":
            files.replace_dir = replace_dir
        return real_do(self, *args, **kwargs)

    atomic_pusher.Executor.Do = do
    sys.exit(cli.main(argv))
    """
)


def _gan_tf(*args: str) -> list[str]:
    return [sys.executable, "-m", "gan_tf.cli", *args]


def _run_args(root: str, *extra: str) -> list[str]:
    return ["pipeline", "run", "--preset", "smoke", "--root", root, "--tfds-limit", "1000", *extra]


def _run(command: list[str], log: str) -> subprocess.CompletedProcess:
    """Runs a command in its own process group; kills what it leaves behind."""
    with open(log, "w") as out:
        process = subprocess.Popen(
            command, stdout=out, stderr=subprocess.STDOUT, text=True, start_new_session=True
        )
        try:
            process.wait(timeout=RUN_TIMEOUT)
        finally:
            _kill_group(process)
    with open(log) as f:
        return subprocess.CompletedProcess(command, process.returncode, f.read())


def _kill_group(process: subprocess.Popen) -> None:
    try:
        os.killpg(process.pid, signal.SIGKILL)  # Beam workers a killed run left
    except ProcessLookupError:
        pass
    process.wait()


def _digest(directory: str) -> dict[str, str]:
    """Relative path -> SHA-256 of every file below `directory`."""
    out = {}
    for dirpath, _, names in os.walk(directory):
        for name in names:
            path = os.path.join(dirpath, name)
            with open(path, "rb") as f:
                out[os.path.relpath(path, directory)] = hashlib.sha256(f.read()).hexdigest()
    return out


def _reports(root: str) -> list[dict]:
    pattern = os.path.join(root, "pipeline", "SampleQualityGate", "report", "*", "*.json")
    reports = []
    for path in glob.glob(pattern):
        with open(path, encoding="utf-8") as f:
            reports.append(json.load(f))
    return sorted(reports, key=lambda r: r["candidate_model_id"])


def _serving(root: str) -> str:
    return os.path.join(root, "serving", "gan")


def _versions(root: str) -> list[str]:
    return sorted((d for d in os.listdir(_serving(root)) if d.isdigit()), key=int)


def _store(root: str):
    from ml_metadata.metadata_store import metadata_store
    from ml_metadata.proto import metadata_store_pb2

    config = metadata_store_pb2.ConnectionConfig()
    config.sqlite.filename_uri = os.path.join(root, "pipeline", "metadata.sqlite")
    return metadata_store.MetadataStore(config)


def _lock_holder(root: str) -> int | None:
    try:
        with open(os.path.join(root, ".lock"), encoding="utf-8") as f:
            return json.load(f)["pid"]
    except (OSError, ValueError, KeyError):
        return None


@pytest.fixture(scope="module")
def first_run(tmp_path_factory, mnist_data_dir):
    """Run A on a fresh root, and run B started on the same root while A holds it."""
    tmp = tmp_path_factory.mktemp("pipeline_faults")
    root = str(tmp / "root")
    with open(tmp / "a.log", "w") as log:
        a = subprocess.Popen(
            _gan_tf(*_run_args(root)),
            stdout=log,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
        )
    try:
        deadline = time.monotonic() + RUN_TIMEOUT
        while _lock_holder(root) != a.pid:
            assert a.poll() is None, (tmp / "a.log").read_text()[-3000:]
            assert time.monotonic() < deadline, "run A never took the lock"
            time.sleep(0.05)
        b = subprocess.run(
            _gan_tf(*_run_args(root)), capture_output=True, text=True, timeout=RUN_TIMEOUT
        )
        a_running_after_b = a.poll() is None
        a.wait(timeout=RUN_TIMEOUT)
    finally:
        _kill_group(a)
    return {
        "root": root,
        "tmp": tmp,
        "a": a,
        "a_log": (tmp / "a.log").read_text(),
        "b": b,
        "a_running_after_b": a_running_after_b,
    }


def test_a_second_run_on_the_same_root_fails_at_once(first_run):
    a, b, root = first_run["a"], first_run["b"], first_run["root"]
    assert first_run["a_running_after_b"]  # B did not wait for A
    assert b.returncode == 2, b.stderr
    assert b.stdout == ""
    (line,) = b.stderr.strip().splitlines()
    assert line.startswith(f"gan-tf pipeline: error: {root} is in use by another process")
    assert f"(pid {a.pid} on " in line
    # A was not disturbed: one run in ML Metadata, one version pushed.
    assert a.returncode == 0, first_run["a_log"][-3000:]
    assert "sample-quality gate: BLESSED" in first_run["a_log"]
    store = _store(root)
    pipeline = store.get_context_by_type_and_name("pipeline", "gan-tf")
    assert len(store.get_children_contexts_by_context(pipeline.id)) == 1
    assert len(_versions(root)) == 1


def test_kills_between_gate_and_push_lose_nothing(first_run):
    root, tmp = first_run["root"], first_run["tmp"]
    assert first_run["a"].returncode == 0, first_run["a_log"][-3000:]
    (first,) = _reports(root)
    (v1,) = _versions(root)
    model_1 = _digest(first["candidate"])
    assert _digest(os.path.join(_serving(root), v1)) == model_1

    args = _run_args(root, "--set", BETTER)
    for point in CRASH_POINTS:
        killed = _run([sys.executable, "-c", _KILLED_RUN, point, *args], str(tmp / f"{point}.log"))
        assert killed.returncode == -signal.SIGKILL, (point, killed.stdout[-3000:])
        reports = _reports(root)
        assert len(reports) == 2, point  # the gate ran once, then was cached
        candidate = reports[1]
        assert candidate["blessed"], point
        # The model pushed before, never the candidate itself (a cached Trainer's model
        # was blessed before each kill).
        assert candidate["baseline_model_id"] == first["candidate_model_id"], point
        versions = _versions(root)
        hidden = sorted(d for d in os.listdir(_serving(root)) if ".incoming-" in d)
        model_2 = _digest(candidate["candidate"])
        assert _digest(os.path.join(_serving(root), v1)) == model_1, point
        if point == "after_rename":
            assert len(versions) == 2 and versions[0] == v1, versions
            assert _digest(os.path.join(_serving(root), versions[1])) == model_2
            assert hidden == []  # the mid_copy leftover was removed by this push
        else:
            assert versions == [v1], point
        if point == "mid_copy":
            (leftover,) = hidden
            assert 0 < len(_digest(os.path.join(_serving(root), leftover))) < len(model_2)

    rerun = _run(_gan_tf(*args), str(tmp / "rerun.log"))
    assert rerun.returncode == 0, rerun.stdout[-3000:]
    versions = _versions(root)
    assert len(versions) == 2  # pushed exactly once
    assert f"pushed model: {os.path.join(_serving(root), versions[1])}" in rerun.stdout
    assert sorted(os.listdir(_serving(root))) == [".lock", *versions]
    assert _digest(os.path.join(_serving(root), v1)) == model_1
    assert _digest(os.path.join(_serving(root), versions[1])) == model_2
    reports = _reports(root)
    assert [r["baseline_model_id"] for r in reports] == [None, first["candidate_model_id"]]
