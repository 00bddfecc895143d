"""Every network builds, has the right shapes and round-trips through get_config."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

from gan_tf import networks
from gan_tf.config import Config
from gan_tf.errors import ConfigError
from gan_tf.networks.base import condition

CASES = [
    ("mlp", 28, 1, 0),
    ("mlp", 32, 3, 10),
    ("dcgan", 28, 1, 0),
    ("dcgan", 28, 1, 10),
    ("dcgan", 32, 3, 0),
    ("dcgan", 64, 3, 0),
    ("dcgan", 64, 1, 5),
    ("resnet", 32, 3, 0),
    ("resnet", 32, 3, 10),
    ("resnet", 64, 3, 0),
]


def build(arch, size, channels, classes, **extra):
    cfg = Config().override(
        [
            f"model.arch={arch}",
            f"data.image_size={size}",
            f"data.channels={channels}",
            f"data.num_classes={classes}",
            "model.generator.width=8",
            "model.discriminator.width=8",
            "model.latent_dim=12",
            *[f"{k}={v}" for k, v in extra.items()],
        ]
    )
    return networks.build(cfg)


def inputs_for(net, batch=3):
    return net.dummy_inputs(batch)


@pytest.mark.parametrize("arch, size, channels, classes", CASES)
def test_shapes_and_config_round_trip(arch, size, channels, classes):
    g, d = build(arch, size, channels, classes, **{"model.discriminator.spectral_norm": "true"})
    z = tf.random.normal([3, 12])
    c = condition(tf.constant([0, 1, 2]) % max(classes, 1), classes)
    assert c.shape == (3, classes)
    g_in = (z, c)
    images = g(g_in)
    assert images.shape == (3, size, size, channels)
    assert float(tf.reduce_max(tf.abs(images))) <= 1.0
    logits = d((images, c), training=True)
    assert logits.shape == (3, 1) and logits.dtype == tf.float32

    for net, net_in in ((g, g_in), (d, (images, c))):
        clone = type(net).from_config(net.get_config())
        clone(net_in)
        assert clone.get_config() == net.get_config()
        clone.set_weights(net.get_weights())
        np.testing.assert_allclose(clone(net_in), net(net_in), rtol=1e-5, atol=1e-5)


def test_conditional_generator_depends_on_label():
    g, _ = build("dcgan", 28, 1, 10)
    z = tf.random.normal([1, 12])
    a = g(g.inputs_for(z, [1]))
    b = g(g.inputs_for(z, [7]))
    assert float(tf.reduce_max(tf.abs(a - b))) > 1e-4


def test_projection_discriminator_depends_on_label():
    _, d = build("resnet", 32, 3, 10)
    x = tf.random.uniform([1, 32, 32, 3], -1, 1)

    def c(label):
        return condition(tf.constant([label]), 10)

    d((x, c(0)))
    d.projection.kernel.assign(tf.random.normal(d.projection.kernel.shape))
    assert float(tf.abs(d((x, c(1))) - d((x, c(2))))[0, 0]) > 1e-4


def test_the_condition_is_always_present_and_checked():
    g, _ = build("mlp", 28, 1, 0)
    assert g.inputs_for(tf.zeros([2, 12]))[1].shape == (2, 0)
    with pytest.raises(ValueError, match="pair"):
        g(tf.zeros([1, 12]))
    with pytest.raises(ValueError, match="condition has 10 columns but the network has 0"):
        g((tf.zeros([1, 12]), condition(tf.constant([3]), 10)))
    with pytest.raises(ValueError, match="needs labels"):
        condition(None, 10, 4)


@pytest.mark.parametrize(
    "arch, size, channels, message",
    [
        ("dcgan", 30, 1, "supports image sizes"),
        ("resnet", 28, 1, "supports image sizes"),
        ("dcgan", 28, 2, "channels must be 1 or 3"),
        ("vit", 28, 1, "unknown architecture"),
    ],
)
def test_unsupported_shapes_are_config_errors(arch, size, channels, message):
    with pytest.raises(ConfigError, match=message):
        build(arch, size, channels, 0)


@pytest.mark.parametrize("norm", ["batch", "pixel", "none"])
@pytest.mark.parametrize("upsample", ["transpose", "nearest"])
def test_dcgan_generator_variants(norm, upsample):
    generator, _ = build(
        "dcgan", 28, 1, 0, **{"model.generator.norm": norm, "model.generator.upsample": upsample}
    )
    out = generator(generator.dummy_inputs(3))
    assert out.shape == (3, 28, 28, 1)
    config = generator.get_config()
    assert (config["norm"], config["upsample"]) == (norm, upsample)
    clone = type(generator).from_config(config)
    clone(clone.dummy_inputs(3))
    assert len(clone.variables) == len(generator.variables)
    has_bn = any(
        isinstance(x, tf.keras.layers.BatchNormalization) for x in generator._flatten_layers()
    )
    assert has_bn == (norm == "batch")


@pytest.mark.parametrize("classes", [0, 10])
@pytest.mark.parametrize("norm", ["batch", "layer", "none"])
def test_dcgan_discriminator_hidden_layer(classes, norm):
    settings = {"model.discriminator.width": 8, "model.discriminator.norm": norm}
    _, plain = build("dcgan", 28, 1, classes, **settings)
    _, disc = build("dcgan", 28, 1, classes, **settings, **{"model.discriminator.hidden": 32})
    x = tf.random.stateless_uniform([4, 28, 28, 1], seed=[1, 2], minval=-1.0, maxval=1.0)
    inputs = (x, condition(tf.constant([0, 1, 2, 3]) if classes else None, classes, 4))
    plain(inputs)
    assert disc(inputs, training=True).shape == (4, 1)
    assert disc.feature_dim == 32
    # the hidden layer's weights (+ its norm's) sit between the convolutions and the head
    hidden = 8 * 2 * 7 * 7 * 32 + 32
    head_change = (32 - 8 * 2 * 7 * 7) * (1 + classes)
    extra = {"batch": 4 * 32, "layer": 2 * 32, "none": 0}[norm]
    assert disc.count_params() == plain.count_params() + hidden + head_change + extra
    clone = type(disc).from_config(disc.get_config())
    clone(inputs)
    assert clone.get_config()["hidden"] == 32
    assert clone.count_params() == disc.count_params()


def test_pixel_norm_gives_unit_rms_features():
    from gan_tf.networks.base import PixelNorm

    x = tf.random.stateless_normal([2, 3, 3, 5], seed=[0, 7]) * 4.0
    rms = tf.sqrt(tf.reduce_mean(tf.square(PixelNorm()(x)), axis=-1))
    np.testing.assert_allclose(rms.numpy(), 1.0, rtol=1e-5)


def test_unknown_generator_norm_and_upsampling():
    with pytest.raises(ConfigError, match="unknown generator norm"):
        build("dcgan", 28, 1, 0, **{"model.generator.norm": "group"})
    with pytest.raises(ConfigError, match="unknown upsampling"):
        build("dcgan", 28, 1, 0, **{"model.generator.upsample": "bicubic"})


def test_unknown_discriminator_norm():
    with pytest.raises(ConfigError, match="d_norm|discriminator norm"):
        build("dcgan", 28, 1, 0, **{"model.discriminator.norm": "group"})


@pytest.mark.parametrize("classes", [0, 10])
def test_recomputed_statistics_are_those_of_the_fixed_latents(classes):
    """After the recompute, inference on the fixed latents equals a training-mode pass."""
    from gan_tf import sampling

    generator, _ = build("dcgan", 28, 1, classes)
    generator(generator.dummy_inputs())
    count = 64
    seeds = np.arange(count)
    z = sampling.latents_for_seeds(seeds, generator.latent_dim)
    inputs = generator.inputs_for(z, sampling.labels_for_seeds(seeds, classes))
    stale = generator(inputs, training=False).numpy()
    assert generator.recompute_statistics(count)
    batch_stats = generator(inputs, training=True).numpy()  # momentum is back: stats barely move
    refreshed = generator(inputs, training=False).numpy()
    assert np.abs(stale - batch_stats).max() > 1e-2, "fresh init statistics already match"
    np.testing.assert_allclose(refreshed, batch_stats, atol=2e-5)
    momenta = {
        layer.momentum
        for layer in generator._flatten_layers()
        if isinstance(layer, tf.keras.layers.BatchNormalization)
    }
    assert momenta == {0.99}


def test_networks_without_batch_norm_are_left_alone():
    generator, _ = build("mlp", 28, 1, 0)
    generator(generator.dummy_inputs())
    before = [v.numpy() for v in generator.variables]
    assert generator.recompute_statistics(8) is False
    for a, v in zip(before, generator.variables):
        np.testing.assert_array_equal(a, v.numpy())


def test_minibatch_stddev_against_numpy():
    from gan_tf.networks.base import MinibatchStdDev

    x = np.random.default_rng(0).normal(size=(6, 3, 3, 2)).astype(np.float32)
    out = MinibatchStdDev(3)(tf.constant(x)).numpy()
    np.testing.assert_array_equal(out[..., :2], x)
    for group in range(2):
        members = x[3 * group : 3 * group + 3]
        expected = np.mean(np.sqrt(members.var(axis=0) + 1e-8))
        np.testing.assert_allclose(out[3 * group : 3 * group + 3, ..., 2], expected, rtol=1e-5)
    with pytest.raises(tf.errors.InvalidArgumentError, match="multiple of the group size 4"):
        MinibatchStdDev(4)(tf.constant(x))


def test_discriminator_with_minibatch_stddev_sees_sample_diversity():
    _, d = build("dcgan", 28, 1, 0, **{"model.discriminator.mbstd_group": 4})
    alike = tf.ones([4, 28, 28, 1]) * tf.random.stateless_normal([1, 28, 28, 1], seed=[0, 1])
    varied = tf.random.stateless_normal([4, 28, 28, 1], seed=[0, 2])
    d((varied, tf.zeros([4, 0])))
    assert d.get_config()["mbstd_group"] == 4
    features = {}
    for name, x in (("alike", alike), ("varied", varied)):
        h = x
        for layer in d.blocks:
            h = layer(h)
        features[name] = d.mbstd(h).numpy()[..., -1]
    assert np.all(features["alike"] < 1e-3) and np.all(features["varied"] > 1e-2)


def test_mlp_discriminator_noise_acts_in_training_only():
    from gan_tf.networks.mlp import MLPDiscriminator

    x = tf.random.stateless_uniform([4, 28, 28, 1], seed=[1, 2], minval=-1, maxval=1)
    c = condition(None, 0, 4)
    plain = MLPDiscriminator(28, 1, width=8)
    plain((x, c))
    noisy = MLPDiscriminator(28, 1, width=8, noise=0.5, hidden_noise=0.5)
    noisy((x, c))
    # Without noise, the variables are those the network always had.
    assert [v.path for v in plain.variables if "seed" in v.path] == []
    assert len([v for v in noisy.variables if "seed" in v.path]) == 3  # input + 2 hidden
    for target, source in zip(noisy.trainable_variables, plain.trainable_variables):
        target.assign(source)
    np.testing.assert_allclose(noisy((x, c)), plain((x, c)), atol=1e-6)  # inference: off
    trained = noisy((x, c), training=True)
    assert float(tf.reduce_max(tf.abs(trained - plain((x, c))))) > 1e-3
    restored = MLPDiscriminator.from_config(noisy.get_config())
    assert (restored.noise, restored.hidden_noise) == (0.5, 0.5)


def test_weight_norm_dense_has_unit_norm_columns():
    from gan_tf.networks.mlp import WeightNormDense

    layer = WeightNormDense(3)
    x = np.random.default_rng(0).normal(size=(5, 4)).astype(np.float32)
    layer.build((None, 4))
    v = np.random.default_rng(1).normal(size=(4, 3)).astype(np.float32) * [1.0, 10.0, 0.1]
    layer.direction.assign(v)
    layer.bias.assign([0.5, -1.0, 2.0])
    expected = x @ (v / np.sqrt((v**2).sum(axis=0))) + [0.5, -1.0, 2.0]
    np.testing.assert_allclose(layer(x), expected, rtol=1e-5, atol=1e-6)


def test_weight_norm_dense_initialised_from_data_standardises_its_outputs():
    from gan_tf.networks.mlp import WeightNormDense

    rng = np.random.default_rng(0)
    x = (rng.normal(size=(50, 4)) * [1.0, 3.0, 0.2, 1.0] + [2.0, 0.0, -1.0, 0.5]).astype(np.float32)
    v = rng.normal(size=(4, 3)).astype(np.float32)
    layer = WeightNormDense(3, gain="fixed")
    layer.build((None, 4))
    layer.direction.assign(v)
    out = layer.initialise(x)
    # Salimans & Kingma (2016): g = 1 / sd(t), b = -mean(t) / sd(t), t = x v / ||v||.
    t = x.astype(np.float64) @ (v / np.sqrt((v.astype(np.float64) ** 2).sum(axis=0)))
    mean, sd = t.mean(axis=0), t.std(axis=0)
    np.testing.assert_allclose(layer.gain.numpy(), 1 / sd, rtol=1e-5)
    np.testing.assert_allclose(layer.bias.numpy(), -mean / sd, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(out, (t - mean) / sd, atol=1e-5)
    np.testing.assert_allclose(layer(x), (t - mean) / sd, atol=1e-5)
    assert all(v is not layer.gain for v in layer.trainable_variables)
    trained = WeightNormDense(3, gain="trained")
    trained.build((None, 4))
    assert any(v is trained.gain for v in trained.trainable_variables)
    assert WeightNormDense.from_config(trained.get_config()).gain_kind == "trained"
    plain = WeightNormDense(3)
    plain.build((None, 4))
    assert plain.gain is None and len(plain.variables) == 2
    with pytest.raises(ValueError, match="without a gain"):
        plain.initialise(x)
    with pytest.raises(ConfigError, match="gain 'big'"):
        WeightNormDense(3, gain="big")


def test_mlp_discriminator_data_init_standardises_every_layer_from_its_seed():
    from gan_tf.networks.mlp import MLPDiscriminator, WeightNormDense

    x = tf.random.stateless_uniform([64, 28, 28, 1], seed=[5, 6], minval=-1, maxval=1)
    c = condition(None, 0, 64)
    settings = dict(units="20,10,5", activation="relu", weight_norm=True, data_init=True)
    quiet = MLPDiscriminator(28, 1, **settings)
    quiet((x, c))
    features = quiet.initialise_from_data(x, seed=0)
    np.testing.assert_allclose(quiet.features(x), features, atol=1e-5)
    h, standardised = quiet.flatten(x), 0
    for layer in quiet.hidden:
        h = layer(h)
        if isinstance(layer, WeightNormDense):
            np.testing.assert_allclose(np.mean(h, axis=0), 0, atol=1e-4)
            np.testing.assert_allclose(np.std(h, axis=0), 1, atol=1e-3)
            standardised += 1
    assert standardised == 3
    assert MLPDiscriminator.from_config(quiet.get_config()).data_init

    def gains(seed: int) -> list[np.ndarray]:
        noisy = MLPDiscriminator(28, 1, noise=0.3, hidden_noise=0.5, **settings)
        noisy((x, c))
        for target, source in zip(noisy.trainable_variables, quiet.trainable_variables):
            target.assign(source)
        noisy.initialise_from_data(x, seed=seed)
        return [v.numpy() for v in noisy.non_trainable_variables if "gain" in v.path]

    first, again, other = gains(0), gains(0), gains(1)
    assert len(first) == 3
    for a, b, o in zip(first, again, other):
        np.testing.assert_array_equal(a, b)
        assert not np.allclose(a, o)
    # The noise is part of what is standardised: noisy gains differ from quiet ones.
    assert not np.allclose(first[1], [v.numpy() for v in quiet.variables if "gain" in v.path][1])
    with pytest.raises(ConfigError, match="needs weight_norm=true"):
        MLPDiscriminator(28, 1, data_init=True)
    with pytest.raises(ValueError, match="without data_init"):
        MLPDiscriminator(28, 1, weight_norm=True).initialise_from_data(x, seed=0)


def test_mlp_discriminator_unit_range_sees_images_in_zero_one():
    from gan_tf.networks.mlp import MLPDiscriminator

    x = tf.random.stateless_uniform([3, 28, 28, 1], seed=[3, 4], minval=-1, maxval=1)
    c = condition(None, 0, 3)
    plain = MLPDiscriminator(28, 1, units="6,5", weight_norm=True)
    plain((x, c))
    unit = MLPDiscriminator(28, 1, units="6,5", weight_norm=True, unit_range=True)
    unit((x, c))
    for target, source in zip(unit.trainable_variables, plain.trainable_variables):
        target.assign(source)
    np.testing.assert_allclose(unit.features(x), plain.features((x + 1) / 2), atol=1e-6)
    assert MLPDiscriminator.from_config(unit.get_config()).unit_range


def test_mlp_features_before_noise_skip_only_the_last_hidden_noise():
    from gan_tf.networks.heads import FeatureHead
    from gan_tf.networks.mlp import MLPDiscriminator

    x = tf.random.stateless_uniform([8, 28, 28, 1], seed=[7, 8], minval=-1, maxval=1)
    # One hidden layer and no input noise: before its noise, training changes nothing.
    head = FeatureHead(MLPDiscriminator(28, 1, units="6", hidden_noise=1.0), 3)
    head(x)
    clean = head.features(x, training=False).numpy()
    np.testing.assert_allclose(head.features(x, training=True, before_noise=True), clean)
    assert np.abs(head.features(x, training=True).numpy() - clean).max() > 0.1
    # With two hidden layers, the first layer's noise still acts before the last layer.
    deep = MLPDiscriminator(28, 1, units="6,5", hidden_noise=1.0)
    deep((x, condition(None, 0, 8)))
    assert np.abs(deep.features_before_noise(x, training=True) - deep.features(x)).max() > 0.1
    assert deep.features_before_noise(x, training=True).shape == (8, 5)
    # Without hidden noise, the features before noise are the features.
    quiet = MLPDiscriminator(28, 1, units="6,5")
    quiet((x, condition(None, 0, 8)))
    np.testing.assert_array_equal(quiet.features_before_noise(x), quiet.features(x))


def test_mlp_settings_shape_the_networks():
    from gan_tf.networks.mlp import MLPDiscriminator, MLPGenerator

    d = MLPDiscriminator(28, 1, units="20,10,5", activation="relu", weight_norm=True)
    d((tf.zeros([2, 28, 28, 1]), condition(None, 0, 2)))
    kernels = [v.shape for v in d.trainable_variables if "direction" in v.path]
    assert kernels == [(784, 20), (20, 10), (10, 5)] and d.feature_dim == 5
    g = MLPGenerator(28, 1, latent_dim=4, units="7,9", activation="softplus", norm="batch")
    g(g.dummy_inputs())
    assert [v.shape for v in g.trainable_variables if v.path.endswith("kernel")][:2] == [
        (4, 7),
        (7, 9),
    ]
    assert sum("batch_norm" in v.path or "normalization" in v.path for v in g.variables) == 8
    with pytest.raises(ConfigError, match="discriminator.units='10,x'"):
        MLPDiscriminator(28, 1, units="10,x")
    with pytest.raises(ConfigError, match="activation='tanhh'"):
        MLPGenerator(28, 1, activation="tanhh")
    with pytest.raises(ConfigError, match="weight_norm and spectral_norm"):
        MLPDiscriminator(28, 1, weight_norm=True, spectral_norm=True)


def test_mlp_generator_norm_first_is_softplus_of_batch_norm_without_scale():
    from gan_tf.networks.mlp import MLPGenerator

    g = MLPGenerator(
        28, 1, latent_dim=4, units="6", activation="softplus", norm="batch", norm_first=True
    )
    z = tf.random.stateless_normal([5, 4], seed=[3, 1])
    inputs = (z, condition(None, 0, 5))
    g(inputs)
    dense, bn = g.hidden[0], g.hidden[1]
    assert dense.bias is None and bn.gamma is None  # the norm's offset is the only bias
    bn.beta.assign(tf.constant([0.1, -0.2, 0.3, 0.0, 0.5, -0.4]))
    h = z.numpy() @ dense.kernel.numpy()
    # Training: the batch's own statistics (biased variance), then softplus, then the output.
    normed = (h - h.mean(0)) / np.sqrt(h.var(0) + bn.epsilon) + bn.beta.numpy()
    out = g.out.kernel.numpy()
    expected = np.tanh(np.log1p(np.exp(normed)) @ out + g.out.bias.numpy())
    np.testing.assert_allclose(
        g(inputs, training=True).numpy().reshape(5, -1), expected, rtol=1e-4, atol=1e-5
    )
    with pytest.raises(ConfigError, match="norm_first needs model.generator.norm='batch'"):
        MLPGenerator(28, 1, norm="pixel", norm_first=True)
