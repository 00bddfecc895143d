"""Config parsing: strict keys, typed overrides, JSON round trip, presets."""

from __future__ import annotations

import json

import pytest
import tensorflow as tf

from gan_tf import distribute, families, presets, train
from gan_tf.config import Config
from gan_tf.errors import ConfigError
from gan_tf.families.gan import build_gan
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
    if cfg.model.family == "cyclegan":  # translators, not a generator of latents
        model = families.for_config(cfg).build()
        b = cfg.data_b
        images = model.g_ab(tf.zeros([4, cfg.data.image_size, cfg.data.image_size, 1]))
        assert images.shape == (4, b.image_size, b.image_size, b.channels)
        return
    gan = build_gan(cfg)  # networks, loss, DiffAugment policy, optimizers
    d = cfg.data
    # A batch of 4: minibatch standard deviation (stylegan_mnist) takes groups of 4.
    images = gan.generator(gan.generator.dummy_inputs(batch=4))
    assert images.shape == (4, d.image_size, d.image_size, d.channels)
    real = gan.discriminator.dummy_inputs(batch=4)
    assert gan.discriminator(real).shape == (4, 1)
    assert real[1].shape == (4, d.num_classes)  # the condition, empty when unconditional


def test_preset_specifics():
    assert presets.cgan_mnist().data.num_classes == 10
    wgan = presets.wgan_gp_mnist()
    assert wgan.loss.name == "wasserstein" and wgan.loss.gp_weight == 10.0
    assert wgan.model.discriminator["norm"] != "batch", "a gradient penalty needs a critic w/o BN"
    fashion = presets.dcgan_fashion_mnist()
    assert (fashion.data.source, fashion.data.name) == ("tfds", "fashion_mnist")
    assert fashion.eval.every == 0, "the MNIST domain classifier cannot judge clothes"
    with pytest.raises(ConfigError, match="unknown preset"):
        presets.get("nope")


def test_minibatch_stddev_group_must_divide_the_batch():
    from gan_tf import train

    with pytest.raises(ConfigError, match="divide train.batch_size=64"):
        train.validate(Config().override(["model.discriminator.mbstd_group=3"]))
    from gan_tf import networks

    with pytest.raises(ConfigError, match="convolutional discriminator"):
        networks.build(Config().override(["model.arch=mlp", "model.discriminator.mbstd_group=4"]))
    train.validate(Config().override(["model.discriminator.mbstd_group=4"]))


def test_network_settings_are_the_architectures_keyword_arguments():
    cfg = Config().override(
        [
            "model.generator.width=48",
            "model.generator.upsample=nearest",
            "model.discriminator.spectral_norm=true",
            "model.discriminator.mbstd_group=4",
        ]
    )
    assert cfg.model.generator == {"width": 48, "upsample": "nearest"}
    assert cfg.model.discriminator == {"spectral_norm": True, "mbstd_group": 4}
    assert Config.from_dict(json.loads(cfg.to_json())) == cfg
    with pytest.raises(ConfigError, match=r"unknown setting model.generator.depth.*it has: embed"):
        Config().override(["model.generator.depth=3"])
    with pytest.raises(ConfigError, match=r"model.generator.width=.*: expected int"):
        Config().override(["model.generator.width=wide"])
    with pytest.raises(ConfigError, match=r"model.discriminator.norm: expected str, got 3"):
        Config.from_dict({"model": {"discriminator": {"norm": 3}}})
    with pytest.raises(ConfigError, match="kernel_size.*for model.arch='mlp'"):
        Config().override(["model.arch=mlp", "model.generator.kernel_size=3"])
    with pytest.raises(ConfigError, match="train.steps has no fields"):
        Config().override(["train.steps.x=3"])


def test_flat_model_section_of_earlier_runs_is_migrated():
    """The `model` section of config.json files written before per-network settings."""
    old = {
        "arch": "dcgan",
        "latent_dim": 64,
        "g_width": 32,
        "d_width": 64,
        "d_norm": "layer",
        "spectral_norm": False,
        "embed_dim": 0,
        "kernel_size": 3,
    }
    cfg = Config.from_dict({"model": old})
    assert cfg.model == presets.wgan_gp_mnist().model.__class__(
        family="gan",
        arch="dcgan",
        latent_dim=64,
        generator={"width": 32, "kernel_size": 3},
        discriminator={"width": 64, "norm": "layer", "spectral_norm": False, "kernel_size": 3},
    )
    resnet = Config.from_dict({"model": {**old, "arch": "resnet", "embed_dim": 8}})
    assert resnet.model.generator == {"width": 32, "embed_dim": 8}
    assert "kernel_size" not in resnet.model.discriminator


def test_switching_architecture_drops_the_presets_foreign_settings():
    base = presets.smoke()  # dcgan with kernel_size settings
    resnet = base.override(["model.generator.width=8", "model.arch=resnet", "data.image_size=32"])
    assert resnet.model.arch == "resnet"
    assert resnet.model.generator == {"width": 8}
    assert resnet.model.discriminator == {"width": 16}
    with pytest.raises(ConfigError, match="unknown setting model.generator.kernel_size"):
        base.override(["model.arch=resnet", "model.generator.kernel_size=3"])
    with pytest.raises(ConfigError, match="unknown setting model.generator.kernel_size"):
        Config.from_dict({**base.to_dict(), "model": {**base.to_dict()["model"], "arch": "mlp"}})


@pytest.mark.parametrize("name", sorted(presets.PRESETS))
def test_assignments_rebuild_the_config(name):
    cfg = presets.get(name)
    assert Config().override(cfg.assignments()) == cfg
