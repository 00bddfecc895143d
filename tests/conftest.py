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
