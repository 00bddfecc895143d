"""SGD steps under MirroredStrategy (2 logical CPUs) equal the single-device steps."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf
from mirrored_parity import fit_batches

from gan_tf import distribute, presets
from gan_tf.families.gan import build_gan

CASES = {
    "batchnorm": ["model.discriminator.norm=batch"],
    "spectral_norm": ["model.discriminator.norm=none", "model.discriminator.spectral_norm=true"],
    "wgan_gp": [
        "loss.name=wasserstein",
        "loss.gp_weight=10",
        "model.discriminator.norm=layer",
        "train.d_steps=2",
    ],
    "cgan_diffaugment": ["data.num_classes=10", "train.diffaugment=color,translation,cutout"],
    "reuse_fakes_diffaugment": ["train.reuse_fakes=true", "train.diffaugment=translation"],
    "minibatch_stddev": ["model.discriminator.mbstd_group=2", "model.discriminator.norm=none"],
    "r1_hinge": ["loss.name=hinge", "loss.r1_gamma=5", "model.discriminator.norm=layer"],
    "resnet_sn": [
        "model.arch=resnet",
        "data.image_size=32",
        "data.channels=3",
        "model.discriminator.spectral_norm=true",
        "model.discriminator.norm=none",
    ],
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_mirrored_steps_equal_single_device_steps(case):
    config = presets.smoke().override(
        [
            "train.optimizer=sgd",
            "train.g_lr=0.05",
            "train.d_lr=0.05",
            "train.ema_decay=0.5",
            # The 1e-5 bound is for these sizes: rounding grows with the width.
            "model.generator.width=8",
            "model.discriminator.width=8",
            *CASES[case],
        ]
    )
    d = config.data
    x = tf.random.stateless_uniform(
        [2, 8, d.image_size, d.image_size, d.channels], seed=[1, 2], minval=-1, maxval=1
    )
    labels = tf.constant([[3, 1, 4, 1, 5, 9, 2, 6], [5, 3, 5, 8, 9, 7, 9, 3]])
    data = (x, labels) if d.num_classes else x

    single, start, single_logs = fit_batches(tf.distribute.get_strategy(), config, data)
    mirrored_strategy = distribute.get_strategy("mirrored")
    assert mirrored_strategy.num_replicas_in_sync == 2
    mirrored, _, mirrored_logs = fit_batches(mirrored_strategy, config, data, init=start)

    before = dict(zip([v.path for v in single.variables], start))
    moved = max(float(np.abs(before[v.path] - v.numpy()).max()) for v in single.generator.variables)
    assert moved > 1e-4, "the step must move the weights for the comparison to mean anything"
    for name in ("generator", "discriminator", "ema_generator"):
        for a, b in zip(getattr(single, name).variables, getattr(mirrored, name).variables):
            np.testing.assert_allclose(b.numpy(), a.numpy(), rtol=0, atol=1e-5, err_msg=name)
    # Logged losses are global means, identical to the single-device run.
    for key, values in single_logs.items():
        np.testing.assert_allclose(mirrored_logs[key], values, rtol=1e-5, atol=1e-5, err_msg=key)


STYLE_CASES = {
    "style_mixing": [],
    # Steps 5 and 6 of a 4-step stage and 4-step fade: the first fade, a quarter and half in.
    "progressive_mid_fade": [
        "progressive.stage_steps=4",
        "progressive.fade_steps=4",
        "model.generator.progressive=true",
        "model.discriminator.progressive=true",
    ],
}


@pytest.mark.parametrize("case", sorted(STYLE_CASES))
def test_mirrored_stylegan_steps_equal_single_device_steps(case):
    """The stylegan family's steps: style mixing, noise and w_avg draws and updates, and
    the level of detail, on 2 replicas as on one (SGD, so a wrong gradient scale shows)."""
    from gan_tf import families

    config = presets.stylegan_smoke().override(
        [
            "train.optimizer=sgd",
            "train.g_lr=0.05",
            "train.d_lr=0.05",
            "train.ema_decay=0.5",
            "model.generator.w_avg_decay=0.5",
            *STYLE_CASES[case],
        ]
    )

    def build(config):
        model = families.for_config(config).build()
        model.step_counter.assign(5)
        return model

    x = tf.random.stateless_uniform([2, 8, 28, 28, 1], seed=[1, 2], minval=-1, maxval=1)
    single, start, single_logs = fit_batches(tf.distribute.get_strategy(), config, x, build=build)
    mirrored, _, mirrored_logs = fit_batches(
        distribute.get_strategy("mirrored"), config, x, init=start, build=build
    )
    g = single.generator
    assert g.mixing_prob == 0.9
    before = dict(zip([v.path for v in single.variables], start))
    assert float(np.abs(before[g.w_avg.path] - g.w_avg.numpy()).max()) > 1e-4
    if g.progressive:
        np.testing.assert_allclose(float(g.lod.numpy()), 1.5)  # the last step's, step 6
    for name in ("generator", "discriminator", "ema_generator"):
        for a, b in zip(getattr(single, name).variables, getattr(mirrored, name).variables):
            np.testing.assert_allclose(b.numpy(), a.numpy(), rtol=0, atol=1e-5, err_msg=a.path)
    for key, values in single_logs.items():
        np.testing.assert_allclose(mirrored_logs[key], values, rtol=1e-5, atol=1e-5, err_msg=key)


def test_batch_size_must_split_over_replicas():
    from gan_tf.errors import ConfigError

    with pytest.raises(ConfigError, match="does not split evenly over 2 replicas"):
        distribute.check_batch_size(7, distribute.get_strategy("mirrored"))


def test_multi_worker_needs_tf_config(monkeypatch):
    from gan_tf.errors import ConfigError

    monkeypatch.delenv("TF_CONFIG", raising=False)
    with pytest.raises(ConfigError, match="needs TF_CONFIG"):
        distribute.get_strategy("multi_worker")
    monkeypatch.setenv("TF_CONFIG", "{not json")
    with pytest.raises(ConfigError, match="not a valid cluster spec"):
        distribute.get_strategy("multi_worker")


def test_mirrored_encoder_steps_equal_single_device_steps():
    """The anomaly family's encoder steps (SGD, so a wrong gradient scale shows)."""
    import keras

    from gan_tf.models.anomaly import AnomalyGAN
    from gan_tf.networks import build_encoder

    config = presets.anomaly_mnist().override(
        [
            "train.steps=4",
            "anomaly.encoder_steps=2",
            "model.generator.width=8",
            "model.discriminator.width=8",
            "model.encoder.width=8",
        ]
    )

    def build(config):
        def make(generator, discriminator, **settings):
            return AnomalyGAN(generator, discriminator, build_encoder(config), 2, 1.0, **settings)

        model = build_gan(config, make, e_optimizer=keras.optimizers.SGD(0.5))
        model.step_counter.assign(2)
        return model

    def enter_encoder_phase(model):
        model.set_phase(2)  # copies the (now shared) EMA weights into the frozen generator

    x = tf.random.stateless_uniform([2, 8, 28, 28, 1], seed=[1, 2], minval=-1, maxval=1)
    single, start, single_logs = fit_batches(
        tf.distribute.get_strategy(), config, x, build=build, prepare=enter_encoder_phase
    )
    mirrored, _, mirrored_logs = fit_batches(
        distribute.get_strategy("mirrored"),
        config,
        x,
        init=start,
        build=build,
        prepare=enter_encoder_phase,
    )
    moved = max(float(np.abs(a - v.numpy()).max()) for a, v in zip(start, single.variables))
    assert moved > 1e-4
    for a, b in zip(single.variables, mirrored.variables):
        np.testing.assert_allclose(b.numpy(), a.numpy(), rtol=0, atol=1e-5, err_msg=a.path)
    np.testing.assert_allclose(mirrored_logs["e_loss"], single_logs["e_loss"], rtol=1e-5)
