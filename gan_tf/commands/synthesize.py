"""`gan-tf synthesize`: a labelled, class-balanced synthetic dataset from a conditional run.

Sample `i` uses seed `--seed + i` and class `seed % num_classes` (the convention of
`gan_tf.sampling`), so `--per-class N` seeds in a row hold exactly N of each class and every
image is a function of its own seed. The output is in a layout the training pipeline reads:

    --format tfrecord   synthetic-00000-of-0000K.tfrecord ... (`data.source=tfrecord`,
                        `data.path=OUT/*.tfrecord`): tf.Example with PNG bytes under `image`
                        and the int64 class under `label`, records in seed order
    --format folder     one sub-folder per class, named by its zero-padded index so that
                        sorted names are class order, one PNG per seed (`data.source=folder`)

plus `manifest.json`: the run and its checkpoint step, and for every file its seeds and
labels in order. The directory is built beside --out and renamed into place when complete.
"""

from __future__ import annotations

import argparse
import itertools
import os

FORMATS = ("tfrecord", "folder")
# Images per generator call.
BATCH = 256


def add_parser(subparsers) -> None:
    p = subparsers.add_parser(
        "synthesize",
        help="write a class-balanced labelled dataset sampled from a conditional run",
        description=(
            "Sample --per-class images of every class from the EMA generator of the latest "
            "checkpoint in --workdir (image i: seed --seed + i, class seed %% num_classes) "
            "and write them to the directory --out as TFRecord shards or class folders, with "
            "manifest.json. The same command writes the same bytes."
        ),
    )
    p.add_argument("--workdir", required=True, help="training workdir of a conditional run")
    p.add_argument("--per-class", type=int, required=True, help="images per class")
    p.add_argument("--out", required=True, help="output directory (must be empty or absent)")
    p.add_argument(
        "--format", choices=FORMATS, default="tfrecord", help="tfrecord (default) or folder"
    )
    p.add_argument("--shards", type=int, default=1, help="TFRecord files (default 1)")
    p.add_argument("--seed", type=int, default=0, help="first seed (default 0)")
    p.add_argument(
        "--overwrite", action="store_true", help="replace a non-empty --out (atomically)"
    )


def run(args: argparse.Namespace) -> int:
    import numpy as np

    from gan_tf import files, sampling, workdir
    from gan_tf.errors import GanTfError

    if args.per_class <= 0:
        raise GanTfError(f"--per-class must be positive, got {args.per_class}")
    if args.shards <= 0:
        raise GanTfError(f"--shards must be positive, got {args.shards}")
    if args.format != "tfrecord" and args.shards != 1:
        raise GanTfError("--shards applies to --format tfrecord only")
    if args.seed < 0:
        raise GanTfError(f"--seed must be >= 0, got {args.seed}")
    check_out(args.out, args.overwrite)
    num_classes = workdir.load_config(args.workdir).data.num_classes
    if num_classes <= 0:
        raise GanTfError(
            f"{args.workdir} holds an unconditional model: synthesize needs a class-conditional "
            "run (data.num_classes > 0) to label its samples"
        )
    total = args.per_class * num_classes
    if args.shards > total:
        raise GanTfError(f"--shards {args.shards} is more than the {total} images to write")

    family, inference, step = workdir.load_run(args.workdir)
    generate = family.generate(inference)
    if generate is None:
        raise GanTfError(f"{args.workdir} holds a {family.name!r} model, which does not generate")
    seeds = np.arange(args.seed, args.seed + total, dtype=np.int64)
    labels = sampling.labels_for_seeds(seeds, num_classes)
    with files.building_dir(args.out) as tmp:
        if args.format == "tfrecord":
            entries = write_tfrecords(tmp, generate, seeds, labels, args.shards)
        else:
            entries = write_folders(tmp, generate, seeds, labels, num_classes)
        manifest = {
            "workdir": os.path.abspath(args.workdir),
            "step": step,
            "format": args.format,
            "num_classes": num_classes,
            "per_class": args.per_class,
            "first_seed": args.seed,
            "count": total,
            "label_rule": "seed % num_classes",
            "files": entries,
        }
        files.atomic_write_json(os.path.join(tmp, "manifest.json"), manifest)
    print(
        f"wrote {total} images ({args.per_class} per class, {num_classes} classes, step {step}) "
        f"to {args.out} as {args.format}"
    )
    return 0


def check_out(out: str, overwrite: bool) -> None:
    """Refuses an --out that is a file, or a non-empty directory without --overwrite."""
    from gan_tf.errors import GanTfError

    if os.path.exists(out) and not os.path.isdir(out):
        raise GanTfError(f"--out {out} is a file, not a directory")
    if os.path.isdir(out) and os.listdir(out) and not overwrite:
        raise GanTfError(f"--out {out} is not empty; pass --overwrite to replace its contents")


def images_of(generate, seeds):
    """uint8 images of `seeds`, one at a time, generated `BATCH` at a time from the first
    seed whatever the format and sharding, so a seed's image is the same in every layout."""
    for start in range(0, len(seeds), BATCH):
        yield from generate(seeds[start : start + BATCH])


def write_tfrecords(root, generate, seeds, labels, shards: int) -> list[dict]:
    """Contiguous seed ranges as `shards` TFRecord files; returns their manifest entries."""
    from gan_tf.data import tfrecord

    entries = []
    bounds = [len(seeds) * shard // shards for shard in range(shards + 1)]
    stream = images_of(generate, seeds)
    for shard, (lo, hi) in enumerate(zip(bounds[:-1], bounds[1:])):
        name = f"synthetic-{shard:05d}-of-{shards:05d}.tfrecord"
        count = tfrecord.write_images(
            os.path.join(root, name), itertools.islice(stream, hi - lo), labels[lo:hi].tolist()
        )
        entries.append(entry(name, count, seeds[lo:hi], labels[lo:hi]))
    return entries


def write_folders(root, generate, seeds, labels, num_classes: int) -> list[dict]:
    """One PNG per seed in its class's folder; returns the files' manifest entries."""
    from gan_tf.data import tfrecord

    class_width = len(str(num_classes - 1))
    seed_width = len(str(int(seeds[-1])))
    for label in range(num_classes):
        os.makedirs(os.path.join(root, f"{label:0{class_width}d}"))
    entries = []
    for seed, label, image in zip(seeds, labels, images_of(generate, seeds)):
        name = f"{label:0{class_width}d}/{seed:0{seed_width}d}.png"
        with open(os.path.join(root, name), "wb") as f:
            f.write(tfrecord.encode_png(image))
        entries.append(entry(name, 1, [seed], [label]))
    return entries


def entry(path: str, count: int, seeds, labels) -> dict:
    """A manifest entry: a file (relative to --out), its image count, seeds and labels."""
    return {
        "path": path,
        "count": int(count),
        "seeds": [int(s) for s in seeds],
        "labels": [int(label) for label in labels],
    }
