"""Settings of a semi-supervised model small enough to train in seconds (`ssgan_mnist` on
256 MNIST images, 2 labels per class)."""

TINY = [
    "data.limit=256",
    "data.shuffle_buffer=256",
    "model.latent_dim=16",
    "model.generator.units=16,16",
    "model.discriminator.units=16,8",
    "train.batch_size=32",
    "train.steps=8",
    "train.steps_per_epoch=4",
    "train.checkpoint_every=4",
    "train.log_every=2",
    "train.image_every=100",
    "train.num_grid=4",
    "semi.labels_per_class=2",
    "semi.eval_every=4",
    "train.embed_samples=20",
]
