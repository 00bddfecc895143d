"""Export of a style-based generator (`gan_tf.networks.stylegan`) for TF Serving.

The SavedModel has the signatures of `gan_tf.export` with truncation applied in W, and one
more:

    generate, generate_png   seeds [n] int64, truncation [n] float32 (+ labels)
                             w <- w_avg + psi (w - w_avg) per example (psi = 1: none,
                             psi = 0: the image of the tracked average w for every seed)
    mix                      seed_a [n], seed_b [n], crossover [n] int64 (+ labels)
                             -> images [n,H,W,C] uint8: layers before `crossover` take
                             the styles of seed_a, the rest those of seed_b (crossover in
                             [0, num_ws]; num_ws = seed_a alone, 0 = seed_b alone)

Latents are `latents_for_seeds`, as everywhere; each image depends only on its own inputs,
and every layer adds its fixed noise buffer, so outputs are deterministic.
"""

from __future__ import annotations

from typing import Any

import tensorflow as tf

from gan_tf import export
from gan_tf.networks.stylegan import StyleGenerator
from gan_tf.sampling import latents_for_seeds

STYLE_SIGNATURES = (*export.SIGNATURES, "mix")
TRUNCATION = "w <- w_avg + psi * (w - w_avg), psi per example (1 = no truncation)"


class StyleServingModule(export.ServingModule):
    """The exported object of a `StyleGenerator`: truncation in W and `mix`."""

    signature_names = STYLE_SIGNATURES

    def seeded_images(self, seeds, truncation, labels):
        g = self.generator
        with tf.control_dependencies(self.truncation_checks(seeds, truncation)):
            z = latents_for_seeds(tf.identity(seeds), self.latent_dim)
        c = self.conditions(labels, tf.shape(z)[0])

        def one(zi, ci, psi):
            return g.synthesize(g.broadcast(g.truncate(g.styles((zi, ci)), psi)))

        return self.per_example(one, (z, c, truncation))

    def mix(self, seed_a, seed_b, crossover, labels) -> tf.Tensor:
        """Images mixing the styles of two seeds at a crossover layer (module docstring)."""
        g = self.generator
        checks = [
            tf.debugging.assert_equal(
                tf.shape(seed_b), tf.shape(seed_a), message="seed_b must match seed_a's shape"
            ),
            tf.debugging.assert_equal(
                tf.shape(crossover), tf.shape(seed_a), message="crossover must match seed_a"
            ),
        ]
        with tf.control_dependencies(checks):
            z_a = latents_for_seeds(tf.identity(seed_a), self.latent_dim)
            z_b = latents_for_seeds(tf.identity(seed_b), self.latent_dim)
        c = self.conditions(labels, tf.shape(z_a)[0])

        def one(za, zb, x, ci):
            return g.synthesize(g.mix(g.styles((za, ci)), g.styles((zb, ci)), x))

        return self.per_example(one, (z_a, z_b, crossover, c))

    def signatures(self) -> dict[str, Any]:
        specs = [
            tf.TensorSpec([None], tf.int64, name="seed_a"),
            tf.TensorSpec([None], tf.int64, name="seed_b"),
            tf.TensorSpec([None], tf.int64, name="crossover"),
        ]
        if self.num_classes > 0:

            @tf.function(input_signature=[*specs, tf.TensorSpec([None], tf.int64, name="labels")])
            def mix(seed_a, seed_b, crossover, labels):
                return {"images": self.mix(seed_a, seed_b, crossover, labels)}

        else:

            @tf.function(input_signature=specs)
            def mix(seed_a, seed_b, crossover):
                return {"images": self.mix(seed_a, seed_b, crossover, None)}

        return {**super().signatures(), "mix": mix.get_concrete_function()}


def export_style_generator(
    generator: StyleGenerator, export_dir: str, metadata: dict, warmup_requests: int = 4
) -> str:
    """Writes a (EMA) style-based generator as a SavedModel, atomically.

    Args and errors as `gan_tf.export.export_generator`.
    """
    export._check_network(generator, "generator", StyleGenerator)
    meta = {
        **export.build_metadata(generator, metadata, STYLE_SIGNATURES),
        "truncation": TRUNCATION,
        "num_ws": int(generator.num_ws),
    }
    net = export._float32_generator(generator)
    return export._write(
        lambda path: StyleServingModule(net, path), meta, export_dir, warmup_requests
    )
