"""Model families, looked up by `model.family`. A family is one module (see `base.Family`).

gan       a generator and a discriminator, an EMA generator (`gan_tf.families.gan`)
anomaly   a GAN on normal data and an encoder inverting it: anomaly scores
          (`gan_tf.families.anomaly`)
semi_supervised
          a K-class discriminator as a classifier trained on few labels
          (`gan_tf.families.semi_supervised`)
stylegan  a style-based generator with style mixing and truncation in W
          (`gan_tf.families.stylegan`)
cyclegan  two translators and two discriminators between unpaired domains `data` and
          `data_b` (`gan_tf.families.cyclegan`)
"""

from __future__ import annotations

from gan_tf.config import Config
from gan_tf.errors import ConfigError
from gan_tf.families.base import Family

FAMILIES: dict[str, type[Family]] = {}


def register(cls: type[Family]) -> type[Family]:
    """Class decorator adding a family to the registry under `cls.name`."""
    if not cls.name or cls.name in FAMILIES:
        raise ValueError(f"family name {cls.name!r} is empty or taken")
    FAMILIES[cls.name] = cls
    return cls


def get(name: str) -> type[Family]:
    """The family class called `name`.

    Raises:
      ConfigError: for an unknown family.
    """
    _load_all()
    if name not in FAMILIES:
        raise ConfigError(
            f"unknown model family {name!r} (model.family); expected one of {', '.join(FAMILIES)}"
        )
    return FAMILIES[name]


def for_config(config: Config) -> Family:
    """The family of a run configuration, ready to build."""
    return get(config.model.family)(config)


def _load_all() -> None:
    # Importing a family module registers it.
    from gan_tf.families import anomaly, cyclegan, gan, semi_supervised, stylegan  # noqa: F401
