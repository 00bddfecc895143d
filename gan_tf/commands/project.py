"""`gan-tf project`: latents of real images, with their reconstructions and errors."""

from __future__ import annotations

import argparse


def add_parser(subparsers) -> None:
    p = subparsers.add_parser(
        "project",
        help="find the latents of real images (encoder, or optimisation) and reconstruct them",
        description=(
            "Find z with G(z) close to each image of --images: with the run's encoder when it "
            "has one (model.family=anomaly), otherwise by optimising z with a pixel + "
            "discriminator-feature loss. Writes latents.npy, reconstructions.png (each "
            "original beside its reconstruction), errors.csv and summary.json to --out."
        ),
    )
    p.add_argument("--workdir", required=True, help="training workdir")
    p.add_argument("--images", required=True, help="image source, as gan-tf evaluate takes")
    p.add_argument("--out", required=True, help="output directory")
    p.add_argument("--num", type=int, default=64, help="images to project (default 64)")
    p.add_argument("--steps", type=int, default=300, help="optimisation steps (default 300)")
    p.add_argument("--lr", type=float, default=0.05, help="optimisation learning rate")
    p.add_argument("--overwrite", action="store_true", help="replace a non-empty --out")


def run(args: argparse.Namespace) -> int:
    import os

    import numpy as np

    from gan_tf import checkpoint, families, files, images, networks, projection
    from gan_tf import workdir as workdir_lib
    from gan_tf.commands.synthesize import check_out
    from gan_tf.errors import GanTfError
    from gan_tf.metrics import sources

    if args.num <= 0 or args.steps <= 0 or args.lr <= 0:
        raise GanTfError("--num, --steps and --lr must be positive")
    check_out(args.out, args.overwrite)
    config = workdir_lib.load_config(args.workdir)
    source = sources.open_source(args.images)
    conditional = config.data.num_classes > 0
    batches = list(sources.first_batches(source, args.num, args.num, labels=conditional))
    x, labels = batches[0] if conditional else (batches[0], None)
    expected = (config.data.image_size, config.data.image_size, config.data.channels)
    x = sources.check_images(x, source.description, expected)
    if config.model.family == "anomaly":
        detector, step = families.for_config(config).load(args.workdir)
        method = "encoder"
        z, recon = projection.by_encoder(detector, x)
    elif config.model.family == "gan":
        generator, _, step = workdir_lib.load_generator(args.workdir)
        _, discriminator = networks.build(config)
        discriminator(discriminator.dummy_inputs())
        checkpoint.restore_items(
            {"discriminator": discriminator}, workdir_lib.checkpoint_dir(args.workdir)
        )
        method = f"optimisation ({args.steps} Adam steps, lr {args.lr})"
        z, recon = projection.by_optimisation(
            generator, discriminator, x, labels, args.steps, args.lr
        )
    else:
        raise GanTfError(f"{args.workdir} holds a {config.model.family!r} model: no projection")
    recon = images.to_uint8(recon)
    errors = np.mean(np.square(x.astype(np.float64) - recon) / 255.0**2, axis=(1, 2, 3))
    with files.building_dir(args.out) as tmp:
        np.save(os.path.join(tmp, "latents.npy"), z)
        # One row per image: the original, then its reconstruction.
        pairs = np.stack([x, recon], axis=1).reshape(-1, *x.shape[1:])
        images.write_png(os.path.join(tmp, "reconstructions.png"), images.make_grid(pairs, cols=2))
        with open(os.path.join(tmp, "errors.csv"), "w", encoding="utf-8") as f:
            f.write("index,mse\n")
            f.writelines(f"{i},{e:.6g}\n" for i, e in enumerate(errors))
        summary = {
            "workdir": os.path.abspath(args.workdir),
            "step": step,
            "images": source.description,
            "count": len(x),
            "method": method,
            "mean_mse": float(errors.mean()),
            "mse": "mean over pixels of ((x - G(z)) / 255)^2, per image",
        }
        files.atomic_write_json(os.path.join(tmp, "summary.json"), summary)
    print(f"projected {len(x)} images by {method}: mean MSE {errors.mean():.5f} → {args.out}")
    return 0
