"""`SemiSupervisedGAN`: a K-class discriminator trained on few labels, many unlabelled images
and generated ones, with a generator trained by feature matching (Salimans et al. 2016).

The discriminator outputs K logits l(x). Real/fake is read from the same logits: with
`Z(x) = sum_k exp(l_k(x))`, `D(x) = Z / (Z + 1)`, so the fake class is an implicit (K+1)-th
logit fixed at 0. Per step, on a labelled batch (x_l, y), an unlabelled batch x_u and fakes:

    L_D = CE(y, softmax(l(x_l)))                         supervised
        + softplus(LSE(l(x_u))) - LSE(l(x_u))            -log D(x_u)
        + softplus(LSE(l(G(z))))                         -log (1 - D(G(z)))
    L_G = || mean_u f(x_u) - mean_z f(G(z)) ||^2         feature matching

with LSE the log-sum-exp and f the discriminator's features. Means are over the global batch,
so the maths does not depend on the replica count (the feature-matching gradient is taken
through a surrogate whose gradient equals L_G's, as `tf.distribute` sums replica gradients).

With `classifier_ema > 0` the model also keeps a moving average of the discriminator's
weights (Polyak averaging; Salimans et al. test with such an average), and that average is
the classifier its outputs use (`output_classifier`).
"""

from __future__ import annotations

from typing import Any

import keras
import tensorflow as tf

from gan_tf.models.gan import GAN, global_mean, update_average


class SemiSupervisedGAN(GAN):
    """A `GAN` whose discriminator is a `gan_tf.networks.heads.Classifier` (see above).

    Batches are `(unlabelled_images, (labelled_images, labels))`.

    Args:
      generator: an unconditional generator.
      discriminator: the K-class classifier.
      unsupervised_weight: weight of the two real/fake terms of L_D.
      classifier_ema: decay of the discriminator's moving average (0 = none); it ramps up
        as the EMA generator's does (`gan_tf.models.gan.update_average`).
      match_before_noise: take f, the matched features, before the discriminator's last
        Gaussian noise (`FeatureHead.features(before_noise=True)`).
      **kwargs: the `GAN`'s settings (loss settings other than these are not used).
    """

    def __init__(
        self,
        generator,
        discriminator,
        unsupervised_weight: float = 1.0,
        classifier_ema: float = 0.0,
        match_before_noise: bool = False,
        **kwargs: Any,
    ):
        super().__init__(generator, discriminator, **kwargs)
        self.unsupervised_weight = float(unsupervised_weight)
        self.match_before_noise = bool(match_before_noise)
        self.classifier_ema = float(classifier_ema)
        self.ema_classifier = (
            type(discriminator).from_config(
                {**discriminator.get_config(), "name": "ema_classifier"}
            )
            if self.classifier_ema
            else None
        )
        names = ("d_loss", "g_loss", "supervised", "unsupervised", "train_accuracy")
        self.trackers = {name: keras.metrics.Mean(name=name) for name in names}

    def build_networks(self) -> None:
        """Creates every variable; the classifier's average starts equal to the classifier."""
        super().build_networks()
        if self.ema_classifier is not None:
            self.ema_classifier(self.ema_classifier.dummy_inputs())
        self._restart_average()

    def _restart_average(self) -> None:
        if self.ema_classifier is not None:
            for avg, var in zip(self.ema_classifier.variables, self.discriminator.variables):
                avg.assign(var)

    def initialise_from_data(self, images: tf.Tensor, seed: int) -> None:
        """The discriminator's data-dependent initialisation (`Classifier.initialise_from_data`);
        its moving average, if any, starts from the result."""
        self.discriminator.initialise_from_data(images, seed)
        self._restart_average()

    def output_classifier(self):
        """The classifier outputs use: the moving average if there is one, else the
        discriminator."""
        return self.discriminator if self.ema_classifier is None else self.ema_classifier

    def train_step(self, data: Any) -> dict[str, tf.Tensor]:
        unlabelled, (labelled, labels) = data
        unlabelled = tf.cast(unlabelled, tf.float32)
        labelled = tf.cast(labelled, tf.float32)
        labels = tf.cast(labels, tf.int32)
        ctx = tf.distribute.get_replica_context()
        replicas = ctx.num_replicas_in_sync if ctx is not None else 1
        global_batch = tf.shape(unlabelled)[0] * replicas
        step = tf.cast(self.step, tf.int64)
        c = tf.zeros([tf.shape(unlabelled)[0], 0])
        d_vars = self.discriminator.trainable_variables
        g_vars = self.generator.trainable_variables

        fake = self._fakes(c, global_batch, step, "d")
        with tf.GradientTape() as tape:
            logits_l = self.discriminator(labelled, training=True)
            logits_u = self.discriminator(unlabelled, training=True)
            logits_f = self.discriminator(fake, training=True)
            supervised = tf.nn.sparse_softmax_cross_entropy_with_logits(labels, logits_l)
            lse_u = tf.reduce_logsumexp(logits_u, axis=1)
            lse_f = tf.reduce_logsumexp(logits_f, axis=1)
            unsupervised = tf.nn.softplus(lse_u) - lse_u + tf.nn.softplus(lse_f)
            per_example = supervised + self.unsupervised_weight * unsupervised
            d_loss = tf.nn.compute_average_loss(per_example, global_batch_size=global_batch)
            d_loss = self.d_optimizer.scale_loss(d_loss)
        self.d_optimizer.apply_gradients(zip(tape.gradient(d_loss, d_vars), d_vars))
        if self.ema_classifier is not None:
            update_average(self.ema_classifier, self.discriminator, self.classifier_ema, step)

        def matched(images: tf.Tensor) -> tf.Tensor:
            f = self.discriminator.features(
                images, training=True, before_noise=self.match_before_noise
            )
            return tf.cast(f, tf.float32)

        real_mean = global_mean(matched(unlabelled), global_batch)
        with tf.GradientTape() as tape:
            fake = self._fakes(c, global_batch, step, "g")
            features = matched(fake)
            fake_mean = global_mean(tf.stop_gradient(features), global_batch)
            gap = fake_mean - real_mean
            # d/df_i of ||m_real - m_fake||^2 is 2 (m_fake - m_real) / N for each fake i.
            surrogate = tf.reduce_sum(features * (2.0 * gap), axis=1)
            g_loss = tf.nn.compute_average_loss(surrogate, global_batch_size=global_batch)
            g_loss = self.g_optimizer.scale_loss(g_loss)
        self.g_optimizer.apply_gradients(zip(tape.gradient(g_loss, g_vars), g_vars))
        self._update_ema(step)
        self.step_counter.assign_add(1)

        correct = tf.cast(
            tf.equal(tf.argmax(logits_l, 1, output_type=tf.int32), labels), tf.float32
        )
        self.trackers["d_loss"].update_state(per_example)
        self.trackers["g_loss"].update_state(tf.reduce_sum(tf.square(gap))[None])
        self.trackers["supervised"].update_state(supervised)
        self.trackers["unsupervised"].update_state(unsupervised)
        self.trackers["train_accuracy"].update_state(correct)
        return self.logs(self.trackers)
