"""TensorBoard as a user runs it: the real `tensorboard` command on a smoke run's logs.

The command of the venv running the tests (the one `make install` builds) serves
`--logdir runs/` offline; the test reads, over its HTTP data API, what the event files hold:
loss scalars, EMA sample grids, domain eval scalars, the hparams session and the config text.
"""

from __future__ import annotations

import html
import json
import os
import socket
import subprocess
import sys
import time
import urllib.parse
import urllib.request

import numpy as np
import pytest
import tensorflow as tf
from event_files import read_values

from gan_tf import train

RUN = "smoke/tensorboard"  # the run's name under --logdir runs/


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def event_values(logdir: str) -> dict[str, list[tuple[int, object]]]:
    """tag -> [(step, value)] straight from the event files (scalars as floats, else bytes)."""
    out: dict[str, list[tuple[int, object]]] = {}
    for tag, values in read_values(logdir).items():
        for step, value in values:
            array = tf.make_ndarray(value.tensor)
            item = float(array) if array.dtype.kind == "f" and array.ndim == 0 else array
            out.setdefault(tag, []).append((step, item))
    return out


class TensorBoard:
    """A `tensorboard` process on a free port, stopped by its own PID."""

    def __init__(self, logdir: str, log_path: str):
        executable = os.path.join(os.path.dirname(sys.executable), "tensorboard")
        self.port = free_port()
        self.log = open(log_path, "wb")  # noqa: SIM115 (closed in stop)
        self.process = subprocess.Popen(
            [executable, "--logdir", logdir, "--host", "127.0.0.1", "--port", str(self.port)],
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )
        self.log_path = log_path

    def output(self) -> str:
        with open(self.log_path, encoding="utf-8", errors="replace") as f:
            return f.read()[-3000:]

    def get(self, path: str, body: dict | None = None):
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(
            f"http://127.0.0.1:{self.port}{path}",
            data=data,
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            raw = response.read()
        return raw if response.headers.get_content_type() != "application/json" else json.loads(raw)

    def wait_for_run(self, run: str, timeout: float = 120.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                pytest.fail(f"tensorboard exited with {self.process.returncode}:\n{self.output()}")
            try:
                if run in self.get("/data/runs"):
                    return
            except OSError:
                pass
            time.sleep(0.5)
        pytest.fail(f"tensorboard did not list run {run!r} in {timeout} s:\n{self.output()}")

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.log.close()


@pytest.fixture(scope="module")
def smoke_config(mnist_data_dir):
    """The smoke preset with domain KID, FID and class coverage at half-way and at the end."""
    from gan_tf import presets

    config = presets.smoke()
    return config.override(
        [
            f"data.data_dir={mnist_data_dir}",
            f"eval.every={config.train.steps // 2}",
            "eval.features=domain",
            "eval.metrics=kid,fid,coverage",
            "eval.num_samples=200",
        ]
    )


@pytest.fixture(scope="module")
def smoke_logs(tmp_path_factory, smoke_config) -> str:
    """`runs/` holding one smoke run, `runs/smoke`."""
    runs = tmp_path_factory.mktemp("runs")
    train.train(smoke_config, str(runs / "smoke"), verbose=0)
    return str(runs)


@pytest.fixture(scope="module")
def board(smoke_logs, tmp_path_factory):
    server = TensorBoard(smoke_logs, str(tmp_path_factory.mktemp("tb") / "tensorboard.log"))
    try:
        server.wait_for_run(RUN)
        yield server
    finally:
        server.stop()


def scalars(board: TensorBoard, tag: str) -> list[tuple[int, float]]:
    query = urllib.parse.urlencode({"run": RUN, "tag": tag})
    return [(step, value) for _, step, value in board.get(f"/data/plugin/scalars/scalars?{query}")]


def test_loss_and_eval_scalars(board, smoke_logs, smoke_config):
    events = event_values(os.path.join(smoke_logs, RUN))
    tags = board.get("/data/plugin/scalars/tags")[RUN]
    for tag in ("losses/d_loss", "losses/g_loss", "eval/kid_domain", "eval/fid_domain"):
        assert tag in tags, sorted(tags)
        served = scalars(board, tag)
        assert [s for s, _ in served] == [s for s, _ in events[tag]], tag
        np.testing.assert_allclose([v for _, v in served], [v for _, v in events[tag]], rtol=1e-6)
    t = smoke_config.train
    logged = list(range(t.log_every, t.steps + 1, t.log_every))
    assert [s for s, _ in scalars(board, "losses/d_loss")] == logged
    evaluated = [t.steps // 2, t.steps]
    assert [s for s, _ in scalars(board, "eval/kid_domain")] == evaluated
    covered = scalars(board, "eval/classes_covered_domain")
    assert [s for s, _ in covered] == evaluated and all(0 <= v <= 10 for _, v in covered)


def test_sample_images(board, smoke_logs, smoke_config):
    assert "samples/ema" in board.get("/data/plugin/images/tags")[RUN]
    query = urllib.parse.urlencode({"run": RUN, "tag": "samples/ema"})
    entries = board.get(f"/data/plugin/images/images?{query}")
    steps = [entry["step"] for entry in entries]
    every = smoke_config.train.image_every
    assert steps[:2] == [every, 2 * every], steps
    png = board.get(f"/data/plugin/images/individualImage?{entries[0]['query']}")
    grid = tf.io.decode_png(png).numpy()
    assert grid.shape == (4 * (28 + 2) + 2, 4 * (28 + 2) + 2, 1)
    written = event_values(os.path.join(smoke_logs, RUN))["samples/ema"][0][1][2]
    assert png == written  # the first grid, byte for byte


def test_hparams_session_and_config_text(board, smoke_config):
    experiment = board.get("/data/plugin/hparams/experiment", {"experimentName": ""})
    hparams = {info["name"] for info in experiment["hparamInfos"]}
    assert {"train.steps", "train.g_lr", "model.arch", "eval.metrics"} <= hparams
    metrics = {info["name"]["tag"] for info in experiment["metricInfos"]}
    assert {"eval/kid_domain", "eval/fid_domain"} <= metrics
    groups = board.get(
        "/data/plugin/hparams/session_groups",
        {
            "experimentName": "",
            "allowedStatuses": ["STATUS_UNKNOWN", "STATUS_SUCCESS", "STATUS_FAILURE"],
            "colParams": [{"hparam": "train.steps"}],
            "startIndex": 0,
            "sliceSize": 10,
        },
    )["sessionGroups"]
    (group,) = groups
    steps = smoke_config.train.steps
    assert group["hparams"]["train.steps"] == steps and group["hparams"]["model.arch"] == "dcgan"
    final = {m["name"]["tag"]: m for m in group["metricValues"]}
    assert int(final["eval/kid_domain"]["trainingStep"]) == steps
    last = scalars(board, "eval/kid_domain")[-1][1]
    assert final["eval/kid_domain"]["value"] == pytest.approx(last)

    assert "config" in board.get("/data/plugin/text/tags")[RUN]
    query = urllib.parse.urlencode({"run": RUN, "tag": "config"})
    (entry,) = board.get(f"/data/plugin/text/text?{query}")
    assert entry["text"].startswith("<pre><code>{")  # the JSON, rendered as a code block
    shown = json.loads(html.unescape(entry["text"][len("<pre><code>") : -len("</code></pre>")]))
    assert shown == smoke_config.to_dict()
