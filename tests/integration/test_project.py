"""`gan-tf project`: latents of real images by encoder or by optimisation."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest
import tensorflow as tf

from gan_tf import cli, families, images, projection, train
from gan_tf import workdir as workdir_lib
from gan_tf.metrics import sources


def run(*argv) -> int:
    return cli.main([str(a) for a in argv])


@pytest.fixture(scope="module")
def gan_workdir(smoke_config_module, tmp_path_factory):
    workdir = str(tmp_path_factory.mktemp("project") / "run")
    train.train(smoke_config_module, workdir, verbose=0)
    return workdir


@pytest.fixture(scope="module")
def smoke_config_module(mnist_data_dir):
    from gan_tf import presets

    return presets.smoke().override(
        [f"data.data_dir={mnist_data_dir}", "train.steps=40", "export.enabled=false"]
    )


def test_encoder_projection_writes_the_detector_latents(anomaly_workdir, tmp_path):
    out = tmp_path / "proj"
    assert (
        run(
            "project",
            "--workdir",
            anomaly_workdir,
            "--images",
            "mnist:test",
            "--num",
            6,
            "--out",
            out,
        )
        == 0
    )
    z = np.load(out / "latents.npy")
    config = workdir_lib.load_config(anomaly_workdir)
    detector, _ = families.for_config(config).load(anomaly_workdir)
    (x,) = list(sources.first_batches(sources.open_source("mnist:test"), 6, 6))
    expected, recon = projection.by_encoder(detector, x)
    np.testing.assert_allclose(z, expected, rtol=1e-5, atol=1e-6)
    summary = json.loads((out / "summary.json").read_text())
    errors = np.mean(np.square(x / 255.0 - images.to_uint8(recon) / 255.0), axis=(1, 2, 3))
    assert summary["method"] == "encoder" and summary["count"] == 6
    assert summary["mean_mse"] == pytest.approx(errors.mean(), rel=1e-6)
    grid = tf.io.decode_png((out / "reconstructions.png").read_bytes()).numpy()
    assert grid.shape[1] == 2 * 28 + 3 * 2  # original and reconstruction side by side


def test_optimisation_lowers_the_error_and_is_per_image(gan_workdir, tmp_path):
    generator, config, _ = workdir_lib.load_generator(gan_workdir)
    from gan_tf import checkpoint, networks

    _, discriminator = networks.build(config)
    discriminator(discriminator.dummy_inputs())
    checkpoint.restore_items(
        {"discriminator": discriminator}, workdir_lib.checkpoint_dir(gan_workdir)
    )
    (x,) = list(sources.first_batches(sources.open_source("mnist:test"), 4, 4))

    def error(recon):
        return np.mean(np.square(x / 127.5 - 1.0 - recon), axis=(1, 2, 3))

    z0, start = projection.by_optimisation(generator, discriminator, x, steps=1, learning_rate=1e-9)
    z, found = projection.by_optimisation(generator, discriminator, x, steps=60)
    assert np.all(error(found) < error(start))
    alone, _ = projection.by_optimisation(generator, discriminator, x[1:2], steps=60)
    np.testing.assert_allclose(alone[0], z[1], rtol=1e-4, atol=1e-5)

    out = tmp_path / "proj"
    assert (
        run(
            "project",
            "--workdir",
            gan_workdir,
            "--images",
            "mnist:test",
            "--num",
            4,
            "--steps",
            60,
            "--out",
            out,
        )
        == 0
    )
    np.testing.assert_allclose(np.load(out / "latents.npy"), z, rtol=1e-4, atol=1e-5)
    assert json.loads((out / "summary.json").read_text())["method"].startswith("optimisation")


def test_bad_input_exits_2_and_leaves_out_alone(gan_workdir, tmp_path, capsys):
    out = tmp_path / "out"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    assert run("project", "--workdir", gan_workdir, "--images", "mnist:test", "--out", out) == 2
    assert "not empty" in capsys.readouterr().err
    assert (
        run(
            "project",
            "--workdir",
            gan_workdir,
            "--images",
            "mnist:test",
            "--num",
            0,
            "--out",
            tmp_path / "o2",
        )
        == 2
    )
    assert (
        run(
            "project",
            "--workdir",
            tmp_path / "missing",
            "--images",
            "mnist:test",
            "--out",
            tmp_path / "o3",
        )
        == 2
    )
    assert os.listdir(out) == ["keep.txt"]
