"""Generator and discriminator architectures, looked up by name."""

from __future__ import annotations

from gan_tf.config import Config
from gan_tf.errors import ConfigError
from gan_tf.networks.base import Discriminator, Generator
from gan_tf.networks.dcgan import DCGANDiscriminator, DCGANGenerator
from gan_tf.networks.mlp import MLPDiscriminator, MLPGenerator
from gan_tf.networks.resnet import ResNetDiscriminator, ResNetGenerator

ARCHITECTURES: dict[str, tuple[type[Generator], type[Discriminator]]] = {
    "mlp": (MLPGenerator, MLPDiscriminator),
    "dcgan": (DCGANGenerator, DCGANDiscriminator),
    "resnet": (ResNetGenerator, ResNetDiscriminator),
}


def build(config: Config) -> tuple[Generator, Discriminator]:
    """Creates (unbuilt) generator and discriminator for a run configuration.

    Raises:
      ConfigError: for an unknown architecture or an image shape it does not support.
    """
    m, d = config.model, config.data
    if m.arch not in ARCHITECTURES:
        raise ConfigError(
            f"unknown architecture {m.arch!r} (model.arch); expected one of "
            f"{', '.join(ARCHITECTURES)}"
        )
    g_cls, d_cls = ARCHITECTURES[m.arch]
    extra = {"kernel_size": m.kernel_size} if m.arch == "dcgan" else {}
    g_extra = {"norm": m.g_norm, "upsample": m.upsample} if m.arch == "dcgan" else {}
    generator = g_cls(
        image_size=d.image_size,
        channels=d.channels,
        latent_dim=m.latent_dim,
        width=m.g_width,
        num_classes=d.num_classes,
        embed_dim=m.embed_dim,
        name="generator",
        **extra,
        **g_extra,
    )
    discriminator = d_cls(
        image_size=d.image_size,
        channels=d.channels,
        width=m.d_width,
        num_classes=d.num_classes,
        norm=m.d_norm,
        spectral_norm=m.spectral_norm,
        mbstd_group=m.mbstd_group,
        name="discriminator",
        **extra,
        **({"hidden": m.d_hidden} if m.arch == "dcgan" else {}),
    )
    return generator, discriminator
