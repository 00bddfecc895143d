"""`gan-tf classify`: classify images with a semi-supervised run's classifier and, on labelled
images, measure its error.

Classes come from `gan_tf.families.semi_supervised.predictions`, computed as the export's
`classify` signature computes them; errors from `gan_tf.metrics.classification`, as the
pipeline's classification gate measures them.
"""

from __future__ import annotations

import argparse

from gan_tf.commands.evaluate import SOURCES_HELP


def add_parser(subparsers) -> None:
    p = subparsers.add_parser(
        "classify",
        help="classify images with a semi-supervised run (model.family=semi_supervised)",
        description=(
            "Classes of the images of SOURCE by the run's classifier (the moving average "
            "when semi.classifier_ema is set, as exported). On labelled images it reports "
            "the test error, the error of the class classified worst and the error per "
            "true class; by default the images are the run's held-out split "
            "(semi.eval_split), labelled."
        ),
    )
    p.add_argument("--workdir", required=True, help="training workdir of a semi-supervised run")
    p.add_argument(
        "source",
        metavar="SOURCE",
        nargs="?",
        help="images to classify: " + SOURCES_HELP + "; an .npz may hold an integer "
        "'labels' array; default: the run's semi.eval_split",
    )
    p.add_argument(
        "--num",
        type=int,
        help="classify the first NUM images (default: all; required for a generator source)",
    )
    p.add_argument("--batch-size", type=int, default=256, help="images read per batch")
    p.add_argument(
        "--out", help="CSV to write, a row per image: index, class, probability[, label]"
    )
    p.add_argument("--json", dest="json_out", help="write the results as JSON here")


def run(args: argparse.Namespace) -> int:
    import json

    from gan_tf import families, files
    from gan_tf.commands import check_num_and_batch_size, family_config
    from gan_tf.families import semi_supervised
    from gan_tf.metrics import classification

    check_num_and_batch_size(args)
    family = semi_supervised.SemiSupervisedFamily.name
    config = family_config(args.workdir, family, "a semi-supervised classifier", "ssgan_mnist")
    images, labels, description = _images(config, args)
    inference, step = families.for_config(config).load(args.workdir)
    predicted, probabilities = semi_supervised.predictions(inference.classifier, images)
    result: dict = {"images": len(images)}
    if labels is not None:
        result.update(classification.errors(predicted, labels))
    result["protocol"] = {
        "workdir": args.workdir,
        "step": step,
        "source": description,
        "classifier": "moving average" if config.semi.classifier_ema else "discriminator",
    }
    if args.out:
        files.atomic_write(args.out, _csv(predicted, probabilities, labels))
    text = json.dumps(result, indent=2, sort_keys=True)
    if args.json_out:
        files.atomic_write(args.json_out, text + "\n")
    print(text)
    return 0


def _images(config, args: argparse.Namespace):
    """`(uint8 images, int64 labels or None, description)` of the images to classify."""
    import numpy as np

    from gan_tf.errors import DataError
    from gan_tf.families.semi_supervised import labelled_split
    from gan_tf.metrics import sources

    if args.source is None:
        split = config.semi.eval_split
        images, labels = labelled_split(config, split, args.num or 0)
        data = config.data
        return images, labels, f"{data.source}:{data.name or data.path}:{split}"
    source = sources.open_source(args.source)
    labelled = source.labelled is not None
    batches = list(sources.first_batches(source, args.num, args.batch_size, labelled))
    if not batches:
        raise DataError(f"{source.description} holds no images to classify")
    if not labelled:
        return np.concatenate(batches), None, source.description
    images, labels = (np.concatenate(part) for part in zip(*batches))
    return images, labels, source.description


def _csv(predicted, probabilities, labels) -> str:
    import csv
    import io

    text = io.StringIO()
    writer = csv.writer(text, lineterminator="\n")
    writer.writerow(["index", "class", "probability"] + (["label"] if labels is not None else []))
    for i, (k, p) in enumerate(zip(predicted, probabilities)):
        row = [i, int(k), f"{p[k]:.9g}"]
        writer.writerow(row + ([int(labels[i])] if labels is not None else []))
    return text.getvalue()
