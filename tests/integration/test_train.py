"""The `smoke` preset end to end: event files, checkpoints, exact resume, NaN handling,
mixed precision, XLA and the strategies a run may resume under."""

from __future__ import annotations

import glob
import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import tensorflow as tf
from event_files import read_values

from gan_tf import families, train
from gan_tf import workdir as workdir_lib
from gan_tf.checkpoint import Checkpointer
from gan_tf.errors import ConfigError, TrainingError


def read_events(logdir):
    """tag -> [(step, plugin name, value)], oldest first."""
    return {
        tag: [(step, value.metadata.plugin_data.plugin_name, value) for step, value in values]
        for tag, values in read_values(logdir).items()
    }


def state(gan):
    """Every variable of a training state: networks, EMA, both optimizers, step."""
    parts = {
        "generator": gan.generator.variables,
        "discriminator": gan.discriminator.variables,
        "ema_generator": gan.ema_generator.variables,
        "g_optimizer": gan.g_optimizer.variables,
        "d_optimizer": gan.d_optimizer.variables,
        "step": [gan.step_counter],
    }
    return {f"{name}/{i}": v.numpy() for name, vs in parts.items() for i, v in enumerate(vs)}


def assert_same_state(a, b, **tolerance):
    assert a.keys() == b.keys()
    for name in a:
        if tolerance:
            np.testing.assert_allclose(b[name], a[name], err_msg=name, **tolerance)
        else:
            np.testing.assert_array_equal(b[name], a[name], err_msg=name)


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


def kill_after_checkpoint(config, workdir, step):
    """Runs `gan-tf train` with `config` in a real process, SIGKILLs it once the checkpoint
    of `step` is the latest, and returns the step of the newest checkpoint it left."""
    args = [sys.executable, "-m", "gan_tf.cli", "train", "--preset", "smoke"]
    args += [a for assignment in config.assignments() for a in ("--set", assignment)]
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    proc = subprocess.Popen([*args, "--workdir", workdir], env=env, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 300
    latest = None
    while latest is None or not latest.endswith(f"ckpt-{step}"):
        assert proc.poll() is None and time.monotonic() < deadline, "no checkpoint to kill at"
        time.sleep(0.001)
        latest = tf.train.latest_checkpoint(os.path.join(workdir, "checkpoints"))
    proc.send_signal(signal.SIGKILL)
    assert proc.wait() == -signal.SIGKILL
    return int(tf.train.latest_checkpoint(os.path.join(workdir, "checkpoints")).split("-")[-1])


def test_killed_run_resumes_from_its_periodic_checkpoint_to_identical_state(smoke_config, tmp_path):
    # 64 images in batches of 16: data epochs of 4 steps, Keras epochs of 5, checkpoints
    # every 3 steps, so the resumed run starts inside all three.
    cfg = smoke_config.override(
        [
            "data.limit=64",
            "train.steps=24",
            "train.steps_per_epoch=5",
            "train.checkpoint_every=3",
            "train.diffaugment=translation,cutout",
            "export.enabled=false",
        ]
    )
    straight = train.train(cfg, str(tmp_path / "straight"), verbose=0)

    workdir = str(tmp_path / "resumed")
    killed_at = kill_after_checkpoint(cfg, workdir, 9)
    assert 9 <= killed_at < 24
    resumed = train.train(cfg, workdir, verbose=0)
    assert (resumed.start_step, resumed.step) == (killed_at, 24)
    assert_same_state(state(straight.model), state(resumed.model))

    # Rerunning a finished run changes nothing.
    again = train.train(cfg, workdir, verbose=0)
    assert (again.start_step, again.step) == (24, 24)
    assert_same_state(state(straight.model), state(again.model))


def test_resume_skips_a_checkpoint_whose_files_are_missing(smoke_config, tmp_path):
    cfg = smoke_config.override(
        ["train.steps=20", "train.checkpoint_every=10", "export.enabled=false"]
    )
    workdir = tmp_path / "run"
    first = train.train(cfg, str(workdir), verbose=0)
    expected = state(first.model)
    for path in (workdir / "checkpoints").glob("ckpt-20.*"):
        path.unlink()
    assert workdir_lib.load_generator(str(workdir))[2] == 10
    again = train.train(cfg, str(workdir), verbose=0)
    assert (again.start_step, again.step) == (10, 20)
    assert_same_state(expected, state(again.model))

    # A checkpoint whose data file was cut short is passed over the same way.
    (data,) = (workdir / "checkpoints").glob("ckpt-20.data-*")
    data.write_bytes(data.read_bytes()[: data.stat().st_size // 2])
    again = train.train(cfg, str(workdir), verbose=0)
    assert (again.start_step, again.step) == (10, 20)
    assert_same_state(expected, state(again.model))

    # With no complete checkpoint left, the run refuses to start over the old one.
    for path in (workdir / "checkpoints").glob("ckpt-*.data-*"):
        path.unlink()
    before = sorted(p.name for p in (workdir / "checkpoints").iterdir())
    with pytest.raises(TrainingError, match="none is complete: ckpt-20 .missing ckpt-20.data"):
        train.train(cfg, str(workdir), verbose=0)
    assert sorted(p.name for p in (workdir / "checkpoints").iterdir()) == before


def test_workdir_of_another_run_is_refused(smoke_config, tmp_path):
    workdir = str(tmp_path / "run")
    train.train(smoke_config.override(["train.steps=2"]), workdir, verbose=0)
    with pytest.raises(ConfigError, match=r"different configuration \(model\.generator\.width\)"):
        train.train(smoke_config.override(["model.generator.width=4"]), workdir, verbose=0)


# The model section of a config.json written before networks had their own settings: every
# field written out, defaults included (the smoke preset's values).
FLAT_SMOKE_MODEL = {
    "arch": "dcgan",
    "latent_dim": 16,
    "g_width": 16,
    "d_width": 16,
    "kernel_size": 3,
    "d_norm": "batch",
    "g_norm": "batch",
    "upsample": "transpose",
    "spectral_norm": False,
    "embed_dim": 0,
    "mbstd_group": 0,
    "d_hidden": 0,
}


def test_a_run_recorded_in_the_flat_layout_resumes(smoke_config, tmp_path):
    workdir = str(tmp_path / "run")
    train.train(smoke_config.override(["train.steps=2"]), workdir, verbose=0)
    path = os.path.join(workdir, "config.json")
    with open(path) as f:
        recorded = json.load(f)
    recorded["model"] = FLAT_SMOKE_MODEL
    with open(path, "w") as f:
        json.dump(recorded, f)
    resumed = train.train(smoke_config.override(["train.steps=3"]), workdir, verbose=0)
    assert (resumed.start_step, resumed.step) == (2, 3)
    with pytest.raises(ConfigError, match=r"different configuration \(model\.discriminator\.norm"):
        train.train(smoke_config.override(["model.discriminator.norm=layer"]), workdir, verbose=0)


def test_nan_stop_keeps_the_last_good_checkpoint_and_lower_rates_resume(smoke_config, tmp_path):
    base = smoke_config.override(
        [
            "train.optimizer=sgd",
            "train.g_lr=0.01",
            "train.d_lr=0.01",
            "train.steps_per_epoch=4",
            "train.checkpoint_every=1000",
            "export.enabled=false",
        ]
    )
    workdir = str(tmp_path / "nan")
    good = train.train(base.override(["train.steps=4"]), workdir, verbose=0)
    last_good = state(good.model)
    samples = open(good.samples_path, "rb").read()

    explode = base.override(["train.steps=20", "train.g_lr=1e12", "train.d_lr=1e12"])
    with pytest.raises(TrainingError, match=r"non-finite (loss|weights) at step \d+") as info:
        train.train(explode, workdir, verbose=0)
    message = str(info.value)
    assert "last good checkpoint" in message and message.count("ckpt-4") == 1
    assert "lower the learning rates" in message
    checkpoints = os.path.join(workdir, "checkpoints")
    assert tf.train.latest_checkpoint(checkpoints).endswith("ckpt-4")
    assert open(good.samples_path, "rb").read() == samples  # not overwritten

    # The kept checkpoint holds the last good step's values, all finite.
    family = families.for_config(base)
    gan = family.build()
    items = family.checkpoint_items(gan)
    assert Checkpointer(items, family.step_variable(gan), checkpoints).restore() == 4
    kept = state(gan)
    assert all(np.isfinite(v).all() for v in kept.values() if v.dtype.kind == "f")
    assert_same_state(last_good, kept)

    # The advice works: lower learning rates resume from it (and are recorded).
    resumed = train.train(base.override(["train.steps=8", "train.g_lr=0.005"]), workdir, verbose=0)
    assert (resumed.start_step, resumed.step) == (4, 8)
    assert float(resumed.model.g_optimizer.learning_rate) == pytest.approx(0.005)
    assert float(resumed.model.d_optimizer.learning_rate) == pytest.approx(0.01)
    history = json.loads(open(os.path.join(workdir, "config_history.json")).read())
    assert [entry["step"] for entry in history] == [4, 4]
    assert history[1]["changes"]["train.g_lr"] == {"from": 1e12, "to": 0.005}
    assert history[1]["changes"]["train.d_lr"] == {"from": 1e12, "to": 0.01}
    assert json.loads(open(os.path.join(workdir, "config.json")).read())["train"]["g_lr"] == 0.005


def test_fit_plan_splits_on_epoch_boundaries():
    assert train.fit_plan(0, 10, 4) == [(0, 2, 4), (2, 3, 2)]
    assert train.fit_plan(6, 10, 4) == [(1, 2, 2), (2, 3, 2)]
    assert train.fit_plan(5, 17, 4) == [(1, 2, 3), (2, 4, 4), (4, 5, 1)]
    assert train.fit_plan(8, 8, 4) == []


def test_mixed_precision_run_trains_and_exports_float32(smoke_config, tmp_path):
    cfg = smoke_config.override(["train.mixed_precision=true", "train.steps=10"])
    result = train.train(cfg, str(tmp_path / "mp"), verbose=0)
    gan = result.model
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


def straight_and_resumed(config, tmp_path, split, resume_overrides=()):
    """An uninterrupted run of `config`, and one stopped at step `split` and resumed."""
    straight = train.train(config, str(tmp_path / "straight"), verbose=0)
    workdir = str(tmp_path / "resumed")
    train.train(config.override([f"train.steps={split}"]), workdir, verbose=0)
    resumed = train.train(config.override(list(resume_overrides)), workdir, verbose=0)
    assert (resumed.start_step, resumed.step) == (split, config.train.steps)
    return straight, resumed


def test_mixed_precision_resume_restores_the_loss_scale_state(smoke_config, tmp_path):
    cfg = smoke_config.override(
        ["train.mixed_precision=true", "train.steps=8", "train.steps_per_epoch=3"]
    )
    cfg = cfg.override(["export.enabled=false"])
    straight, resumed = straight_and_resumed(cfg, tmp_path, 5)
    for optimizer in (straight.model.g_optimizer, straight.model.d_optimizer):
        names = {v.path.rsplit("/", 1)[-1] for v in optimizer.variables}
        assert {"dynamic_scale", "step_counter"} <= names  # compared by assert_same_state
    assert_same_state(state(straight.model), state(resumed.model))


def test_resume_under_another_strategy(smoke_config, tmp_path):
    # SGD steps under mirrored equal single-device ones to float rounding (Adam would turn
    # the rounding noise in the gradients of biases before a BatchNorm into +-lr steps).
    cfg = smoke_config.override(["train.steps=6", "train.steps_per_epoch=3"])
    cfg = cfg.override(["export.enabled=false", "train.optimizer=sgd", "train.g_lr=0.01"])
    straight, resumed = straight_and_resumed(cfg, tmp_path, 3, ["train.strategy=mirrored"])
    assert resumed.model.distribute_strategy.num_replicas_in_sync == 2
    assert_same_state(state(straight.model), state(resumed.model), rtol=0, atol=1e-5)
    history = json.loads((tmp_path / "resumed" / "config_history.json").read_text())
    assert history[-1]["changes"]["train.strategy"] == {"from": "default", "to": "mirrored"}


def test_one_device_strategy_trains_like_the_default(smoke_config, tmp_path):
    cfg = smoke_config.override(["train.steps=4", "train.steps_per_epoch=2"])
    cfg = cfg.override(["export.enabled=false"])
    default = train.train(cfg, str(tmp_path / "default"), verbose=0)
    one = train.train(cfg.override(["train.strategy=one_device"]), str(tmp_path / "one"), verbose=0)
    assert isinstance(one.model.distribute_strategy, tf.distribute.OneDeviceStrategy)
    assert_same_state(state(default.model), state(one.model))


def test_jit_compile_trains_and_resumes_exactly(smoke_config, tmp_path):
    cfg = smoke_config.override(["train.steps=6", "train.steps_per_epoch=3"])
    cfg = cfg.override(["export.enabled=false", "train.jit_compile=true"])
    straight, resumed = straight_and_resumed(cfg, tmp_path, 3)
    assert straight.model.jit_compile is True
    assert_same_state(state(straight.model), state(resumed.model))
    # XLA compiled the step: its stateless draws and fused kernels change the numbers.
    plain = train.train(cfg.override(["train.jit_compile=false"]), str(tmp_path / "p"), verbose=0)
    assert any(
        not np.array_equal(a, b)
        for a, b in zip(state(plain.model).values(), state(straight.model).values())
    )
