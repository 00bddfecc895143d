"""The `stylegan` family: its step, tracked average w, truncation, style mixing, checkpoints."""

from __future__ import annotations

import keras
import numpy as np
import pytest
import tensorflow as tf

from gan_tf import checkpoint, families, presets, streams
from gan_tf.checkpoint import Checkpointer
from gan_tf.errors import ConfigError


def small_config(*overrides: str):
    return presets.stylegan_smoke().override(list(overrides))


def build(*overrides: str):
    family = families.for_config(small_config(*overrides))
    family.validate()
    return family, family.build()


def images(seed: int = 1) -> tf.Tensor:
    return tf.random.stateless_uniform([8, 28, 28, 1], seed=[seed, 2], minval=-1, maxval=1)


def fit(model, steps: int, batches=None) -> None:
    batches = images() if batches is None else batches
    model.fit(tf.data.Dataset.from_tensors(batches).repeat(), steps_per_epoch=steps, verbose=0)


def test_one_step_changes_every_network():
    _, model = build()
    before = {v.path: v.numpy().copy() for v in model.variables}
    fit(model, 1)
    g = model.generator
    for net in (g, model.discriminator, model.ema_generator):
        for v in net.trainable_variables:
            assert not np.array_equal(v.numpy(), before[v.path]), f"{v.path} did not move"
    # The mapping network and the noise strengths (which start at 0) are among them.
    assert g.mapping and all(abs(float(layer.noise_strength)) > 0 for layer in _layers(g))
    assert not np.array_equal(g.w_avg.numpy(), before[g.w_avg.path])
    np.testing.assert_array_equal(model.ema_generator.w_avg.numpy(), g.w_avg.numpy())


def test_xla_compiles_the_step_with_lazy_r1_and_minibatch_stddev():
    """XLA once failed on this step: the gradient of minibatch stddev's `tf.tile` inside
    lazy R1's `tf.cond`, under the second-order tape. Two steps: one with R1, one without."""
    overrides = (
        "loss.r1_gamma=10",
        "loss.r1_every=2",
        "train.diffaugment=",
        "train.jit_compile=true",
    )
    _, model = build(*overrides)
    assert model.jit_compile is True and model.discriminator.mbstd is not None
    before = [v.numpy().copy() for v in model.discriminator.trainable_variables]
    history = keras.callbacks.History()
    model.fit(
        tf.data.Dataset.from_tensors(images()).repeat(),
        steps_per_epoch=1,
        epochs=2,
        verbose=0,
        callbacks=[history],
    )
    r1 = history.history["r1"]
    assert r1[0] > 0 and r1[1] == 0  # the penalty on step 0 only
    for a, v in zip(before, model.discriminator.trainable_variables):
        assert np.all(np.isfinite(v.numpy())) and not np.array_equal(a, v.numpy()), v.path


def _layers(g):
    return [layer for level in g.layers_by_level for layer in level]


def test_w_avg_is_the_moving_average_of_the_batch_mean_w():
    decay = 0.5
    _, model = build(f"model.generator.w_avg_decay={decay}")
    g = model.generator
    c = tf.zeros([8, 0])

    def batch_mean_w(purpose: str) -> np.ndarray:
        seed = streams.stream_seed(model.seed, 0, purpose)
        z = tf.random.stateless_normal([8, 8], seed=seed)
        return g.styles((z, c)).numpy().mean(axis=0)

    # Both mapping passes of step 0 (the discriminator's, then the generator update's) see
    # the initial mapping weights: G changes only after its pass.
    m_d, m_g = batch_mean_w("d_latents"), batch_mean_w("g_latents")
    fit(model, 1)
    after_d = m_d + decay * (0.0 - m_d)
    expected = m_g + decay * (after_d - m_g)
    np.testing.assert_allclose(g.w_avg.numpy(), expected, rtol=1e-5, atol=1e-6)


def test_truncation_zero_gives_the_average_w_image_for_every_seed():
    _, model = build()
    g = model.generator
    g.w_avg.assign(tf.random.stateless_normal([8], seed=[3, 4]))
    z = tf.random.stateless_normal([5, 8], seed=[5, 6])
    c = tf.zeros([5, 0])
    out = g.synthesize(g.broadcast(g.truncate(g.styles((z, c)), 0.0))).numpy()
    reference = g.synthesize(g.broadcast(g.w_avg[None])).numpy()[0]
    for image in out:
        np.testing.assert_allclose(image, reference, atol=1e-6)
    # psi = 1 leaves w alone, and psi lerps linearly in between.
    w = g.styles((z, c))
    np.testing.assert_allclose(g.truncate(w, 1.0), w, atol=1e-6)
    half = g.truncate(w, tf.fill([5], 0.5))
    np.testing.assert_allclose(half, 0.5 * (w + g.w_avg[None]), atol=1e-6)


def test_style_mixing_crossover():
    _, model = build()
    g = model.generator
    c = tf.zeros([3, 0])
    w_a = g.styles((tf.random.stateless_normal([3, 8], seed=[1, 1]), c))
    w_b = g.styles((tf.random.stateless_normal([3, 8], seed=[2, 2]), c))
    plain = g.synthesize(g.broadcast(w_a)).numpy()
    beyond = g.synthesize(g.mix(w_a, w_b, tf.fill([3], g.num_ws))).numpy()
    np.testing.assert_array_equal(beyond, plain)
    np.testing.assert_array_equal(
        g.synthesize(g.mix(w_a, w_b, tf.zeros([3], tf.int32))).numpy(),
        g.synthesize(g.broadcast(w_b)).numpy(),
    )
    ws = g.mix(w_a, w_b, tf.constant([0, 2, 6])).numpy()
    for i, cut in enumerate([0, 2, 6]):
        for layer in range(g.num_ws):
            expected = w_a[i] if layer < cut else w_b[i]
            np.testing.assert_array_equal(ws[i, layer], expected)


@pytest.mark.parametrize("crossover", [-1, 7])
def test_crossover_out_of_range_is_a_clear_error(crossover):
    _, model = build()
    g = model.generator
    assert g.num_ws == 6
    w = tf.zeros([1, 8])
    with pytest.raises(tf.errors.InvalidArgumentError, match="crossover must be"):
        g.mix(w, w, tf.constant([crossover]))


@pytest.mark.parametrize("psi", [-0.5, float("nan"), float("inf")])
def test_bad_truncation_is_a_clear_error(psi):
    _, model = build()
    with pytest.raises(tf.errors.InvalidArgumentError, match="truncation"):
        model.generator.truncate(tf.zeros([2, 8]), tf.constant([1.0, psi]))


@pytest.mark.parametrize(
    "overrides, message",
    [
        (["model.generator.mixing_prob=1.5"], "mixing_prob"),
        (["model.family=gan"], "not an architecture of the gan family"),
        (["progressive.stage_steps=10"], "model.generator.progressive=true"),
        (["progressive.stage_steps=-1"], "must be >= 0"),
    ],
)
def test_bad_settings_are_clear_errors(overrides, message):
    with pytest.raises(ConfigError, match=message):
        family = families.for_config(small_config(*overrides))
        family.validate()
        family.build()


def test_dcgan_is_not_a_stylegan_architecture():
    config = presets.dcgan_mnist().override(["model.family=stylegan"])
    with pytest.raises(ConfigError, match="not an architecture of the stylegan family"):
        families.for_config(config).validate()


def test_checkpoint_round_trip_by_name(tmp_path):
    family, model = build()
    fit(model, 2)
    items = family.checkpoint_items(model)
    assert "w_avg" in items
    Checkpointer(items, model.step_counter, str(tmp_path), 2).save()

    _, fresh = build()
    assert not np.array_equal(fresh.ema_generator.w_avg.numpy(), model.ema_generator.w_avg.numpy())
    step = checkpoint.restore_items(family.checkpoint_items(fresh), str(tmp_path))
    assert step == 2
    for name in ("generator", "discriminator", "ema_generator"):
        for a, b in zip(getattr(model, name).variables, getattr(fresh, name).variables):
            np.testing.assert_array_equal(b.numpy(), a.numpy(), err_msg=f"{name}: {a.path}")
    # w_avg alone, by its name.
    alone = keras.Variable(tf.zeros([8]))
    checkpoint.restore_items({"w_avg": alone}, str(tmp_path))
    np.testing.assert_array_equal(alone.numpy(), model.ema_generator.w_avg.numpy())
    # The restored model trains on exactly as the original.
    fit(model, 1, images(2))
    fit(fresh, 1, images(2))
    for a, b in zip(model.variables, fresh.variables):
        np.testing.assert_array_equal(b.numpy(), a.numpy(), err_msg=a.path)


@pytest.mark.parametrize("demodulate", [True, False])
def test_modulated_convolution_equals_the_per_example_weight_convolution(demodulate):
    """The non-fused layer against the definition: convolve each example with its own
    weight `kernel * s` (divided by its norm when demodulating), computed in numpy."""
    from gan_tf.networks.stylegan import ModulatedConv2D

    layer = ModulatedConv2D(3, 4, 3, demodulate=demodulate)
    rng = np.random.default_rng(0)
    x = rng.normal(size=[2, 5, 5, 3]).astype(np.float32)
    w = rng.normal(size=[2, 6]).astype(np.float32)
    got = layer((tf.constant(x), tf.constant(w))).numpy()
    affine_kernel, affine_bias = (v.numpy() for v in layer.affine.weights)
    s = w @ affine_kernel + affine_bias  # [2, 3]
    for i in range(2):
        weight = layer.kernel.numpy() * s[i][None, None, :, None]
        if demodulate:
            weight = weight / np.sqrt((weight**2).sum(axis=(0, 1, 2)) + 1e-8)
        expected = tf.nn.conv2d(x[i : i + 1], weight, 1, "SAME").numpy()
        np.testing.assert_allclose(got[i : i + 1], expected, rtol=1e-4, atol=1e-5)


def test_scaled_dense_equals_its_definition_and_moves_lr_mul_times_as_fast():
    """Output against numpy (`x @ (kernel * lr_mul / sqrt(fan_in)) + bias * lr_mul`), the
    initial effective weights' spread, and one Adam step: every stored parameter moves by the
    learning rate (first step: m / sqrt(v) = sign(g)), so the effective kernel moves by
    `lr * lr_mul / sqrt(fan_in)` and the effective bias by `lr * lr_mul`."""
    from gan_tf.networks.stylegan import ScaledDense

    fan_in, lr_mul, lr = 64, 0.01, 1e-3
    layer = ScaledDense(32, lr_mul)
    rng = np.random.default_rng(0)
    x = tf.constant(rng.normal(size=[16, fan_in]).astype(np.float32))
    layer(x)
    layer.bias.assign(rng.normal(size=[32]).astype(np.float32))
    kernel, bias = layer.kernel.numpy(), layer.bias.numpy()
    np.testing.assert_allclose(
        layer(x).numpy(),
        x.numpy() @ (kernel * lr_mul / fan_in**0.5) + bias * lr_mul,
        rtol=1e-5,
        atol=1e-5,
    )
    assert np.std(kernel * lr_mul) == pytest.approx(1.0, rel=0.05)  # N(0, 1/fan_in) effective
    optimizer = keras.optimizers.Adam(lr, epsilon=1e-12)
    with tf.GradientTape() as tape:
        loss = tf.reduce_sum(tf.sin(layer(x)))
    optimizer.apply_gradients(
        zip(tape.gradient(loss, layer.trainable_variables), [layer.kernel, layer.bias])
    )
    # rtol 1e-2: stored kernels are ~N(0, 100²), whose float32 spacing (up to 7.6e-6) is
    # 0.8% of the 1e-3 step.
    np.testing.assert_allclose(
        np.abs(layer.kernel.numpy() - kernel) * lr_mul / fan_in**0.5,
        lr * lr_mul / fan_in**0.5,
        rtol=1e-2,
    )
    np.testing.assert_allclose(np.abs(layer.bias.numpy() - bias) * lr_mul, lr * lr_mul, rtol=1e-3)
    with pytest.raises(ConfigError, match="must be > 0"):
        ScaledDense(4, 0.0)


def test_mapping_lr_mul_selects_scaled_layers():
    from gan_tf.networks.stylegan import ScaledDense

    _, plain = build()
    _, scaled = build("model.generator.mapping_lr_mul=0.01")
    assert not any(isinstance(layer, ScaledDense) for layer in plain.generator.mapping)
    assert all(layer.lr_mul == 0.01 for layer in scaled.generator.mapping)
    assert isinstance(scaled.generator.mapping[0], ScaledDense)
    assert scaled.generator.get_config()["mapping_lr_mul"] == 0.01
    with pytest.raises(ConfigError, match="mapping_lr_mul must be >= 0"):
        build("model.generator.mapping_lr_mul=-1")


def test_tanh_output_is_the_tanh_of_the_linear_image():
    _, linear = build()
    _, bounded = build("model.generator.tanh_output=true")
    bounded.generator.set_weights(linear.generator.get_weights())
    z = tf.random.stateless_normal([4, 8], seed=[3, 4])
    c = tf.zeros([4, 0])
    image = linear.generator((z, c)).numpy()
    assert np.abs(image).max() > 0.05  # far enough from 0 for tanh(x) != x to show
    np.testing.assert_allclose(bounded.generator((z, c)).numpy(), np.tanh(image), atol=1e-6)
    assert bounded.generator.get_config()["tanh_output"] is True
    assert linear.generator.get_config()["tanh_output"] is False
