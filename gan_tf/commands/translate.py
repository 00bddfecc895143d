"""`gan-tf translate`: translate the images of a source with a CycleGAN run's translators."""

from __future__ import annotations

import argparse

from gan_tf.commands.evaluate import SOURCES_HELP


def add_parser(subparsers) -> None:
    p = subparsers.add_parser(
        "translate",
        help="translate images with a CycleGAN run (model.family=cyclegan)",
        description=(
            "Translate the images of SOURCE from domain A to domain B (G_AB) with the newest "
            "checkpoint of a CycleGAN workdir, or from B to A (G_BA) with --back, and write "
            "image i to DIR/<i>.png (DIR is replaced whole, atomically). SOURCE is "
            + SOURCES_HELP
            + ", e.g. sklearn_digits:train."
        ),
    )
    p.add_argument("--workdir", required=True, help="training workdir of a cyclegan run")
    p.add_argument("source", metavar="SOURCE", help="images to translate: " + SOURCES_HELP)
    p.add_argument("--out", required=True, metavar="DIR", help="directory of output PNGs")
    p.add_argument("--back", action="store_true", help="translate B -> A (G_BA)")
    p.add_argument("--num", type=int, help="translate only the first NUM images")
    p.add_argument("--batch-size", type=int, default=256, help="images per batch (default 256)")


def run(args: argparse.Namespace) -> int:
    import os

    from gan_tf import families, files, images
    from gan_tf.commands import check_num_and_batch_size, family_config
    from gan_tf.errors import GanTfError
    from gan_tf.families.cyclegan import CycleGANFamily, translate
    from gan_tf.metrics import sources

    check_num_and_batch_size(args)
    config = family_config(args.workdir, CycleGANFamily.name, "a CycleGAN", "cyclegan_digits")
    translators, step = families.for_config(config).load(args.workdir)
    net = translators.ba if args.back else translators.ab
    source = sources.open_source(args.source)
    count = 0
    with files.building_dir(os.path.abspath(args.out)) as tmp:
        for batch in sources.first_batches(source, args.num, args.batch_size):
            for image in translate(net, batch):
                images.write_png(os.path.join(tmp, f"{count:06d}.png"), image)
                count += 1
        if not count:
            raise GanTfError(f"{source.description} holds no images to translate")
    direction = "B -> A" if args.back else "A -> B"
    print(f"translated {count} images {direction} (step {step}) to {args.out}")
    return 0
