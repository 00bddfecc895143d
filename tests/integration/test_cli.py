"""`gan-tf train` / `generate` as real processes: outputs, bad input and exit codes."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

from gan_tf import cli, presets
from gan_tf.config import Config
from gan_tf.data import tfrecord


def run_cli(args, env):
    return subprocess.run(
        [sys.executable, "-m", "gan_tf.cli", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
    )


def gan_tf(*args, env_extra=None):
    return run_cli(args, {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", **(env_extra or {})})


def train_args(workdir, *sets):
    args = ["train", "--preset", "smoke", "--workdir", str(workdir)]
    for s in sets:
        args += ["--set", s]
    return args


# A TensorFlow C++ log line ("2026-11-30 04:40:30.430354: E external/...") or absl's
# ("E1130 04:58:51.172891 ..."), and the Python warnings the stack prints at import.
TF_LOG_LINE = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d+: [IWEF] |^[IWEF]\d{4} |Warning:")


def as_user(*args):
    """`gan-tf ARGS` with the environment of a user's shell (no TF_CPP_* settings)."""
    return run_cli(args, {k: v for k, v in os.environ.items() if not k.startswith("TF_CPP_")})


@pytest.mark.parametrize("argv", [["--help"], ["train", "--help"], ["pipeline", "run", "--help"]])
def test_help_prints_no_tensorflow_log_lines(argv):
    out = as_user(*argv)
    assert out.returncode == 0 and out.stdout.startswith("usage: gan-tf")
    assert out.stderr == ""
    assert not [line for line in out.stdout.splitlines() if TF_LOG_LINE.search(line)]


def test_help_does_not_import_tensorflow():
    code = (
        "import sys; from gan_tf import cli; cli.build_parser(); "
        "print('tensorflow' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.stdout.strip() == "False", out.stderr


def test_a_failing_command_prints_its_error_alone_and_verbose_shows_the_logs(tmp_path):
    args = ["generate", "--workdir", str(tmp_path / "none"), "--out", str(tmp_path / "x.png")]
    error = f"gan-tf generate: error: {tmp_path / 'none'} is not a gan_tf workdir"
    quiet = as_user(*args)  # imports TensorFlow before failing
    assert quiet.returncode == 2
    assert quiet.stderr.splitlines() == [quiet.stderr.strip()] and quiet.stderr.startswith(error)
    verbose = as_user("-v", *args)
    assert verbose.returncode == 2 and error in verbose.stderr
    assert [line for line in verbose.stderr.splitlines() if TF_LOG_LINE.search(line)]


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
