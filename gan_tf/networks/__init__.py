"""Generator and discriminator architectures, looked up by name, with their settings.

Each architecture is a pair of classes. A run's `model.generator` and `model.discriminator`
sections are keyword arguments of those classes (and `model.encoder`, for families with an
encoder, of the discriminator class that is its body): the names and types are read from the
constructors' signatures (their own and their base classes'), so a new setting is a new
constructor argument, and `--set model.generator.<name>=<value>` works for it at once.
Arguments fixed by the rest of the config (image shape, classes, latent size) are not
settings.
"""

from __future__ import annotations

import inspect
from typing import Any

from gan_tf.config import Config, ModelConfig
from gan_tf.errors import ConfigError
from gan_tf.networks.base import Discriminator, Generator
from gan_tf.networks.cyclegan import PatchDiscriminator, Translator
from gan_tf.networks.dcgan import DCGANDiscriminator, DCGANGenerator
from gan_tf.networks.heads import Classifier, Encoder
from gan_tf.networks.mlp import MLPDiscriminator, MLPGenerator
from gan_tf.networks.resnet import ResNetDiscriminator, ResNetGenerator
from gan_tf.networks.stylegan import StyleDiscriminator, StyleGenerator

ARCHITECTURES: dict[str, tuple[type[Generator], type[Discriminator]]] = {
    "mlp": (MLPGenerator, MLPDiscriminator),
    "dcgan": (DCGANGenerator, DCGANDiscriminator),
    "resnet": (ResNetGenerator, ResNetDiscriminator),
    "stylegan": (StyleGenerator, StyleDiscriminator),
    # Generators G_AB, G_BA and discriminators D_A, D_B of unpaired translation.
    "cyclegan": (Translator, PatchDiscriminator),
}
# Architectures only one family trains -> that family (`model.family`); the `gan` family
# trains every other one.
FAMILY_OWNED = {"stylegan": "stylegan", "cyclegan": "cyclegan"}


def family_architectures(family: str) -> tuple[str, ...]:
    """The architectures family `family` trains (`model.arch`)."""
    if family in FAMILY_OWNED.values():
        return tuple(a for a, owner in FAMILY_OWNED.items() if owner == family)
    return tuple(a for a in ARCHITECTURES if a not in FAMILY_OWNED)


ROLES = ("generator", "discriminator", "encoder")
# The class of each role: an encoder's body is the architecture's discriminator.
_ROLE_CLASS = {"generator": 0, "discriminator": 1, "encoder": 1}
# Constructor arguments set from other config sections, never from the network's settings.
FIXED = {"image_size", "channels", "num_classes", "latent_dim", "name"}


def network_class(arch: str, role: str) -> type:
    """The class of `role` (`generator`, `discriminator` or `encoder`) of architecture `arch`.

    Raises:
      ConfigError: for an unknown architecture.
    """
    if arch not in ARCHITECTURES:
        raise ConfigError(
            f"unknown architecture {arch!r} (model.arch); expected one of "
            f"{', '.join(ARCHITECTURES)}"
        )
    return ARCHITECTURES[arch][_ROLE_CLASS[role]]


def kwarg_defaults(arch: str, role: str) -> dict[str, Any]:
    """The settings of a network and their defaults, from its constructors' signatures."""
    defaults: dict[str, Any] = {}
    for cls in reversed(network_class(arch, role).__mro__):
        if "__init__" not in vars(cls) or not cls.__module__.startswith("gan_tf."):
            continue
        for param in inspect.signature(cls.__init__).parameters.values():
            if param.default is not inspect.Parameter.empty and param.name not in FIXED:
                defaults[param.name] = param.default
    return defaults


def kwarg_types(arch: str, role: str, key: str = "") -> dict[str, type]:
    """The type of each setting of a network (the type of its default)."""
    return {name: type(value) for name, value in kwarg_defaults(arch, role).items()}


def unknown_kwarg(arch: str, role: str, name: str):
    """Raises the error for a setting the network does not have."""
    known = ", ".join(sorted(kwarg_defaults(arch, role)))
    raise ConfigError(
        f"unknown setting model.{role}.{name} for model.arch={arch!r}; it has: {known}"
    )


def resolved_kwargs(model: ModelConfig, role: str) -> dict[str, Any]:
    """A network's settings: the class defaults updated with the config's values."""
    return {**kwarg_defaults(model.arch, role), **getattr(model, role)}


def check_kwargs(model: ModelConfig) -> None:
    """Checks the names and value types of every network's settings.

    Raises:
      ConfigError: naming the first unknown setting or wrongly typed value.
    """
    for role in ROLES:
        types = kwarg_types(model.arch, role)
        for name, value in getattr(model, role).items():
            if name not in types:
                unknown_kwarg(model.arch, role, name)
            kind = types[name]
            ok = isinstance(value, kind) and not (kind is int and isinstance(value, bool))
            if kind is float and isinstance(value, int) and not isinstance(value, bool):
                ok = True
            if not ok:
                raise ConfigError(f"model.{role}.{name}: expected {kind.__name__}, got {value!r}")


def build(config: Config) -> tuple[Generator, Discriminator]:
    """Creates (unbuilt) generator and discriminator for a run configuration.

    Raises:
      ConfigError: for an unknown architecture, setting, or an image shape it does not support.
    """
    m, d = config.model, config.data
    check_kwargs(m)
    shape = {"image_size": d.image_size, "channels": d.channels, "num_classes": d.num_classes}
    generator = network_class(m.arch, "generator")(
        **shape, latent_dim=m.latent_dim, name="generator", **m.generator
    )
    discriminator = network_class(m.arch, "discriminator")(
        **shape, name="discriminator", **m.discriminator
    )
    return generator, discriminator


def _feature_body(config: Config, role: str) -> Discriminator:
    """An unconditional discriminator of the run's architecture with `model.<role>` settings,
    to be the body of a `FeatureHead`.

    Raises:
      ConfigError: for unknown settings, or `mbstd_group` (the outputs of an image must not
        depend on the rest of its batch).
    """
    m, d = config.model, config.data
    check_kwargs(m)
    if getattr(m, role).get("mbstd_group"):
        raise ConfigError(
            f"model.{role}.mbstd_group must be 0: the {role} maps each image on its own"
        )
    return network_class(m.arch, role)(
        image_size=d.image_size,
        channels=d.channels,
        num_classes=0,
        name=f"{role}_body",
        **getattr(m, role),
    )


def build_encoder(config: Config) -> Encoder:
    """Creates the (unbuilt) encoder of a run: the architecture's discriminator as its body,
    with the `model.encoder` settings, mapping images to `model.latent_dim` latents."""
    return Encoder(_feature_body(config, "encoder"), config.model.latent_dim, name="encoder")


def build_classifier(config: Config) -> Classifier:
    """Creates the (unbuilt) K-class discriminator of a semi-supervised GAN: the
    architecture's discriminator with the `model.discriminator` settings, mapping images to
    `data.num_classes` logits."""
    body = _feature_body(config, "discriminator")
    return Classifier(body, config.data.num_classes, name="discriminator")
