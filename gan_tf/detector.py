"""`Detector`: the one scoring path of anomaly detection (CLI, gate, TensorBoard, export).

An image's anomaly score is f-AnoGAN's (Schlegl et al. 2019):

    score(x) = mean((x - G(E(x)))^2) + feature_weight * mean((f(x) - f(G(E(x))))^2)

with x in [-1, 1], E the encoder, G the generator (EMA, float32, batch-norm statistics
recomputed for its weights) and f the discriminator's features. Every network runs in
inference mode, so an image's score depends on that image only, not on its batch.
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from gan_tf.data.pipeline import to_unit_range
from gan_tf.errors import DataError
from gan_tf.export import image_to_uint8
from gan_tf.models.anomaly import residuals
from gan_tf.networks.base import Discriminator, Generator
from gan_tf.networks.heads import Encoder

# Images scored per call when scoring arrays.
BATCH = 256


class Detector(tf.Module):
    """Scores images with a trained encoder, generator and discriminator.

    Args:
      generator: the (EMA) generator, float32, unconditional.
      discriminator: the discriminator whose features enter the score.
      encoder: maps images to the generator's latents.
      feature_weight: kappa, the weight of the feature residual.
    """

    def __init__(
        self,
        generator: Generator,
        discriminator: Discriminator,
        encoder: Encoder,
        feature_weight: float,
    ):
        super().__init__(name="detector")
        self.generator = generator
        self.discriminator = discriminator
        self.encoder = encoder
        self.feature_weight = float(feature_weight)
        self.image_shape = tuple(int(d) for d in generator.image_shape)

    def parts(self, images: tf.Tensor) -> dict[str, tf.Tensor]:
        """Scores of uint8 images `[n, H, W, C]`, with their terms and reconstructions.

        Returns:
          `scores`, `image_residual`, `feature_residual` (float32 `[n]`) and
          `reconstructions` (uint8, like the input).
        """
        x = to_unit_range(images)
        z = self.encoder(x, training=False)
        reconstructions = self.generator((z, tf.zeros([tf.shape(z)[0], 0])), training=False)
        image_res, feature_res = residuals(x, reconstructions, self.discriminator)
        return {
            "scores": image_res + self.feature_weight * feature_res,
            "image_residual": image_res,
            "feature_residual": feature_res,
            "reconstructions": image_to_uint8(reconstructions),
        }

    @tf.function(reduce_retracing=True)
    def _parts(self, images: tf.Tensor) -> dict[str, tf.Tensor]:
        return self.parts(images)

    def check(self, images: np.ndarray) -> np.ndarray:
        """Returns `images` as uint8 `[n, H, W, C]`.

        Raises:
          DataError: for another shape, or values outside [0, 255].
        """
        images = np.asarray(images)
        if images.ndim == 3 and self.image_shape[-1] == 1:
            images = images[..., None]
        if images.ndim != 4 or tuple(images.shape[1:]) != self.image_shape:
            raise DataError(
                f"images of shape {list(images.shape)} cannot be scored: the model takes "
                f"[n, {', '.join(map(str, self.image_shape))}] uint8 images"
            )
        if images.dtype != np.uint8:
            if images.size and (images.min() < 0 or images.max() > 255):
                raise DataError("image values must lie in [0, 255]")
            images = images.astype(np.uint8)
        return images

    def score(self, images: np.ndarray, batch: int = BATCH) -> dict[str, np.ndarray]:
        """`parts` of a uint8 array of any length, in batches of `batch`."""
        images = self.check(images)
        chunks = [
            {k: v.numpy() for k, v in self._parts(tf.constant(images[i : i + batch])).items()}
            for i in range(0, len(images), batch)
        ]
        if not chunks:
            empty = np.zeros([0], np.float32)
            return {
                "scores": empty,
                "image_residual": empty,
                "feature_residual": empty,
                "reconstructions": np.zeros([0, *self.image_shape], np.uint8),
            }
        return {k: np.concatenate([c[k] for c in chunks]) for k in chunks[0]}
