"""The `cyclegan` family: unpaired image-to-image translation between two data sources.

Domain A is the run's `data`, domain B its `data_b`: any two sources `gan_tf.data` reads
(unlabelled, unpaired, at one image size; channels may differ). The networks and the step
are `gan_tf.models.cyclegan.CycleGAN`; the inference object is the pair of translators, as
float32 networks. Outputs: a grid of domain A images, their translations and
reconstructions, then the same for domain B; a SavedModel with `translate` (A -> B) and
`translate_back` (B -> A) signatures.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any, NamedTuple

import keras
import numpy as np
import tensorflow as tf

from gan_tf import images, networks
from gan_tf.config import Config
from gan_tf.errors import ConfigError, DataError, GanTfError
from gan_tf.families import register
from gan_tf.families.base import Family
from gan_tf.families.gan import optimizers
from gan_tf.models.cyclegan import CycleGAN
from gan_tf.networks.base import float32_copy
from gan_tf.networks.cyclegan import PatchDiscriminator, Translator

# Images translated per call.
BATCH = 256
# Images of each domain in the sample grid.
GRID = 8


class Translators(NamedTuple):
    """The family's inference object: the translators A -> B and B -> A."""

    ab: Translator
    ba: Translator


def domain_config(config: Config, domain: str) -> Config:
    """The config whose `data` is domain `"a"` (`data`) or `"b"` (`data_b`), unlabelled."""
    data = config.data if domain == "a" else config.data_b
    return dataclasses.replace(config, data=dataclasses.replace(data, num_classes=0))


def build_networks(config: Config) -> tuple[Translator, Translator, PatchDiscriminator, ...]:
    """The unbuilt `(G_AB, G_BA, D_A, D_B)` of a run."""
    networks.check_kwargs(config.model)
    size, model = config.data.image_size, config.model
    ca, cb = config.data.channels, config.data_b.channels
    g, d = dict(model.generator), dict(model.discriminator)
    return (
        Translator(size, ca, cb, name="g_ab", **g),
        Translator(size, cb, ca, name="g_ba", **g),
        PatchDiscriminator(size, ca, name="d_a", **d),
        PatchDiscriminator(size, cb, name="d_b", **d),
    )


def translate(net: Translator, pixels: np.ndarray) -> np.ndarray:
    """uint8 images -> their uint8 translations by `net`, in batches.

    Raises:
      DataError: for images that are not `[n, S, S, C]` of the network's input shape.
    """
    from gan_tf.data.pipeline import to_unit_range

    pixels = np.asarray(pixels)
    if pixels.ndim != 4 or tuple(pixels.shape[1:]) != tuple(net.image_shape):
        raise DataError(
            f"{net.name} translates images of shape [n, {', '.join(map(str, net.image_shape))}]"
            f", got {list(pixels.shape)}"
        )
    return images.map_batches(
        lambda x: images.to_uint8(net(to_unit_range(tf.constant(x)), training=False)),
        pixels,
        BATCH,
    )


def first_images(config: Config, domain: str, count: int) -> np.ndarray:
    """The first `count` uint8 images of a domain, in source order.

    Raises:
      DataError: naming the domain, when its source cannot be read or is empty.
    """
    from gan_tf.data import pipeline

    cfg = domain_config(config, domain).data
    try:
        batches = list(pipeline.image_batches(cfg, batch_size=max(count, 1), limit=count))
    except DataError as e:
        raise DataError(f"domain {domain.upper()} ({_section(domain)}): {e}") from None
    return np.concatenate([x.numpy() for x in batches])


def _section(domain: str) -> str:
    return "data" if domain == "a" else "data_b"


def _rgb(x: np.ndarray) -> np.ndarray:
    return np.repeat(x, 3, axis=-1) if x.shape[-1] == 1 else x


@register
class CycleGANFamily(Family):
    """Two translators and two PatchGAN discriminators trained on unpaired domains."""

    name = "cyclegan"
    architectures = networks.family_architectures("cyclegan")
    data_sections = ("data", "data_b")

    def __init__(self, config: Config):
        super().__init__(config)
        self._grid: tuple[np.ndarray, np.ndarray] | None = None

    def validate(self) -> None:
        super().validate()
        c, t, cy = self.config, self.config.train, self.config.cycle
        a, b = c.data, c.data_b
        if a.image_size != b.image_size:
            raise ConfigError(
                f"both domains must have one image size: data.image_size={a.image_size}, "
                f"data_b.image_size={b.image_size} (set data_b.resize=true to resize domain B)"
            )
        if a.num_classes or b.num_classes or a.normal_classes or b.normal_classes:
            raise ConfigError(
                "the cyclegan family is unconditional: data(_b).num_classes must be 0 and "
                "data(_b).normal_classes empty"
            )
        if cy.cycle_weight < 0 or cy.identity_weight < 0 or cy.buffer_size < 0:
            raise ConfigError(
                "cycle.cycle_weight, cycle.identity_weight and cycle.buffer_size must be >= 0"
            )
        if cy.identity_weight and a.channels != b.channels:
            raise ConfigError(
                f"cycle.identity_weight needs domains with equal channels, got "
                f"data.channels={a.channels} and data_b.channels={b.channels}"
            )
        if t.d_steps != 1 or t.diffaugment or t.reuse_fakes or t.mixed_precision:
            raise ConfigError(
                "the cyclegan family takes one update of each network per step, in float32, "
                "without DiffAugment or reuse_fakes"
            )
        if c.loss.gp_weight or c.loss.r1_gamma:
            raise ConfigError("the cyclegan family takes no gradient penalty (loss.gp_weight, r1)")
        build_networks(c)  # checks the image shapes and network sizes

    def build(self) -> CycleGAN:
        c = self.config
        keras.utils.set_random_seed(c.train.seed)
        model = CycleGAN(
            *build_networks(c),
            loss=c.loss.name,
            cycle_weight=c.cycle.cycle_weight,
            identity_weight=c.cycle.identity_weight,
            buffer_size=c.cycle.buffer_size,
            seed=c.train.seed,
        )
        model.build_networks()
        g_opt, d_opt = optimizers(c, (1, 1), "float32")
        model.compile(g_optimizer=g_opt, d_optimizer=d_opt, jit_compile=c.train.jit_compile)
        return model

    def dataset(self, start_step: int) -> tf.data.Dataset:
        """`(a, b)` global batches: each domain's training pipeline, positioned at the step.

        Raises:
          DataError: naming the domain whose source is empty or unreadable.
        """
        from gan_tf.data import pipeline

        domains = []
        for domain in ("a", "b"):
            try:
                domains.append(
                    pipeline.train_dataset(domain_config(self.config, domain), start_step)
                )
            except DataError as e:
                raise DataError(f"domain {domain.upper()} ({_section(domain)}): {e}") from None
        options = tf.data.Options()
        options.experimental_distribute.auto_shard_policy = (
            tf.data.experimental.AutoShardPolicy.DATA
        )
        return tf.data.Dataset.zip(tuple(domains)).with_options(options).prefetch(2)

    def checkpoint_items(self, model: CycleGAN) -> Mapping[str, Any]:
        return {
            "g_ab": model.g_ab,
            "g_ba": model.g_ba,
            "d_a": model.d_a,
            "d_b": model.d_b,
            "step": model.step_counter,
            "g_optimizer": model.g_optimizer,
            "d_optimizer": model.d_optimizer,
            "pool_a": model.pool_a,
            "pool_b": model.pool_b,
            "pool_filled": model.pool_filled,
        }

    def learning_rates(self, model: CycleGAN) -> list:
        t = self.config.train
        return [(model.g_optimizer, t.g_lr), (model.d_optimizer, t.d_lr)]

    # -- outputs -----------------------------------------------------------------------

    def inference(self, model: CycleGAN) -> Translators:
        return Translators(float32_copy(model.g_ab), float32_copy(model.g_ba))

    def load(self, workdir: str) -> tuple[Translators, int]:
        from gan_tf import checkpoint
        from gan_tf import workdir as workdir_lib

        g_ab, g_ba, _, _ = build_networks(self.config)
        for net in (g_ab, g_ba):
            net(net.dummy_inputs())
        try:
            step = checkpoint.restore_items(
                {"g_ab": g_ab, "g_ba": g_ba}, workdir_lib.checkpoint_dir(workdir)
            )
        except FileNotFoundError:
            raise GanTfError(f"{workdir} holds no checkpoint yet") from None
        return Translators(g_ab, g_ba), step

    def sample_grid(self, inference: Translators) -> np.ndarray:
        """Rows: images of A, their translations, their reconstructions, then the same for
        B (grayscale shown as RGB when the domains' channels differ)."""
        if self._grid is None:
            a, b = first_images(self.config, "a", GRID), first_images(self.config, "b", GRID)
            count = min(len(a), len(b))
            self._grid = (a[:count], b[:count])
        a, b = self._grid
        to_b, to_a = translate(inference.ab, a), translate(inference.ba, b)
        rows = [a, to_b, translate(inference.ba, to_b), b, to_a, translate(inference.ab, to_a)]
        if self.config.data.channels != self.config.data_b.channels:
            rows = [_rgb(x) for x in rows]
        return images.make_grid(np.concatenate(rows), cols=len(a))

    def export(self, inference: Translators, export_dir: str, metadata: dict[str, Any]) -> str:
        from gan_tf import export

        return export.export_translators(
            inference.ab,
            inference.ba,
            export_dir,
            metadata,
            warmup_requests=self.config.export.warmup_requests,
        )
