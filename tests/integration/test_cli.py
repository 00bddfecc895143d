"""`gan-tf train` / `generate` as real processes: outputs, bad input and exit codes."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

from gan_tf import cli, presets
from gan_tf.config import Config
from gan_tf.data import tfrecord


def gan_tf(*args, env_extra=None):
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", **(env_extra or {})}
    return subprocess.run(
        [sys.executable, "-m", "gan_tf.cli", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
    )


def train_args(workdir, *sets):
    args = ["train", "--preset", "smoke", "--workdir", str(workdir)]
    for s in sets:
        args += ["--set", s]
    return args


def test_help_lists_commands_and_presets():
    out = gan_tf("--help")
    assert out.returncode == 0 and "train" in out.stdout and "generate" in out.stdout
    out = gan_tf("train", "--help")
    assert out.returncode == 0
    for text in ("--preset", "--workdir", "--set", "dcgan_mnist", "wgan_gp_mnist"):
        assert text in out.stdout


def test_train_then_generate(mnist_data_dir, tmp_path):
    workdir = tmp_path / "run"
    out = gan_tf(*train_args(workdir, "train.steps=4", "train.steps_per_epoch=2"))
    assert out.returncode == 0, out.stderr
    assert "trained to step 4" in out.stdout
    grid = tmp_path / "grid.png"
    out = gan_tf(
        "generate", "--workdir", str(workdir), "--num", "9", "--seed", "3", "--out", str(grid)
    )
    assert out.returncode == 0, out.stderr
    image = tf.io.decode_png(grid.read_bytes()).numpy()
    assert image.shape == (3 * 30 + 2, 3 * 30 + 2, 1)
    # The same seeds give the same images.
    again = tmp_path / "again.png"
    gan_tf("generate", "--workdir", str(workdir), "--num", "9", "--seed", "3", "--out", str(again))
    assert grid.read_bytes() == again.read_bytes()
    out = gan_tf(
        "generate", "--workdir", str(workdir), "--num", "4", "--label", "3", "--out", str(again)
    )
    assert out.returncode == 2 and "no classes" in out.stderr


def write_bad_records(path, payloads):
    with tf.io.TFRecordWriter(str(path)) as writer:
        for payload in payloads:
            writer.write(tfrecord.make_example(payload).SerializeToString())


@pytest.mark.parametrize(
    "case, message",
    [
        ("unknown_key", "unknown config key 'train.stepz'"),
        ("non_image_bytes", "Unknown image file format"),
        ("empty", "holds no examples"),
        ("wrong_shape", "expected 28x28x1"),
        ("missing_workdir_source", "no TFRecord files match"),
    ],
)
def test_bad_input_exits_non_zero_naming_the_problem(case, message, tmp_path):
    data = tmp_path / "data.tfrecord"
    sets = ["data.source=tfrecord", f"data.path={data}"]
    if case == "unknown_key":
        sets = ["train.stepz=3"]
    elif case == "non_image_bytes":
        write_bad_records(data, [b"definitely not an image"] * 20)
    elif case == "empty":
        write_bad_records(data, [])
    elif case == "wrong_shape":
        tfrecord.write_images(str(data), np.zeros([20, 32, 32, 1], np.uint8))
    workdir = tmp_path / "run"
    out = gan_tf(*train_args(workdir, *sets))
    assert out.returncode == 2, (out.stdout, out.stderr)
    assert message in out.stderr
    assert "Traceback" not in out.stderr
    assert not list((workdir / "checkpoints").glob("ckpt-*")) if workdir.exists() else True


def test_cli_turns_on_onednn_unless_told_otherwise(monkeypatch):
    monkeypatch.delenv("TF_ENABLE_ONEDNN_OPTS", raising=False)
    with pytest.raises(SystemExit):
        cli.main(["--help"])
    assert os.environ["TF_ENABLE_ONEDNN_OPTS"] == "1"
    monkeypatch.setenv("TF_ENABLE_ONEDNN_OPTS", "0")
    with pytest.raises(SystemExit):
        cli.main(["--help"])
    assert os.environ["TF_ENABLE_ONEDNN_OPTS"] == "0"


def test_failed_start_can_be_retried_in_the_same_workdir(tmp_path):
    data = tmp_path / "data.tfrecord"
    tfrecord.write_images(str(data), np.zeros([32, 28, 28, 1], np.uint8))
    workdir = tmp_path / "run"
    sets = ["data.source=tfrecord", "train.steps=2", "export.enabled=false"]
    out = gan_tf(*train_args(workdir, *sets, f"data.path={tmp_path}/dta.tfrecord"))
    assert out.returncode == 2 and "no TFRecord files match" in out.stderr
    out = gan_tf(*train_args(workdir, *sets, f"data.path={data}"))
    assert out.returncode == 0, out.stderr
    assert "trained to step 2" in out.stdout
    config = json.loads((workdir / "config.json").read_text())
    assert config["data"]["path"] == str(data)


def test_print_config_prints_the_resolved_config_and_trains_nothing(tmp_path):
    workdir = tmp_path / "run"
    args = train_args(workdir, "train.steps=7", "model.generator.width=4")
    out = gan_tf(*args, "--strategy", "one_device", "--print-config")
    assert out.returncode == 0, out.stderr
    expected = presets.smoke().override(
        ["train.steps=7", "model.generator.width=4", "train.strategy=one_device"]
    )
    assert Config.from_dict(json.loads(out.stdout)) == expected
    assert not workdir.exists()
