"""The `stylegan` family: a style-based generator (`gan_tf.networks.stylegan`) trained
with style mixing, per-layer noise and a tracked average w (`gan_tf.models.stylegan`).

Everything else is the `gan` family's: losses, EMA generator, checkpoints, evaluation, and
optional progressive growing (`progressive.stage_steps`). Its checkpoints also name the EMA
generator's `w_avg`; its export (`gan_tf.style_export`) applies truncation in W and adds the
`mix` signature.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from gan_tf import networks
from gan_tf.families import register
from gan_tf.families.gan import GANFamily, build_gan
from gan_tf.models.stylegan import StyleGAN
from gan_tf.networks.stylegan import StyleGenerator


@register
class StyleGANFamily(GANFamily):
    """Style-based generator and its discriminator, trained adversarially."""

    name = "stylegan"
    architectures = networks.family_architectures("stylegan")

    def build(self) -> StyleGAN:
        return build_gan(self.config, StyleGAN)

    def checkpoint_items(self, model: StyleGAN) -> Mapping[str, Any]:
        return {**super().checkpoint_items(model), "w_avg": model.ema_generator.w_avg}

    def export(self, generator: StyleGenerator, export_dir: str, metadata: dict[str, Any]) -> str:
        from gan_tf import style_export

        return style_export.export_style_generator(
            generator, export_dir, metadata, warmup_requests=self.config.export.warmup_requests
        )
