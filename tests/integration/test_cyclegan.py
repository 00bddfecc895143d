"""The cyclegan family: the sklearn_digits source, the image buffer, the step, checkpoints,
Mirrored parity and bad input."""

from __future__ import annotations

import os

import keras
import numpy as np
import pytest
import tensorflow as tf
from mirrored_parity import fit_batches

from gan_tf import checkpoint, distribute, families, presets, train
from gan_tf import workdir as workdir_lib
from gan_tf.config import Config, DataConfig
from gan_tf.data import pipeline, sklearn_digits, sources
from gan_tf.errors import ConfigError, DataError
from gan_tf.families.cyclegan import build_networks, first_images, translate
from gan_tf.models.cyclegan import pool_query

TINY = [
    "data.limit=64",
    "data.shuffle_buffer=64",
    "data_b.limit=64",
    "data_b.shuffle_buffer=64",
    "model.generator.width=4",
    "model.generator.blocks=1",
    "model.discriminator.width=4",
    "cycle.buffer_size=6",
    "train.batch_size=4",
    "train.steps=4",
    "train.steps_per_epoch=2",
    "train.checkpoint_every=2",
    "train.log_every=2",
    "train.image_every=100",
    "export.enabled=false",
]


@pytest.fixture(scope="module")
def tiny(mnist_data_dir):
    return presets.cyclegan_digits().override(
        [f"data.data_dir={mnist_data_dir}", f"data_b.data_dir={mnist_data_dir}", *TINY]
    )


def test_sklearn_digits_are_upsampled_into_mnist_framing(mnist_data_dir):
    flat = sklearn_digits.upsample(np.full([1, 8, 8], 8))[0]
    assert flat.dtype == np.uint8 and flat.shape == (28, 28)
    assert (flat[4:24, 4:24] == 128).all()  # rint(8 * 255 / 16) = 128 inside the 20x20 box
    border = np.ones([28, 28], bool)
    border[4:24, 4:24] = False
    assert (flat[border] == 0).all()
    with pytest.raises(DataError, match="values 0..16"):
        sklearn_digits.upsample(np.full([1, 8, 8], 17))

    x, y = sklearn_digits.load_arrays()["train"]
    assert x.shape == (1797, 28, 28) and np.bincount(y).min() >= 174
    cfg = DataConfig(name="sklearn_digits", data_dir=mnist_data_dir)
    assert sources.records(cfg).count == 1797
    first, labels = next(iter(pipeline.image_batches(cfg, batch_size=5, labels=True)))
    np.testing.assert_array_equal(first.numpy()[..., 0], x[:5])
    np.testing.assert_array_equal(labels.numpy(), y[:5])


def reference_pool(buffer, filled, images, draws):
    """A plain reading of the buffer rule, one image at a time."""
    buffer, out = buffer.copy(), []
    for image, (use, where) in zip(images, draws):
        if filled < len(buffer):
            buffer[filled] = image
            filled += 1
            out.append(image)
        elif use < 0.5:
            slot = int(where * len(buffer))
            out.append(buffer[slot].copy())
            buffer[slot] = image
        else:
            out.append(image)
    return np.stack(out), buffer, filled


@pytest.mark.parametrize("filled", [0, 2, 3])
def test_pool_query_follows_the_buffer_rule(filled):
    rng = np.random.default_rng(filled)
    buffer = rng.normal(size=[3, 2, 2, 1]).astype(np.float32)
    images = rng.normal(size=[5, 2, 2, 1]).astype(np.float32)
    draws = np.array([[0.1, 0.9], [0.7, 0.2], [0.3, 0.0], [0.4, 0.5], [0.9, 0.5]], np.float32)
    out, new, count = pool_query(
        tf.constant(buffer), tf.constant(filled, tf.int64), tf.constant(images), draws
    )
    want_out, want_buffer, want_count = reference_pool(buffer, filled, images, draws)
    np.testing.assert_array_equal(out.numpy(), want_out)
    np.testing.assert_array_equal(new.numpy(), want_buffer)
    assert int(count) == want_count
    # Empty buffers pass the images through.
    out, _, _ = pool_query(
        tf.zeros([0, 2, 2, 1]), tf.constant(0, tf.int64), tf.constant(images), draws
    )
    np.testing.assert_array_equal(out.numpy(), images)


@pytest.fixture(scope="module")
def trained(tiny, tmp_path_factory):
    """A tiny trained run with its export."""
    workdir = str(tmp_path_factory.mktemp("cyclegan") / "run")
    return train.train(tiny.override(["export.enabled=true"]), workdir, verbose=0)


@pytest.mark.slow
def test_a_step_changes_every_network_and_checkpoints_restore_by_name(tiny, trained):
    family = families.for_config(tiny)
    fresh = family.build()
    model = trained.model
    for name, net in _nets(model).items():
        before = [v.numpy() for v in _nets(fresh)[name].variables]
        assert any(not np.array_equal(a, v.numpy()) for a, v in zip(before, net.variables)), name
    assert int(model.pool_filled.numpy()) == 6  # 4 steps x 4 fakes, capped at the size
    assert np.abs(model.pool_b.numpy()).min(axis=(1, 2, 3)).max() > 0

    workdir = os.path.dirname(trained.samples_path)
    translators, step = family.load(workdir)
    assert step == 4
    images = first_images(tiny, "a", 4)
    np.testing.assert_array_equal(
        translate(translators.ab, images), translate(family.inference(model).ab, images)
    )
    pools = {n: keras.Variable(tf.zeros_like(getattr(model, n))) for n in ("pool_a", "pool_b")}
    checkpoint.restore_items(pools, workdir_lib.checkpoint_dir(workdir))
    for name, value in pools.items():
        np.testing.assert_array_equal(value.numpy(), getattr(model, name).numpy())


@pytest.mark.slow
def test_a_resumed_run_repeats_the_uninterrupted_one(tiny, trained, tmp_path):
    """Stopped at step 2 and resumed: the buffers and their draws included."""
    model = trained.model
    resumed = str(tmp_path / "resumed")
    train.train(tiny.override(["train.steps=2"]), resumed, verbose=0)
    again = train.train(tiny, resumed, verbose=0).model
    for a, b in zip(model.variables, again.variables):
        np.testing.assert_array_equal(b.numpy(), a.numpy(), err_msg=a.path)


def test_export_signatures_equal_the_in_process_translations(tiny, trained):
    from gan_tf import export

    model, loaded = trained.model, tf.saved_model.load(trained.export_dir)
    a, b = first_images(tiny, "a", 5), first_images(tiny, "b", 5)
    for signature, net, images in (("translate", model.g_ab, a), ("translate_back", model.g_ba, b)):
        out = loaded.signatures[signature](images=tf.constant(images))["images"]
        assert out.dtype == tf.uint8
        # The SavedModel's optimised graph may round a pixel lying on a .5 boundary the other
        # way (as for the generator's export, tests/integration/test_evaluate_cli.py).
        diff = np.abs(out.numpy().astype(int) - translate(net, images).astype(int))
        assert diff.max() <= 1 and (diff > 0).mean() < 1e-3, (diff.max(), (diff > 0).mean())
        empty = loaded.signatures[signature](images=tf.zeros([0, 28, 28, 1], tf.uint8))
        assert empty["images"].shape == (0, 28, 28, 1)
    with pytest.raises(tf.errors.InvalidArgumentError, match=r"translates images of shape"):
        loaded.signatures["translate"](images=tf.zeros([1, 28, 28, 3], tf.uint8))
    meta = export.read_metadata(trained.export_dir)
    assert meta["signatures"] == ["translate", "translate_back"] and meta["step"] == 4
    assert meta["image_shape"] == [28, 28, 1] == meta["image_shape_b"]
    warmup = export.read_warmup_requests(trained.export_dir)
    assert [w.predict_log.request.model_spec.signature_name for w in warmup] == [
        "translate",
        "translate_back",
    ] * 2


def test_cli_translate_writes_the_translations(tiny, trained, tmp_path, capsys):
    from gan_tf import cli

    workdir = os.path.dirname(trained.samples_path)
    out = str(tmp_path / "out")
    argv = ["translate", "--workdir", workdir, "sklearn_digits:train", "--num", "5"]
    assert cli.main([*argv, "--out", out]) == 0
    assert "translated 5 images A -> B (step 4)" in capsys.readouterr().out
    written = np.stack([read_png(os.path.join(out, f"{i:06d}.png")) for i in range(5)])
    np.testing.assert_array_equal(
        written, translate(trained.model.g_ab, first_images(tiny, "a", 5))
    )
    assert sorted(os.listdir(out)) == [f"{i:06d}.png" for i in range(5)]

    back = str(tmp_path / "back")
    argv = ["translate", "--workdir", workdir, "mnist:train", "--num", "3", "--back"]
    assert cli.main([*argv, "--out", back]) == 0
    written = np.stack([read_png(os.path.join(back, f"{i:06d}.png")) for i in range(3)])
    np.testing.assert_array_equal(
        written, translate(trained.model.g_ba, first_images(tiny, "b", 3))
    )

    # Bad input: one line, exit 2, and the earlier output is left as it was.
    rgb = str(tmp_path / "rgb.npz")
    np.savez(rgb, images=np.zeros([2, 28, 28, 3], np.uint8))
    capsys.readouterr()
    assert cli.main(["translate", "--workdir", workdir, rgb, "--out", out]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "translates images of shape [n, 28, 28, 1]" in err
    assert sorted(os.listdir(out)) == [f"{i:06d}.png" for i in range(5)]
    assert cli.main(["translate", "--workdir", str(tmp_path), "mnist:test", "--out", out]) == 2
    assert "not a gan_tf workdir" in capsys.readouterr().err


def read_png(path: str) -> np.ndarray:
    return tf.io.decode_png(tf.io.read_file(path)).numpy()


def _nets(model):
    return {"g_ab": model.g_ab, "g_ba": model.g_ba, "d_a": model.d_a, "d_b": model.d_b}


@pytest.mark.slow
def test_mirrored_steps_equal_single_device_steps(tiny):
    """SGD, so a wrong gradient scale shows; the buffers see the global batch.

    At a rate of 0.02: one step leaves the two runs 1e-8 apart, but at 0.1 the preset's
    translator (no downsampling) carries that to 1.4e-5 in a few buffered fakes by step 3
    (measured; float32 summation order, amplified by the instance norms of nearly constant
    channels), where 0.02 gives 1.9e-6."""
    config = tiny.override(
        ["train.optimizer=sgd", "train.g_lr=0.02", "train.d_lr=0.02", "cycle.buffer_size=5"]
    )
    a = tf.random.stateless_uniform([3, 4, 28, 28, 1], seed=[1, 2], minval=-1, maxval=1)
    b = tf.random.stateless_uniform([3, 4, 28, 28, 1], seed=[3, 4], minval=-1, maxval=1)

    def build(config):
        return families.for_config(config).build()

    single, start, single_logs = fit_batches(
        tf.distribute.get_strategy(), config, (a, b), build=build
    )
    mirrored, _, mirrored_logs = fit_batches(
        distribute.get_strategy("mirrored"), config, (a, b), init=start, build=build
    )
    networks = [(s, v) for s, v in zip(start, single.variables) if "pool" not in v.path]
    assert max(float(np.abs(s - v.numpy()).max()) for s, v in networks) > 1e-4
    # 3 steps x 4 fakes through a buffer of 5: stored, then swapped.
    assert int(single.pool_filled.numpy()) == 5
    for x, y in zip(single.variables, mirrored.variables):
        np.testing.assert_allclose(y.numpy(), x.numpy(), rtol=0, atol=1e-5, err_msg=x.path)
    for key, values in single_logs.items():
        np.testing.assert_allclose(mirrored_logs[key], values, rtol=1e-5, atol=1e-5, err_msg=key)


@pytest.mark.parametrize(
    "overrides, error, match",
    [
        (["data_b.image_size=32"], ConfigError, "one image size"),
        (["data_b.channels=3", "cycle.identity_weight=1"], ConfigError, "equal channels"),
        (["data_b.num_classes=10"], ConfigError, "unconditional"),
        (["train.diffaugment=translation"], ConfigError, "without DiffAugment"),
        (["model.arch=dcgan"], ConfigError, "not an architecture of the cyclegan family"),
        (["model.generator.depth=2"], ConfigError, "unknown setting model.generator.depth"),
    ],
)
def test_bad_settings_are_refused(tiny, tmp_path, overrides, error, match):
    with pytest.raises(error, match=match):
        train.train(tiny.override(overrides), str(tmp_path / "run"), verbose=0)


def test_an_empty_domain_is_named(tiny, tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    config = tiny.override(["data_b.source=folder", f"data_b.path={empty}"])
    with pytest.raises(DataError, match=r"domain B \(data_b\): .*holds no examples"):
        train.train(config, str(tmp_path / "run"), verbose=0)
    assert not (tmp_path / "run" / "checkpoints").exists()


def test_images_of_the_wrong_shape_are_refused(tiny):
    family = families.for_config(tiny)
    g_ab = family.build().g_ab
    with pytest.raises(DataError, match=r"g_ab translates images of shape \[n, 28, 28, 1\]"):
        translate(g_ab, np.zeros([2, 28, 28, 3], np.uint8))
    with pytest.raises(DataError, match="got \\[28, 28\\]"):
        translate(g_ab, np.zeros([28, 28], np.uint8))


def test_networks_round_trip_through_their_config():
    from gan_tf.networks.cyclegan import PatchDiscriminator, Translator

    for net in (Translator(28, 1, 3, width=4, blocks=1), PatchDiscriminator(28, 3, width=4)):
        copy = type(net).from_config(net.get_config())
        assert copy.get_config() == net.get_config()
        net(net.dummy_inputs()), copy(copy.dummy_inputs())
        assert [v.shape for v in copy.variables] == [v.shape for v in net.variables]
    out = Translator(28, 1, 3, width=4, blocks=1)(tf.zeros([2, 28, 28, 1]))
    assert out.shape == (2, 28, 28, 3)
    assert PatchDiscriminator(28, 1, width=4)(tf.zeros([2, 28, 28, 1])).shape == (2, 7, 7, 1)
    with pytest.raises(
        ConfigError, match="translator halves the resolution 2 times.*multiple of 4"
    ):
        Translator(30, 1, 1)
    with pytest.raises(
        ConfigError, match="translator halves the resolution 1 times.*multiple of 2"
    ):
        Translator(29, 1, 1, downsamplings=1)
    assert Translator(30, 1, 1, downsamplings=1)(tf.zeros([1, 30, 30, 1])).shape == (1, 30, 30, 1)
    assert Translator(29, 1, 1, downsamplings=0)(tf.zeros([1, 29, 29, 1])).shape == (1, 29, 29, 1)
    with pytest.raises(ConfigError, match="discriminator halves the resolution 2 times"):
        PatchDiscriminator(30, 1)


@pytest.mark.parametrize("downsamplings", [0, 1, 2])
def test_translator_downsamplings_set_the_resolution_of_its_blocks(downsamplings):
    from gan_tf.networks.cyclegan import Translator

    net = Translator(28, 1, 1, width=4, blocks=1, downsamplings=downsamplings)
    seen = []
    net.res[0].conv1.call = lambda x, f=net.res[0].conv1.call: seen.append(tuple(x.shape)) or f(x)
    assert net(tf.zeros([2, 28, 28, 1])).shape == (2, 28, 28, 1)
    size, channels = 28 // 2**downsamplings, 4 * 2**downsamplings
    assert set(seen) == {(2, size, size, channels)}
    assert len(net.down) == len(net.up) == downsamplings
    copy = Translator.from_config(net.get_config())
    assert copy.downsamplings == downsamplings
    with pytest.raises(ConfigError, match="downsamplings must be 0, 1 or 2, got 3"):
        Translator(28, 1, 1, downsamplings=3)


def test_the_default_translator_keeps_its_variable_names():
    """Checkpoints of earlier runs restore by these names."""
    from gan_tf.networks.cyclegan import Translator

    net = Translator(28, 1, 1, width=4, blocks=1)
    net(net.dummy_inputs())
    layers = sorted({v.path.split("/")[1] for v in net.variables})
    assert layers == sorted(
        ["stem", "down1", "down2", "block0", "up1", "up0", "to_image"]
        + [f"norm{i}" for i in range(5)]
    )


def test_configs_of_earlier_versions_load_with_their_network_settings_moved():
    """Earlier versions kept the CycleGAN network sizes in `cycle` (`g_width`, `g_blocks`,
    `d_width`) and wrote them into every run's config.json."""
    old = presets.cyclegan_digits().to_dict()
    old["model"] = {**old["model"], "arch": "dcgan", "generator": {}, "discriminator": {}}
    old["cycle"] = {**old["cycle"], "g_width": 8, "g_blocks": 2, "d_width": 4}
    config = Config.from_dict(old)
    assert config.model.arch == "cyclegan"
    assert config.model.generator == {"width": 8, "blocks": 2}
    assert config.model.discriminator == {"width": 4}
    g_ab, _, d_a, _ = build_networks(config)
    assert (g_ab.width, g_ab.blocks, d_a.width) == (8, 2, 4)
    # Another family's config held them unread: they are dropped, its networks untouched.
    dcgan = presets.dcgan_mnist().to_dict()
    dcgan["cycle"] = {**dcgan["cycle"], "g_width": 8, "g_blocks": 2, "d_width": 4}
    assert Config.from_dict(dcgan) == presets.dcgan_mnist()
