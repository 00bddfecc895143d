"""Semi-supervised MNIST with 100 labels (Salimans et al. 2016 protocol): train `ssgan_mnist`
once per label draw (10 labelled images per class, the rest unlabelled), report the test
error of the discriminator's classifier on the 10,000 MNIST test images.

    python bench/semi_supervised.py --root /tmp/ssgan --draws 0,1,2
    python bench/semi_supervised.py --root /tmp/ssgan --draws 0 --set train.steps=3000
    python bench/semi_supervised.py --root /tmp/ssgan --table

Draw d trains into `<root>/draw_<d>` with `semi.label_seed=d` (rerunning resumes) and
appends one JSON line to `<root>/results.jsonl`. Published: 0.93% +- 0.07 (93 +- 6.5 errors
of 10,000; Salimans et al. 2016, feature matching, 100 labels).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import results  # noqa: E402  (bench/results.py)


def run_draw(root: str, draw: int, overrides: list[str]) -> dict:
    import numpy as np

    from gan_tf import families, presets, train
    from gan_tf.families import semi_supervised

    config = presets.ssgan_mnist().override([f"semi.label_seed={draw}", *overrides])
    workdir = os.path.join(root, f"draw_{draw}")
    start = time.perf_counter()
    result = train.train(config, workdir, verbose=2)
    seconds = time.perf_counter() - start
    inference, step = families.for_config(config).load(workdir)
    images, labels = semi_supervised.labelled_split(config, "test")
    errors = int(np.sum(semi_supervised.classify(inference.classifier, images) != labels))
    return {
        "draw": draw,
        "step": step,
        "steps_trained": step - result.start_step,
        "train_seconds": round(seconds, 1),
        "test_errors": errors,
        "test_images": len(labels),
        "test_error_percent": round(100 * errors / len(labels), 3),
        "overrides": overrides,
    }


def table(path: str) -> str:
    rows = results.newest_rows(path, "draw")
    lines = ["| label draw | steps | test error (of 10,000) | train (s) |", "|---|---|---|---|"]
    for draw in sorted(rows):
        r = rows[draw]
        lines.append(
            f"| {draw} | {r['step']:,} | {r['test_error_percent']:.2f}% ({r['test_errors']}) | "
            f"{r['train_seconds']:.0f} |"
        )
    errors = [r["test_error_percent"] for r in rows.values()]
    if len(errors) > 1:
        lines.append(
            f"| **mean ± sd ({len(errors)} draws)** | | **{statistics.mean(errors):.2f}% ± "
            f"{statistics.stdev(errors):.2f}** | |"
        )
    lines.append("| Salimans et al. 2016 (feature matching) | | 0.93% ± 0.07 | |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--root", required=True)
    parser.add_argument("--draws", default="0,1,2")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--table", action="store_true")
    args = parser.parse_args()
    results.run_or_table(args.root, args.draws, args.set, args.table, run_draw, table)


if __name__ == "__main__":
    main()
