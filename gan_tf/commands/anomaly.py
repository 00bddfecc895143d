"""`gan-tf anomaly`: score images with a run's anomaly detector, and measure how well it
separates normal from anomalous images.

Both sub-commands score through `gan_tf.detector.Detector.score`, the one scoring path the
export's `score` signature and training's evaluation use too.
"""

from __future__ import annotations

import argparse
import sys

from gan_tf.commands.evaluate import SOURCES_HELP

CSV_COLUMNS = ("index", "score", "image_residual", "feature_residual")


def add_parser(subparsers) -> None:
    p = subparsers.add_parser(
        "anomaly",
        help="score images with an anomaly detector (model.family=anomaly) and evaluate it",
        description=(
            "Anomaly scores of an f-AnoGAN run (e.g. --preset anomaly_mnist): 'score' writes "
            "the score of each image of a source to a CSV; 'evaluate' measures AUROC, AUPRC "
            "and the threshold at a false-positive rate on labelled images. A higher score "
            "means more anomalous."
        ),
    )
    sub = p.add_subparsers(dest="action", metavar="ACTION")
    sub.required = True

    score = sub.add_parser(
        "score",
        help="write the anomaly score of every image of a source to a CSV",
        description=(
            "One CSV row per image of SOURCE, in order: index, score, image_residual, "
            "feature_residual, and label when the source has labels. SOURCE is "
            + SOURCES_HELP
            + "; an .npz may hold an integer 'labels' array."
        ),
    )
    _add_common(score)
    score.add_argument("source", metavar="SOURCE", help="images to score: " + SOURCES_HELP)
    score.add_argument("--out", required=True, help="CSV file to write (replaced atomically)")
    score.add_argument(
        "--reconstructions",
        metavar="DIR",
        help="also write each image's reconstruction G(E(x)) to DIR/<index>.png",
    )

    evaluate = sub.add_parser(
        "evaluate",
        help="AUROC, AUPRC and the threshold at a false-positive rate on labelled images",
        description=(
            "Score labelled images and report AUROC, AUPRC, the score threshold whose "
            "false-positive rate on the normal images is at most --fpr, its true-positive "
            "rate, and the counts. Images whose label is one of the normal classes are "
            "normal, all others anomalous. By default the images are the run's held-out "
            "split (anomaly.eval_split) with its normal classes (data.normal_classes)."
        ),
    )
    _add_common(evaluate)
    evaluate.add_argument(
        "source",
        metavar="SOURCE",
        nargs="?",
        help="labelled images (a dataset split such as mnist:test, or an .npz with 'images' "
        "and 'labels'); default: the run's anomaly.eval_split",
    )
    evaluate.add_argument(
        "--normal-classes",
        help="labels that are normal, e.g. 0 or 3,5 (default: the run's data.normal_classes)",
    )
    evaluate.add_argument(
        "--fpr",
        type=float,
        help="false-positive rate of the reported threshold (default: the run's anomaly.fpr)",
    )
    evaluate.add_argument("--histogram", help="write a PNG histogram of normal/anomalous scores")
    evaluate.add_argument("--json", dest="json_out", help="write the results as JSON here")


def _add_common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--workdir", required=True, help="training workdir of an anomaly run")
    p.add_argument(
        "--num",
        type=int,
        help="score the first NUM images (default: all; required for a generator source)",
    )
    p.add_argument("--batch-size", type=int, default=256, help="images per forward pass")


def run(args: argparse.Namespace) -> int:
    from gan_tf.commands import check_num_and_batch_size
    from gan_tf.errors import GanTfError

    check_num_and_batch_size(args)
    if getattr(args, "fpr", None) is not None and not 0.0 <= args.fpr <= 1.0:
        raise GanTfError(f"--fpr must be in [0, 1], got {args.fpr}")
    if args.action == "score":
        return _score(args)
    return _evaluate(args)


def load_detector(workdir: str):
    """The family, `Detector` and checkpoint step of an anomaly run.

    Raises:
      GanTfError: for a missing workdir, another model family, or a run whose newest
        checkpoint is from before the encoder steps.
    """
    from gan_tf import families
    from gan_tf.commands import family_config
    from gan_tf.families.anomaly import AnomalyFamily

    config = family_config(workdir, AnomalyFamily.name, "an anomaly detector", "anomaly_mnist")
    family = families.for_config(config)
    detector, step = family.load(workdir)
    return family, detector, step


def score_batches(detector, batches, reconstructions: str | None = None):
    """Scores `(images, labels or None)` batches.

    Returns:
      `(parts, labels)`: `Detector.score`'s scores and residuals over all images (no
      reconstructions), and the labels (None when the batches have none).

    Raises:
      DataError: for images the detector does not take, or no images at all.
    """
    import os

    import numpy as np

    from gan_tf import images as images_lib
    from gan_tf.errors import DataError

    parts: dict[str, list[np.ndarray]] = {key: [] for key in CSV_COLUMNS[1:]}
    labels: list[np.ndarray] = []
    start = 0
    for x, y in batches:
        scored = detector.score(x)
        for key, values in parts.items():
            values.append(scored["scores" if key == "score" else key])
        if y is not None:
            labels.append(y)
        if reconstructions:
            for i, image in enumerate(scored["reconstructions"]):
                images_lib.write_png(os.path.join(reconstructions, f"{start + i:06d}.png"), image)
        start += len(x)
    if not start:
        raise DataError("there are no images to score")
    joined = {key: np.concatenate(values) for key, values in parts.items()}
    return joined, (np.concatenate(labels) if labels else None)


def _pairs(source, args: argparse.Namespace, labels: bool):
    """`(images, labels or None)` batches of the first `--num` images of `source`."""
    from gan_tf.metrics import sources

    batches = sources.first_batches(source, args.num, args.batch_size, labels)
    return batches if labels else ((x, None) for x in batches)


def _score(args: argparse.Namespace) -> int:
    import csv
    import io

    from gan_tf import files
    from gan_tf.metrics import sources

    _, detector, step = load_detector(args.workdir)
    source = sources.open_source(args.source)
    labelled = source.labelled is not None
    parts, labels = score_batches(detector, _pairs(source, args, labelled), args.reconstructions)
    text = io.StringIO()
    writer = csv.writer(text, lineterminator="\n")
    writer.writerow(CSV_COLUMNS + (("label",) if labelled else ()))
    for i in range(len(parts["score"])):
        row = [i] + [f"{parts[key][i]:.9g}" for key in CSV_COLUMNS[1:]]
        writer.writerow(row + ([int(labels[i])] if labelled else []))
    files.atomic_write(args.out, text.getvalue())
    print(
        f"scored {len(parts['score'])} images of {source.description} with {args.workdir} "
        f"(step {step}): {args.out}"
    )
    return 0


def _evaluate(args: argparse.Namespace) -> int:
    import json

    import numpy as np

    from gan_tf import files
    from gan_tf.config import parse_classes
    from gan_tf.errors import GanTfError
    from gan_tf.metrics import detection, sources

    family, detector, step = load_detector(args.workdir)
    config = family.config
    fpr = config.anomaly.fpr if args.fpr is None else args.fpr
    normal_text = config.data.normal_classes if args.normal_classes is None else args.normal_classes
    normal = parse_classes(normal_text, "--normal-classes")
    if args.source is None:
        from gan_tf.families.anomaly import labelled_images

        if args.normal_classes is not None:
            config = config.override([f"data.normal_classes={args.normal_classes}"])
        images, anomalous = labelled_images(config, args.num or 0)
        scores = detector.score(images, args.batch_size)["scores"]
        data = config.data
        description = f"{data.source}:{data.name or data.path}:{config.anomaly.eval_split}"
    else:
        if not normal:
            raise GanTfError(
                "say which labels are normal: --normal-classes (the run has no "
                "data.normal_classes)"
            )
        source = sources.open_source(args.source)
        parts, labels = score_batches(detector, _pairs(source, args, labels=True))
        scores, anomalous = parts["score"], ~np.isin(labels, normal)
        description = source.description
    result = detection.summary(scores, anomalous, fpr)
    result["protocol"] = {
        "workdir": args.workdir,
        "step": step,
        "source": description,
        "normal_classes": ",".join(map(str, normal)),
        "target_fpr": fpr,
        "score": "mean((x - G(E(x)))^2) + feature_weight * mean((f(x) - f(G(E(x))))^2)",
        "feature_weight": detector.feature_weight,
    }
    text = json.dumps(result, indent=2, sort_keys=True)
    if args.json_out:
        files.atomic_write(args.json_out, text + "\n")
    print(text)
    if args.histogram:
        from gan_tf import images, score_histogram

        title = (
            f"{description}: {result['normal']} normal, {result['anomalous']} anomalous; "
            f"AUROC {result['auroc']:.4f}\nthreshold at FPR {result['fpr']:.4f}: "
            f"TPR {result['tpr']:.4f} ({args.workdir}, step {step})"
        )
        images.write_png(
            args.histogram,
            score_histogram.draw(scores, anomalous, result["threshold"], title),
        )
        print(f"histogram: {args.histogram}", file=sys.stderr)
    return 0
