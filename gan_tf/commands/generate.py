"""`gan-tf generate`: a grid of samples from a trained workdir's EMA generator."""

from __future__ import annotations

import argparse

from gan_tf.commands import check_labels


def add_parser(subparsers) -> None:
    p = subparsers.add_parser(
        "generate",
        help="write a PNG grid of samples from a trained run",
        description=(
            "Generate --num images from the EMA generator of the latest checkpoint in "
            "--workdir. Image i uses seed --seed + i, so the same seed always gives the same "
            "image."
        ),
    )
    p.add_argument("--workdir", required=True, help="training workdir")
    p.add_argument("--num", type=int, default=64, help="number of images (default 64)")
    p.add_argument("--seed", type=int, default=0, help="first seed (default 0)")
    p.add_argument("--out", required=True, help="output PNG path")
    p.add_argument("--label", type=int, help="class of every image (conditional models)")


def run(args: argparse.Namespace) -> int:
    import numpy as np

    from gan_tf import images, sampling, workdir
    from gan_tf.errors import GanTfError

    if args.num <= 0:
        raise GanTfError(f"--num must be positive, got {args.num}")
    generator, config, step = workdir.load_generator(args.workdir)
    num_classes = config.data.num_classes
    if args.label is not None:
        check_labels([args.label], num_classes, "--label")
    z = sampling.latents_for_seeds(np.arange(args.seed, args.seed + args.num), generator.latent_dim)
    labels = sampling.default_labels(args.num, num_classes, args.label)
    x = generator(generator.inputs_for(z, labels), training=False)
    images.write_png(args.out, images.make_grid(images.to_uint8(x)))
    print(f"wrote {args.num} samples (step {step}) to {args.out}")
    return 0
