"""`StyleGAN`: the `GAN` step for a style-based generator (`gan_tf.networks.stylegan`).

Each training pass of the generator (every discriminator pass and the generator update)

* maps its latents to styles `w` and moves the generator's tracked `w_avg` towards their
  global-batch mean: `w_avg <- w + decay (w_avg - w)` (StyleGAN's `w_avg_beta`);
* mixes styles (style mixing regularisation): with probability `mixing_prob` an example
  takes the styles of a second latent from a random crossover layer `[1, num_ws)` on;
* draws the per-layer noise.

All three draws come from the step-indexed streams of `gan_tf.streams`
(`<phase>_mixing_latents`, `<phase>_mixing_choice`, `<phase>_noise`), for the global batch,
so a rerun or a resume makes the same draws and a step does not depend on the replica count.
With R1 and minibatch standard deviation together, the discriminator's gradients still repeat
only to float rounding between compilations of the step (Grappler reorders sums in R1's
second backward pass; README, "Style-based generator", item 9).
"""

from __future__ import annotations

import tensorflow as tf

from gan_tf.models.gan import GAN, global_mean


class StyleGAN(GAN):
    """A `GAN` whose generator is a `StyleGenerator` (see the module docstring)."""

    def _fakes(self, c: tf.Tensor, global_batch, step, phase: str, k=0) -> tf.Tensor:
        g = self.generator
        z = self._global_draw("normal", global_batch, self.latent_dim, step, f"{phase}_latents", k)
        w = g.styles((z, c))
        self._track_w_avg(w, global_batch)
        ws = g.broadcast(w)
        if g.mixing_prob > 0:
            z2 = self._global_draw(
                "normal", global_batch, self.latent_dim, step, f"{phase}_mixing_latents", k
            )
            u = self._global_draw("uniform", global_batch, 2, step, f"{phase}_mixing_choice", k)
            cut = 1 + tf.cast(tf.math.floor(u[:, 1] * (g.num_ws - 1)), tf.int32)
            crossover = tf.where(u[:, 0] < g.mixing_prob, tf.minimum(cut, g.num_ws - 1), g.num_ws)
            ws = g.mix(w, g.styles((z2, c)), crossover)
        shapes = g.noise_shapes
        sizes = [h * w_ * ch for h, w_, ch in shapes]
        flat = self._global_draw("normal", global_batch, sum(sizes), step, f"{phase}_noise", k)
        noise = [
            tf.reshape(part, [-1, *shape]) for part, shape in zip(tf.split(flat, sizes, 1), shapes)
        ]
        return g.synthesize(ws, noise)

    def _track_w_avg(self, w: tf.Tensor, global_batch) -> None:
        decay = self.generator.w_avg_decay
        mean = global_mean(tf.stop_gradient(w), global_batch)
        avg = self.generator.w_avg
        avg.assign(mean + decay * (avg - mean))
