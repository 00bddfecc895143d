"""The `smoke` preset end to end: event files, checkpoints, exact resume, NaN handling."""

from __future__ import annotations

import glob
import json
import os

import numpy as np
import pytest
import tensorflow as tf

from gan_tf import train
from gan_tf.errors import ConfigError, TrainingError


def read_events(logdir):
    tags = {}
    for path in glob.glob(os.path.join(logdir, "events.out.tfevents.*")):
        for event in tf.compat.v1.train.summary_iterator(path):
            for value in event.summary.value:
                plugin = value.metadata.plugin_data.plugin_name
                tags.setdefault(value.tag, []).append((event.step, plugin, value))
    return tags


def variables(gan, name):
    return [v.numpy() for v in getattr(gan, name).variables]


def test_smoke_run_writes_everything(smoke_config, tmp_path):
    workdir = str(tmp_path / "run")
    result = train.train(smoke_config, workdir, verbose=0)
    assert result.step == smoke_config.train.steps == 80

    config = json.loads(open(os.path.join(workdir, "config.json")).read())
    assert config["train"]["steps"] == 80 and config["model"]["arch"] == "dcgan"

    ckpts = sorted(glob.glob(os.path.join(workdir, "checkpoints", "ckpt-*.index")))
    assert [os.path.basename(p) for p in ckpts] == ["ckpt-40.index", "ckpt-80.index"]

    tags = read_events(os.path.join(workdir, "tensorboard"))
    for name in ("losses/d_loss", "losses/g_loss", "losses/d_real", "losses/d_fake"):
        steps = [step for step, plugin, _ in tags[name]]
        assert steps == [10, 20, 30, 40, 50, 60, 70, 80], name
        assert all(plugin == "scalars" for _, plugin, _ in tags[name])
        values = [float(tf.make_ndarray(v.tensor)) for _, _, v in tags[name]]
        assert np.isfinite(values).all()
    images = tags["samples/ema"]
    assert [step for step, _, _ in images][:2] == [40, 80]
    assert images[0][1] == "images"
    png = tf.make_ndarray(images[0][2].tensor)[2]  # [width, height, encoded image]
    grid = tf.io.decode_png(png).numpy()
    assert grid.shape[0] == grid.shape[1] == 4 * (28 + 2) + 2
    assert "throughput/images_per_second" in tags

    assert tf.io.decode_png(tf.io.read_file(result.samples_path)).shape[-1] == 1


def test_second_invocation_resumes_to_identical_weights(smoke_config, tmp_path):
    cfg = smoke_config.override(
        [
            "train.steps=12",
            "train.steps_per_epoch=5",
            "train.checkpoint_every=3",
            "train.diffaugment=translation,cutout",
        ]
    )
    straight = train.train(cfg, str(tmp_path / "straight"), verbose=0)

    workdir = str(tmp_path / "resumed")
    first = train.train(cfg.override(["train.steps=7"]), workdir, verbose=0)
    assert first.step == 7
    second = train.train(cfg, workdir, verbose=0)
    assert second.step == 12
    for name in ("generator", "discriminator", "ema_generator"):
        for a, b in zip(variables(straight.gan, name), variables(second.gan, name)):
            np.testing.assert_array_equal(a, b)
    for a, b in zip(straight.gan.g_optimizer.variables, second.gan.g_optimizer.variables):
        np.testing.assert_array_equal(a.numpy(), b.numpy())

    # Rerunning a finished run changes nothing.
    again = train.train(cfg, workdir, verbose=0)
    assert again.step == 12


def test_workdir_of_another_run_is_refused(smoke_config, tmp_path):
    workdir = str(tmp_path / "run")
    train.train(smoke_config.override(["train.steps=2"]), workdir, verbose=0)
    with pytest.raises(ConfigError, match="different configuration.*model.generator"):
        train.train(smoke_config.override(["model.generator.width=4"]), workdir, verbose=0)


def test_nan_stops_with_a_message_and_keeps_the_last_good_checkpoint(smoke_config, tmp_path):
    cfg = smoke_config.override(
        [
            "train.optimizer=sgd",
            "train.g_lr=1e12",
            "train.d_lr=1e12",
            "train.steps=20",
            "train.checkpoint_every=1",
            "train.steps_per_epoch=20",
        ]
    )
    workdir = str(tmp_path / "nan")
    with pytest.raises(TrainingError, match=r"non-finite (loss|weights) at step \d+") as info:
        train.train(cfg, workdir, verbose=0)
    assert "last good checkpoint" in str(info.value)
    latest = tf.train.latest_checkpoint(os.path.join(workdir, "checkpoints"))
    if latest is not None:
        reader = tf.train.load_checkpoint(latest)
        for name in reader.get_variable_to_shape_map():
            value = reader.get_tensor(name)
            if isinstance(value, np.ndarray) and value.dtype.kind == "f":
                assert np.isfinite(value).all(), f"{latest} holds a non-finite {name}"
    assert not os.path.exists(os.path.join(workdir, "samples.png"))


def test_fit_plan_splits_on_epoch_boundaries():
    assert train.fit_plan(0, 10, 4) == [(0, 2, 4), (2, 3, 2)]
    assert train.fit_plan(6, 10, 4) == [(1, 2, 2), (2, 3, 2)]
    assert train.fit_plan(5, 17, 4) == [(1, 2, 3), (2, 4, 4), (4, 5, 1)]
    assert train.fit_plan(8, 8, 4) == []


def test_mixed_precision_run_trains_and_exports_float32(smoke_config, tmp_path):
    cfg = smoke_config.override(["train.mixed_precision=true", "train.steps=10"])
    result = train.train(cfg, str(tmp_path / "mp"), verbose=0)
    gan = result.gan
    assert gan.generator.blocks[0].dtype_policy.name == "mixed_float16"
    assert type(gan.g_optimizer).__name__ == "LossScaleOptimizer"
    assert gan.generator(gan.generator.dummy_inputs()).dtype == tf.float32
    tags = read_events(str(tmp_path / "mp" / "tensorboard"))
    values = [float(tf.make_ndarray(v.tensor)) for _, _, v in tags["losses/d_loss"]]
    assert values and np.isfinite(values).all()

    reader = tf.train.load_checkpoint(os.path.join(result.export_dir, "variables", "variables"))
    dtypes = reader.get_variable_to_dtype_map()
    floats = [d for d in dtypes.values() if d.is_floating]
    assert floats and all(d == tf.float32 for d in floats), dtypes
    loaded = tf.saved_model.load(result.export_dir)
    z = tf.random.normal([2, cfg.model.latent_dim])
    out = loaded.signatures["serving_default"](**{_only_input(loaded): z})
    assert all(t.dtype in (tf.uint8, tf.float32) for t in out.values())


def _only_input(loaded):
    spec = loaded.signatures["serving_default"].structured_input_signature[1]
    (name,) = spec
    return name
