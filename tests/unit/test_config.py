"""Config parsing: strict keys, typed overrides, JSON round trip, presets."""

from __future__ import annotations

import pytest

from gan_tf import distribute, presets, train
from gan_tf.config import Config
from gan_tf.errors import ConfigError
from gan_tf.metrics.api import parse_metrics


def test_override_parses_types():
    cfg = Config().override(
        ["train.steps=7", "train.g_lr=1e-3", "data.resize=true", "model.arch=mlp"]
    )
    assert cfg.train.steps == 7 and isinstance(cfg.train.steps, int)
    assert cfg.train.g_lr == pytest.approx(1e-3)
    assert cfg.data.resize is True
    assert cfg.model.arch == "mlp"


@pytest.mark.parametrize(
    "assignment, message",
    [
        ("model.bogus=1", "unknown config key 'model.bogus'"),
        ("nosection.steps=1", "unknown config section 'nosection'"),
        ("train.steps=ten", r"train.steps='ten': expected int"),
        ("data.resize=maybe", "expected a boolean"),
        ("steps=3", "must be section.field"),
        ("train.steps", "not of the form"),
    ],
)
def test_bad_overrides_name_the_problem(assignment, message):
    with pytest.raises(ConfigError, match=message):
        Config().override([assignment])


def test_unknown_keys_rejected_from_dict():
    values = Config().to_dict()
    values["train"]["stpes"] = 3
    with pytest.raises(ConfigError, match="train.stpes"):
        Config.from_dict(values)
    with pytest.raises(ConfigError, match="extra"):
        Config.from_dict({"extra": {}})


def test_json_round_trip(tmp_path):
    cfg = presets.wgan_gp_mnist().override(["train.seed=3"])
    path = tmp_path / "config.json"
    path.write_text(cfg.to_json())
    assert Config.from_json_file(str(path)) == cfg


def test_configs_are_frozen():
    with pytest.raises(AttributeError):
        Config().train.steps = 3  # type: ignore[misc]


@pytest.mark.parametrize("name", sorted(presets.PRESETS))
def test_presets_are_valid_configs(name):
    cfg = presets.get(name)
    assert Config.from_dict(cfg.to_dict()) == cfg
    train.validate(cfg)
    assert cfg.train.strategy in distribute.STRATEGIES
    parse_metrics(cfg.eval.metrics, cfg.eval.features)
    gan = train.build_gan(cfg)  # networks, loss, DiffAugment policy, optimizers
    d = cfg.data
    images = gan.generator(gan.generator.dummy_inputs(batch=3))
    assert images.shape == (3, d.image_size, d.image_size, d.channels)
    real = gan.discriminator.dummy_inputs(batch=3)
    assert gan.discriminator(real).shape == (3, 1)
    assert (d.num_classes > 0) == isinstance(real, tuple)


def test_preset_specifics():
    assert presets.cgan_mnist().data.num_classes == 10
    wgan = presets.wgan_gp_mnist()
    assert wgan.loss.name == "wasserstein" and wgan.loss.gp_weight == 10.0
    assert wgan.model.d_norm != "batch", "a gradient penalty needs a critic without BatchNorm"
    fashion = presets.dcgan_fashion_mnist()
    assert (fashion.data.source, fashion.data.name) == ("tfds", "fashion_mnist")
    assert fashion.eval.every == 0, "the MNIST domain classifier cannot judge clothes"
    with pytest.raises(ConfigError, match="unknown preset"):
        presets.get("nope")


def test_minibatch_stddev_group_must_divide_the_batch():
    from gan_tf import train

    with pytest.raises(ConfigError, match="divide train.batch_size=64"):
        train.validate(Config().override(["model.mbstd_group=3"]))
    with pytest.raises(ConfigError, match="convolutional discriminator"):
        train.validate(Config().override(["model.mbstd_group=4", "model.arch=mlp"]))
    train.validate(Config().override(["model.mbstd_group=4"]))
