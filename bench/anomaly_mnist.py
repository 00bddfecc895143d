"""One-class MNIST anomaly detection, the standard protocol (Ruff et al. 2018): for each
digit c, train on the training images of c only, score the whole MNIST test set (10,000
images: c normal, the nine other digits anomalous), report AUROC (and AUPRC) per digit.

    python bench/anomaly_mnist.py --root /tmp/anomaly_bench              # all ten digits
    python bench/anomaly_mnist.py --root /tmp/anomaly_bench --digits 0,1 --set train.steps=3000
    python bench/anomaly_mnist.py --root /tmp/anomaly_bench --table      # markdown table

Each digit trains the `anomaly_mnist` preset (plus `--set` overrides) into
`<root>/digit_<c>` with `gan_tf.train.train` (rerunning resumes; a finished digit is only
scored again), then scores the test set with the run's `Detector` (the scoring path of the
CLI, the gate and the export). One JSON line per digit goes to `<root>/results.jsonl`:
AUROC, AUPRC, the TPR at 5% FPR, training wall time and scoring throughput (images/s, the
10,000 test images in batches of 256, after one warm-up batch).
"""

from __future__ import annotations

import argparse
import os
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import results  # noqa: E402  (bench/results.py)

# Published one-class MNIST AUROC means for the README table (same protocol).
PUBLISHED = {"Deep SVDD (Ruff et al. 2018)": 0.948, "OCGAN (Perera et al. 2019)": 0.975}


def run_digit(root: str, digit: int, overrides: list[str]) -> dict:
    from gan_tf import families, presets, train
    from gan_tf.families.anomaly import labelled_images
    from gan_tf.metrics import detection

    config = presets.anomaly_mnist().override([f"data.normal_classes={digit}", *overrides])
    workdir = os.path.join(root, f"digit_{digit}")
    start = time.perf_counter()
    result = train.train(config, workdir, verbose=2)
    train_seconds = time.perf_counter() - start
    family = families.for_config(config)
    detector, step = family.load(workdir)
    images, anomalous = labelled_images(config)
    detector.score(images[:256])  # warm-up: tracing
    start = time.perf_counter()
    scores = detector.score(images)["scores"]
    score_seconds = time.perf_counter() - start
    summary = detection.summary(scores, anomalous, fpr=0.05)
    return {
        "digit": digit,
        "step": step,
        "steps_trained": step - result.start_step,
        "train_seconds": round(train_seconds, 1),
        "score_images_per_second": round(len(images) / score_seconds),
        "overrides": overrides,
        **{k: round(v, 4) if isinstance(v, float) else v for k, v in summary.items()},
    }


def table(path: str) -> str:
    rows = results.newest_rows(path, "digit")
    lines = [
        "| digit | AUROC | AUPRC | TPR @ 5% FPR | train (s) | score (img/s) |",
        "|---|---|---|---|---|---|",
    ]
    for digit in sorted(rows):
        r = rows[digit]
        lines.append(
            f"| {digit} | {r['auroc']:.3f} | {r['auprc']:.3f} | {r['tpr']:.3f} | "
            f"{r['train_seconds']:.0f} | {r['score_images_per_second']:,} |"
        )
    if rows:
        mean = sum(r["auroc"] for r in rows.values()) / len(rows)
        lines.append(f"| **mean ({len(rows)} digits)** | **{mean:.3f}** | | | | |")
    for name, value in PUBLISHED.items():
        lines.append(f"| {name}, mean | {value:.3f} | | | | |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--root", required=True, help="directory of the per-digit workdirs")
    parser.add_argument("--digits", default="0,1,2,3,4,5,6,7,8,9")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--table", action="store_true", help="print the table of results")
    args = parser.parse_args()
    results.run_or_table(args.root, args.digits, args.set, args.table, run_digit, table)


if __name__ == "__main__":
    main()
