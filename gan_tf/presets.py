"""Named run configurations. Each preset is a function returning a frozen `Config`."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

from gan_tf.config import (
    AnomalyConfig,
    Config,
    CycleConfig,
    DataConfig,
    EvalConfig,
    ExportConfig,
    LossConfig,
    ModelConfig,
    ProgressiveConfig,
    SemiSupervisedConfig,
    TrainConfig,
)
from gan_tf.errors import ConfigError


def smoke() -> Config:
    """A tiny DCGAN on 512 MNIST images: trains, logs and checkpoints in seconds on a CPU, and
    already draws most digit classes (80 steps at a high learning rate)."""
    return Config(
        data=DataConfig(limit=512, shuffle_buffer=512),
        model=ModelConfig(
            arch="dcgan",
            latent_dim=16,
            generator={"width": 16, "kernel_size": 3},
            discriminator={"width": 16, "kernel_size": 3},
        ),
        train=TrainConfig(
            batch_size=32,
            steps=80,
            steps_per_epoch=20,
            g_lr=2e-3,
            d_lr=2e-3,
            log_every=10,
            image_every=40,
            checkpoint_every=40,
            num_grid=16,
            ema_decay=0.9,
            embed_samples=256,
        ),
        eval=EvalConfig(every=0, num_samples=256),
    )


def dcgan_mnist() -> Config:
    """The default quality run: DCGAN, non-saturating loss, EMA generator, full MNIST.

    The discriminator's fully connected hidden layer (`model.discriminator.hidden`, as in the
    InfoGAN/Lucic et al. MNIST discriminator) is what evens the digit classes out: without it
    the samples run from 4.7% (digit 1) to 20.6% (digit 9); with it, 7.1-12.6%
    (docs/quality.md). That discriminator can also overpower the generator from the start on
    some data orders (the pipeline's TFRecords: d_loss 0.2 by step 950, samples one texture);
    DiffAugment translation keeps it in check there (d_loss 1.2, learning). Cutout as well
    cost 10 FID more."""
    return Config(
        model=ModelConfig(
            arch="dcgan",
            latent_dim=64,
            generator={"width": 32, "kernel_size": 3},
            discriminator={"width": 64, "kernel_size": 3, "hidden": 1024},
        ),
        train=TrainConfig(
            batch_size=64,
            steps=3000,
            steps_per_epoch=500,
            g_lr=2e-4,
            d_lr=2e-4,
            ema_decay=0.999,
            diffaugment="translation",
            log_every=50,
            image_every=500,
            checkpoint_every=500,
        ),
        # Domain-classifier KID/FID of the EMA generator every 500 steps: ~2.5 CPU-s each
        # (under 2% of the run); Inception scores come from `gan-tf evaluate`.
        eval=EvalConfig(every=500, num_samples=1000, metrics="kid,fid", features="domain"),
    )


def _dcgan_mnist_on(data: DataConfig) -> Config:
    """`dcgan_mnist`'s networks and schedule on other data, without DiffAugment and without
    in-training scores."""
    base = dcgan_mnist()
    return base.replace(
        data=data, train=dataclasses.replace(base.train, diffaugment=""), eval=EvalConfig(every=0)
    )


def cgan_mnist() -> Config:
    """Class-conditional DCGAN on MNIST (class embedding in G, projection discriminator),
    without DiffAugment: the settings measured in the README (on the TFDS data order)."""
    return _dcgan_mnist_on(DataConfig(num_classes=10))


def wgan_gp_mnist() -> Config:
    """WGAN-GP on MNIST: Wasserstein loss, gradient penalty 10, 5 critic steps, no BatchNorm
    in the critic (Gulrajani et al., 2017)."""
    base = dcgan_mnist()
    return base.replace(
        model=ModelConfig(
            arch="dcgan",
            latent_dim=64,
            generator={"width": 32, "kernel_size": 3},
            discriminator={"width": 64, "kernel_size": 3, "norm": "layer"},
        ),
        loss=LossConfig(name="wasserstein", gp_weight=10.0),
        train=TrainConfig(
            batch_size=64,
            steps=2000,
            steps_per_epoch=500,
            d_steps=5,
            g_lr=1e-4,
            d_lr=1e-4,
            beta_1=0.0,
            beta_2=0.9,
            log_every=50,
            image_every=500,
            checkpoint_every=500,
        ),
        eval=EvalConfig(every=0),
    )


def dcgan_fashion_mnist() -> Config:
    """`dcgan_mnist` on Fashion-MNIST (read offline from its IDX files, see README). The
    in-training scores use the MNIST domain classifier, which means nothing on clothes, so
    they are off; `gan-tf evaluate --reference fashion_mnist:test` gives the Inception scores.
    Without DiffAugment: the settings measured in the README."""
    return _dcgan_mnist_on(DataConfig(name="fashion_mnist"))


def anomaly_mnist() -> Config:
    """One-class MNIST anomaly detection (f-AnoGAN): the GAN and then the encoder train on
    digit 0 only; the score is evaluated on the whole test split, 0 normal and 1-9
    anomalous. `--set data.normal_classes=c` picks another digit (bench/anomaly_mnist.py
    runs all ten)."""
    return Config(
        data=DataConfig(normal_classes="0"),
        model=ModelConfig(
            family="anomaly",
            arch="dcgan",
            latent_dim=64,
            generator={"width": 32, "kernel_size": 3},
            discriminator={"width": 64, "kernel_size": 3},
            encoder={"width": 64, "kernel_size": 3},
        ),
        train=TrainConfig(steps=2000, steps_per_epoch=250, checkpoint_every=500, image_every=500),
        export=ExportConfig(model_name="anomaly"),
        anomaly=AnomalyConfig(encoder_steps=500, eval_every=250, eval_samples=2000),
    )


def ssgan_mnist() -> Config:
    """Semi-supervised MNIST with 100 labels (10 per class, label draw `semi.label_seed`):
    the K-class discriminator of Salimans et al. (2016) with a feature-matching generator and
    their MNIST networks: a 1000-500-250-250-250 ReLU discriminator with weight-normalised
    layers initialised from data and Gaussian noise on its input and every hidden layer, a
    500-500 softplus generator with batch norm; every training image is used unlabelled. 60
    epochs, the learning rates falling linearly to 0 over the last 30, classifying with the
    discriminator's moving average (decay 0.9999) as Salimans et al. do: test error 1.49% ±
    0.05 over three label draws here, against 2.10% ± 0.03 after 20 epochs (README)."""
    return Config(
        data=DataConfig(num_classes=10),
        model=ModelConfig(
            family="semi_supervised",
            arch="mlp",
            latent_dim=100,
            generator={"units": "500,500", "activation": "softplus", "norm": "batch"},
            discriminator={
                "units": "1000,500,250,250,250",
                "activation": "relu",
                "weight_norm": True,
                "data_init": True,
                "norm": "none",
                # 0.3 on [0, 1] images, as published; images here are in [-1, 1].
                "noise": 0.6,
                "hidden_noise": 0.5,
            },
        ),
        train=TrainConfig(
            batch_size=100,
            steps=36000,
            steps_per_epoch=600,
            g_lr=3e-3,
            d_lr=3e-3,
            lr_decay_start=0.5,
            checkpoint_every=1200,
            image_every=1200,
        ),
        export=ExportConfig(model_name="ssgan"),
        semi=SemiSupervisedConfig(
            labels_per_class=10, unsupervised_weight=0.5, eval_every=1200, classifier_ema=0.9999
        ),
    )


def stylegan_mnist() -> Config:
    """A style-based generator (mapping network, modulated convolutions, per-layer noise,
    style mixing 0.9, tracked average w) and a discriminator with minibatch standard
    deviation, on MNIST with `dcgan_mnist`'s learning rates and evaluation, and
    StyleGAN's R1 penalty (gamma 10) in place of DiffAugment; 16 channels at 28 px and batch
    16, whose 8,000 steps take the wall-clock time of `dcgan_mnist`'s 3,000 here.

    Changes from the first version, each measured here (README, "Style-based generator"):
    the mapping network has equalised learning rates (`gan_tf.networks.stylegan.ScaledDense`)
    at 0.1 of the generator's, since at the full rate with plain layers its w collapsed to
    one point (spread across z 0.022 against a norm of 5.2 after 1,970 steps), and 0.1 beat
    StyleGAN's 0.01; R1 replaces DiffAugment, with which the images still collapsed to one
    digit (506 of 512 seeds at step 1,469) while the discriminator won (logits +4.0 / -2.1);
    and a tanh bounds the output, whose linear images had grey backgrounds (domain FID at
    step 1,000 from 250.1 to 146.4 with both of the last changes); and the generator at half
    the width (16 channels at 28 px and 64 at 7, from 32 and 128) with batch 16 rather than
    64: a step takes 40 ms rather than 225 alone and learns no less (domain FID 115.1 at
    step 1,500 against 117.1), reaching 15.3 at step 8,000, where the wider one at batch 64
    was near 117 after the same time."""
    base = dcgan_mnist()
    return dataclasses.replace(
        base,
        model=ModelConfig(
            family="stylegan",
            arch="stylegan",
            latent_dim=64,
            generator={
                "width": 16,
                "w_dim": 128,
                "mapping_layers": 4,
                "mapping_lr_mul": 0.1,
                "tanh_output": True,
            },
            discriminator={"width": 16, "hidden": 256, "mbstd_group": 4},
        ),
        # R1 on every 16th step (StyleGAN2's lazy regularisation): 1,427 steps in the budget
        # that gave 1,255 with R1 on every step, Inception FID 112.9 against 138.3 (README).
        loss=LossConfig(r1_gamma=10.0, r1_every=16),
        train=dataclasses.replace(base.train, diffaugment="", batch_size=16, steps=8000),
    )


def stylegan_smoke() -> Config:
    """`stylegan_mnist` with networks of a few channels, batch 8, on 512 images: steps run
    in milliseconds (tests, trying settings)."""
    base = stylegan_mnist()
    return dataclasses.replace(
        base,
        data=DataConfig(limit=512, shuffle_buffer=512),
        model=ModelConfig(
            family="stylegan",
            arch="stylegan",
            latent_dim=8,
            generator={"width": 4, "w_dim": 8},
            discriminator={"width": 4, "hidden": 8, "mbstd_group": 2},
        ),
        loss=LossConfig(),
        train=dataclasses.replace(smoke().train, batch_size=8, diffaugment="translation"),
        eval=EvalConfig(every=0),
    )


def progressive_dcgan_mnist() -> Config:
    """`dcgan_mnist` grown progressively from 7x7: 500 steps per resolution, 500-step fades
    (full 28 px networks from step 2,000 of 3,000)."""
    base = dcgan_mnist()
    model = base.model
    return dataclasses.replace(
        base,
        model=dataclasses.replace(
            model,
            generator={**model.generator, "progressive": True},
            discriminator={**model.discriminator, "progressive": True},
        ),
        progressive=ProgressiveConfig(stage_steps=500, fade_steps=500),
    )


def cyclegan_digits() -> Config:
    """Unpaired translation of the 1,797 scikit-learn 8x8 digits (upsampled to 28x28,
    `gan_tf.data.sklearn_digits`) to MNIST and back: CycleGAN with least-squares losses,
    cycle weight 10, identity weight 5 (the paper's 0.5 x cycle) and a buffer of 50 past
    fakes; bench/cyclegan_digits.py measures what the translation preserves.

    The translators do not downsample (`downsamplings=0`): their blocks work on 28 px
    features and each output pixel sees a 25 px window, where CycleGAN's two downsamplings
    give 7 px features that each see the whole image. With those, about one translated digit
    in five changed class (MNIST-classifier accuracy 80.3%, below the 90.9% of the digits as
    they are); without, 92.6% (README, "Unpaired translation")."""
    return Config(
        data=DataConfig(name="sklearn_digits", shuffle_buffer=1797),
        data_b=DataConfig(name="mnist"),
        model=ModelConfig(
            family="cyclegan",
            arch="cyclegan",
            generator={"width": 32, "blocks": 3, "downsamplings": 0},
            discriminator={"width": 32},
        ),
        loss=LossConfig(name="least_squares"),
        train=TrainConfig(
            batch_size=16,
            steps=3000,
            steps_per_epoch=250,
            lr_decay_start=0.5,
            checkpoint_every=500,
            image_every=500,
            log_every=50,
        ),
        export=ExportConfig(model_name="cyclegan"),
        cycle=CycleConfig(cycle_weight=10.0, identity_weight=5.0, buffer_size=50),
    )


PRESETS: dict[str, Callable[[], Config]] = {
    "smoke": smoke,
    "dcgan_mnist": dcgan_mnist,
    "cgan_mnist": cgan_mnist,
    "wgan_gp_mnist": wgan_gp_mnist,
    "dcgan_fashion_mnist": dcgan_fashion_mnist,
    "anomaly_mnist": anomaly_mnist,
    "ssgan_mnist": ssgan_mnist,
    "stylegan_mnist": stylegan_mnist,
    "stylegan_smoke": stylegan_smoke,
    "progressive_dcgan_mnist": progressive_dcgan_mnist,
    "cyclegan_digits": cyclegan_digits,
}


def get(name: str) -> Config:
    """Returns the preset called `name`.

    Raises:
      ConfigError: if there is no such preset.
    """
    if name not in PRESETS:
        raise ConfigError(f"unknown preset {name!r}; expected one of {', '.join(PRESETS)}")
    return PRESETS[name]()
