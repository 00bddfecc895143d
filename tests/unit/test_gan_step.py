"""The GAN train_step: both networks learn, EMA follows, penalties and conditioning run."""

from __future__ import annotations

import keras
import numpy as np
import pytest
import tensorflow as tf

from gan_tf import train
from gan_tf.config import Config
from gan_tf.errors import ConfigError
from gan_tf.families.gan import LinearDecay, build_gan, optimizers


def make_gan(*overrides):
    cfg = Config().override(
        [
            "model.arch=dcgan",
            "model.generator.width=4",
            "model.discriminator.width=4",
            "model.latent_dim=8",
            "train.seed=1",
            *overrides,
        ]
    )
    return build_gan(cfg), cfg


def batch(cfg, n=8):
    x = tf.random.stateless_uniform([n, 28, 28, 1], seed=[1, 2], minval=-1, maxval=1)
    if cfg.data.num_classes:
        return (x, tf.range(n) % cfg.data.num_classes)
    return x


def snapshot(model):
    return [v.numpy().copy() for v in model.trainable_variables]


def changed(before, model):
    return max(
        float(np.abs(b - v.numpy()).max()) for b, v in zip(before, model.trainable_variables)
    )


@pytest.mark.parametrize(
    "overrides",
    [
        (),
        (
            "loss.name=wasserstein",
            "loss.gp_weight=10",
            "model.discriminator.norm=layer",
            "train.d_steps=2",
        ),
        (
            "loss.name=hinge",
            "loss.r1_gamma=1.0",
            "model.discriminator.norm=none",
            "train.diffaugment=color,translation,cutout",
        ),
        ("data.num_classes=10", "loss.name=least_squares"),
        (
            "model.arch=resnet",
            "data.image_size=32",
            "data.channels=3",
            "model.discriminator.spectral_norm=true",
        ),
    ],
    ids=["ns", "wgan-gp", "hinge-r1-diffaug", "cgan-lsgan", "resnet-sn"],
)
def test_one_step_changes_both_networks(overrides):
    gan, cfg = make_gan(*overrides)
    g0, d0, e0 = snapshot(gan.generator), snapshot(gan.discriminator), snapshot(gan.ema_generator)
    size, ch = cfg.data.image_size, cfg.data.channels
    x = tf.random.stateless_uniform([8, size, size, ch], seed=[1, 2], minval=-1, maxval=1)
    data = (x, tf.range(8) % cfg.data.num_classes) if cfg.data.num_classes else x
    logs = gan.train_step(data)
    assert changed(g0, gan.generator) > 0
    assert changed(d0, gan.discriminator) > 0
    assert changed(e0, gan.ema_generator) > 0, "the EMA generator follows the generator"
    assert int(gan.step.numpy()) == 1
    assert int(gan.d_optimizer.iterations.numpy()) == cfg.train.d_steps
    for name, value in logs.items():
        assert np.isfinite(float(value)), name
    if cfg.loss.gp_weight:
        assert "gp" in logs
    if cfg.loss.r1_gamma:
        assert "r1" in logs


def test_ema_with_zero_decay_copies_the_generator():
    gan, cfg = make_gan("train.ema_decay=0.0")
    gan.train_step(batch(cfg))
    for e, g in zip(gan.ema_generator.variables, gan.generator.variables):
        np.testing.assert_array_equal(e.numpy(), g.numpy())


def test_ema_is_a_moving_average():
    gan, cfg = make_gan("train.ema_decay=0.5")
    before_ema = snapshot(gan.ema_generator)
    gan.train_step(batch(cfg))
    # Step 0: decay = min(0.5, 1/10) = 0.1.
    for b, e, g in zip(
        before_ema, gan.ema_generator.trainable_variables, gan.generator.trainable_variables
    ):
        np.testing.assert_allclose(e.numpy(), 0.1 * b + 0.9 * g.numpy(), rtol=1e-5, atol=1e-6)


def test_generator_update_uses_the_mean_per_example_loss():
    """With SGD the generator moves by exactly lr * grad(mean per-example loss)."""
    gan, cfg = make_gan("train.optimizer=sgd", "train.g_lr=0.1", "train.d_lr=0.0")
    g_vars = gan.generator.trainable_variables
    start = [v.numpy().copy() for v in gan.generator.variables]
    gan.train_step(batch(cfg))
    after = [v.numpy().copy() for v in g_vars]
    for v, value in zip(gan.generator.variables, start):
        v.assign(value)
    # The step's generator latents: stream g_latents at step 0, drawn for the global batch.
    z = gan._global_draw("normal", tf.constant(8), 8, tf.constant(0, tf.int64), "g_latents")
    with tf.GradientTape() as tape:
        fake = gan.generator(gan.generator.inputs_for(z), training=True)
        logits = gan.discriminator((fake, tf.zeros([8, 0])), training=True)
        loss = tf.reduce_mean(gan.loss_family.generator(logits))
    grads = tape.gradient(loss, g_vars)
    for v, a, g in zip(g_vars, after, grads):
        np.testing.assert_allclose(a, v.numpy() - 0.1 * g.numpy(), rtol=1e-4, atol=1e-6)


def test_conditional_gan_requires_labels():
    gan, cfg = make_gan("data.num_classes=10")
    with pytest.raises(ValueError, match="labels"):
        gan.train_step(tf.zeros([4, 28, 28, 1]))


def test_metrics_are_the_loss_trackers():
    gan, _ = make_gan("loss.gp_weight=1", "model.discriminator.norm=none")
    assert [m.name for m in gan.metrics] == ["d_loss", "g_loss", "d_real", "d_fake", "gp"]
    assert all(isinstance(m, keras.metrics.Mean) for m in gan.metrics)


def test_gradient_penalty_with_batchnorm_critic_is_refused():
    from gan_tf.errors import ConfigError

    with pytest.raises(ConfigError, match="without batch norm"):
        train.validate(Config().override(["loss.r1_gamma=1", "model.discriminator.norm=batch"]))


def test_no_two_draws_of_adjacent_steps_share_a_seed(monkeypatch):
    """Every stateless draw of steps 0 and 1 (8 critic passes, GP, DiffAugment) is distinct."""
    from gan_tf import streams

    seen = []
    real_seed = streams.stream_seed

    def spy(seed, step, purpose, index=0):
        value = real_seed(seed, step, purpose, index)
        seen.append((int(step), purpose, index, tuple(value.numpy().tolist())))
        return value

    monkeypatch.setattr(streams, "stream_seed", spy)
    gan, cfg = make_gan(
        "loss.name=wasserstein",
        "loss.gp_weight=10",
        "model.discriminator.norm=layer",
        "train.d_steps=8",
        "train.diffaugment=color,translation,cutout",
    )
    gan.train_step(batch(cfg))
    gan.train_step(batch(cfg))
    # Per step: 8 passes x (latents, real aug, fake aug, GP weights) + G latents + G aug.
    assert len(seen) == 2 * (8 * 4 + 2)
    seeds = [s for *_, s in seen]
    assert len(set(seeds)) == len(seeds), "two draws share a seed"
    assert {step for step, *_ in seen} == {0, 1}


@pytest.mark.parametrize("d_steps", range(1, 9))
def test_stream_keys_are_distinct_across_adjacent_steps(d_steps):
    from gan_tf import streams

    keys = [
        int(streams.stream_key(step, purpose, k))
        for step in (0, 1, 2, 1000, 1001)
        for purpose in streams.PURPOSES
        for k in range(d_steps)
    ]
    assert len(set(keys)) == len(keys)
    # Purpose 0 is reserved: the serving latents' (seed, 0) is never a training seed.
    assert 0 not in keys and 2**31 - 1 not in keys


def test_stream_arguments_are_checked():
    from gan_tf import streams
    from gan_tf.errors import ConfigError

    with pytest.raises(ValueError, match="unknown random stream"):
        streams.stream_key(0, "latents")
    with pytest.raises(ValueError, match="out of range"):
        streams.stream_key(0, "d_latents", streams.MAX_PASSES)
    with pytest.raises(ConfigError, match="d_steps must be at most 64"):
        train.validate(Config().override(["train.d_steps=65"]))
    with pytest.raises(ConfigError, match="reuse_fakes needs train.d_steps=1"):
        train.validate(Config().override(["train.reuse_fakes=true", "train.d_steps=2"]))


def test_reused_fakes_give_both_networks_the_gradients_at_the_current_weights():
    """With SGD, one reuse_fakes step moves D and G by lr * their gradients at the start."""
    gan, cfg = make_gan(
        "train.optimizer=sgd", "train.g_lr=0.1", "train.d_lr=0.05", "train.reuse_fakes=true"
    )
    x = batch(cfg)
    g_vars, d_vars = gan.generator.trainable_variables, gan.discriminator.trainable_variables
    start = [v.numpy().copy() for v in gan.generator.variables + gan.discriminator.variables]
    gan.train_step(x)
    after_g = [v.numpy().copy() for v in g_vars]
    after_d = [v.numpy().copy() for v in d_vars]
    for v, value in zip(gan.generator.variables + gan.discriminator.variables, start):
        v.assign(value)
    z = gan._global_draw("normal", tf.constant(8), 8, tf.constant(0, tf.int64), "d_latents")
    with tf.GradientTape(persistent=True) as tape:
        c = tf.zeros([8, 0])
        fake = gan.generator((z, c), training=True)
        real_logits = gan.discriminator((x, c), training=True)
        fake_logits = gan.discriminator((fake, c), training=True)
        d_loss = tf.reduce_mean(gan.loss_family.discriminator(real_logits, fake_logits))
        g_loss = tf.reduce_mean(gan.loss_family.generator(fake_logits))
    for vars_, after, loss, lr in ((g_vars, after_g, g_loss, 0.1), (d_vars, after_d, d_loss, 0.05)):
        for v, a, g in zip(vars_, after, tape.gradient(loss, vars_)):
            np.testing.assert_allclose(a, v.numpy() - lr * g.numpy(), rtol=1e-4, atol=1e-6)
    assert int(gan.g_optimizer.iterations.numpy()) == int(gan.d_optimizer.iterations.numpy()) == 1


def test_linear_learning_rate_decay():
    sched = LinearDecay(2e-4, start=50, end=100)
    got = [float(sched(s)) for s in (0, 50, 75, 100, 120)]
    np.testing.assert_allclose(got, [2e-4, 2e-4, 1e-4, 0.0, 0.0], rtol=1e-6, atol=1e-12)
    gan, cfg = make_gan("train.lr_decay_start=0.5", "train.steps=100", "train.d_steps=2")
    # The critic updates twice per step: its schedule runs over twice the updates.
    d_sched = gan.d_optimizer._learning_rate
    assert (d_sched.start, d_sched.end) == (100, 200)
    assert (gan.g_optimizer._learning_rate.start, gan.g_optimizer._learning_rate.end) == (50, 100)
    gan.g_optimizer.iterations.assign(75)
    np.testing.assert_allclose(float(gan.g_optimizer.learning_rate), 1e-4, rtol=1e-6)
    constant, _ = make_gan()
    np.testing.assert_allclose(float(constant.g_optimizer.learning_rate), 2e-4, rtol=1e-6)


def test_each_network_steps_with_its_own_adam_epsilon():
    """One Adam step against the update written out: m = (1 - b1) g, v = (1 - b2) g^2,
    w -= lr sqrt(1 - b2) / (1 - b1) * m / (sqrt(v) + epsilon)."""
    _, cfg = make_gan(
        "train.g_lr=0.1",
        "train.d_lr=0.05",
        "train.g_adam_epsilon=0.02",
        "train.d_adam_epsilon=3e-4",
    )
    g_optimizer, d_optimizer = optimizers(cfg, (1, 1), "float32")
    grad = np.array([1e-1, 1e-2, 1e-3, 1e-4, 1e-5], np.float32)
    b1, b2 = 0.5, 0.999
    for optimizer, lr, epsilon in ((g_optimizer, 0.1, 0.02), (d_optimizer, 0.05, 3e-4)):
        w = tf.Variable(np.zeros(5, np.float32))
        optimizer.apply_gradients([(tf.constant(grad), w)])
        m, v = (1 - b1) * grad, (1 - b2) * grad.astype(np.float64) ** 2
        want = -lr * np.sqrt(1 - b2) / (1 - b1) * m / (np.sqrt(v) + epsilon)
        np.testing.assert_allclose(w.numpy(), want, rtol=1e-5)
    with pytest.raises(ConfigError, match="train.g_adam_epsilon must be positive, got 0.0"):
        train.validate(Config().override(["train.g_adam_epsilon=0"]))
    with pytest.raises(ConfigError, match="train.d_adam_epsilon must be positive, got -1.0"):
        train.validate(Config().override(["train.d_adam_epsilon=-1"]))


def test_lazy_r1_is_r1_times_every_on_its_steps_and_absent_between():
    """With SGD the discriminator's update shows the penalty's weight exactly: lazy R1
    (gamma 2, every 3) updates as R1 with gamma 6 on steps 0 and 3, as no R1 on 1 and 2."""
    common = ("train.optimizer=sgd", "train.d_lr=0.5", "train.g_lr=0.1", "train.ema_decay=0")
    lazy, cfg = make_gan(*common, "loss.r1_gamma=2", "loss.r1_every=3")
    start = [v.numpy().copy() for v in lazy.variables]
    references = {
        "every step": make_gan(*common, "loss.r1_gamma=6")[0],
        "none": make_gan(*common)[0],
    }
    expected = ["every step", "none", "none", "every step"]
    # Traced, as `fit` runs it: the skipped branch is a graph conditional.
    lazy_step = tf.function(lazy.train_step)
    steps = {name: tf.function(model.train_step) for name, model in references.items()}
    r1_logs = []
    for step, which in enumerate(expected):
        ref = references[which]
        for v, value in zip(ref.variables, [v.numpy() for v in lazy.variables]):
            v.assign(value)
        x = tf.random.stateless_uniform([8, 28, 28, 1], seed=[step, 7], minval=-1, maxval=1)
        logs = lazy_step(x)
        steps[which](x)
        r1_logs.append(float(logs["r1"]))
        for a, b in zip(lazy.discriminator.variables, ref.discriminator.variables):
            np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-5, atol=1e-6, err_msg=which)
    assert max(float(np.abs(a - v.numpy()).max()) for a, v in zip(start, lazy.variables)) > 0
    # The log averages the steps that computed R1 (steps 0 and 3), not the zeros between.
    assert r1_logs[1] == r1_logs[2] == r1_logs[0] > 0
    with pytest.raises(ConfigError, match="r1_every must be >= 1"):
        train.validate(Config().override(["loss.r1_gamma=1", "loss.r1_every=0"]))
