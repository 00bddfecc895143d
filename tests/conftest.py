"""Shared fixtures. TF logging is quietened before TensorFlow is imported."""

from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
# TensorFlow's kernels, not oneDNN's, unless the caller says otherwise: the parity tests'
# 1e-5 bounds are set for them, and TensorFlow reads this lazily, so an in-process
# `gan_tf.cli.main` (which defaults it to 1) would otherwise switch kernels mid-session.
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")

import pytest  # noqa: E402
import tensorflow as tf  # noqa: E402

# Two logical CPU devices, so distributed code is tested on one machine (set before the
# runtime starts; the default strategy still runs on the first).
tf.config.set_logical_device_configuration(
    tf.config.list_physical_devices("CPU")[0],
    [tf.config.LogicalDeviceConfiguration(), tf.config.LogicalDeviceConfiguration()],
)

from gan_tf import presets  # noqa: E402
from gan_tf.data import mnist, offline  # noqa: E402


@pytest.fixture(scope="session", autouse=True)
def private_system_temp(tmp_path_factory):
    """The temporary files of the code under test (TFX, Beam, autograph, subprocesses) go
    under pytest's base temp and are deleted when the session ends, not left in /tmp."""
    from gan_tf import files

    with files.private_tempdir(str(tmp_path_factory.getbasetemp() / "system_temp")) as path:
        yield path


@pytest.fixture(scope="session")
def mnist_data_dir() -> str:
    """The offline MNIST prepared as TFDS `mnist` (once per machine, ~50 s)."""
    data_dir = mnist.prepare(offline.default_data_dir())
    os.environ["GAN_TF_DATA_DIR"] = data_dir
    return data_dir


@pytest.fixture
def smoke_config(mnist_data_dir):
    """The `smoke` preset reading the prepared offline MNIST."""
    return presets.smoke().override([f"data.data_dir={mnist_data_dir}"])


# A small `anomaly_mnist` run: digit 0 is normal, 200 GAN steps, then 200 encoder steps at a
# high learning rate (with 100 encoder steps letters scored barely above normal images).
ANOMALY_SETTINGS = (
    "train.steps=400",
    "anomaly.encoder_steps=200",
    "anomaly.encoder_lr=2e-3",
    "train.steps_per_epoch=50",
    "train.checkpoint_every=200",
    "train.image_every=0",
    "data.limit=512",
    "anomaly.eval_every=0",
)


@pytest.fixture(scope="session")
def anomaly_workdir(mnist_data_dir, tmp_path_factory) -> str:
    """The workdir of a trained tiny anomaly detector (with its export in `export/`)."""
    from gan_tf import train

    config = presets.anomaly_mnist().override(
        [f"data.data_dir={mnist_data_dir}", *ANOMALY_SETTINGS]
    )
    workdir = str(tmp_path_factory.mktemp("anomaly") / "run")
    train.train(config, workdir, verbose=0)
    return workdir
