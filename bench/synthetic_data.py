"""What `gan-tf synthesize` data is worth to a classifier: CAS and low-data augmentation.

    python bench/synthetic_data.py --experiment cas --root runs/synthetic
    python bench/synthetic_data.py --experiment lowdata --root runs/synthetic \\
        --set train.steps=2500
    python bench/synthetic_data.py --experiment lowdata --root runs/synthetic \\
        --set train.steps=2500 --synthetic-per-class 60     # 600 generated, one per real image
    python bench/synthetic_data.py --table --root runs/synthetic

Both experiments train a conditional GAN with `gan_tf.train.train` into `<root>/<name>`,
sample it with `gan-tf synthesize` (TFRecords, read back through the training pipeline's
reader), and train the same fixed classifier with seeds 0, 1, 2 on each arm, scored on the
real MNIST test split (10,000 images). Rerunning resumes or skips finished work: the GAN
resumes from its checkpoint, the synthetic set is rewritten only if the checkpoint moved,
and an (arm, training-set size, seed) already in `<root>/results.jsonl` at the same GAN step
is not trained again.

* `cas` (classification accuracy score, Ravuri & Vinyals 2019): preset `cgan_mnist`
  (`--set` overrides apply); arms `synthetic` (60,000 generated images, 6,000 per class,
  seeds 0..59,999 of `gan-tf synthesize --per-class 6000`) and `real` (the 60,000 MNIST
  training images, the reference).
* `lowdata`: `cgan_mnist` with DiffAugment `translation,cutout` trained on 1% of the
  labelled training set: the first 60 images of each class in the order of
  `gan_tf.data.mnist.load_arrays()` (`gan_tf.data.subsets.first_per_class`), written as a
  TFRecord with the project's writer and read with `data.source=tfrecord`. Arms `real` (the
  600) and `real+synthetic` (the 600 plus 6,000 generated, 600 per class;
  `--synthetic-per-class` sets the count). Rows are told apart by their training-set size.

The classifier is the project's domain CNN and its trainer, `gan_tf.metrics.domain.
fit_classifier`: conv 32-64-128 (3x3, ReLU, max-pool after the first two), dense 128, dropout
0.3, 10 logits; Adam 1e-3 with cosine decay to 5e-5 over the run, batch 128, every image
shifted by up to 2 px; op determinism on. Every arm gets the same budget of about 240,000
training images (4 epochs of 60,000, 1,875 steps): `epochs = ceil(240,000 / N)`, so 4 epochs
for 60,000 images, 37 for 6,600, 200 for 1,200 and 400 for 600.

Figures are the mean and the half range ((max - min) / 2) over the classifier seeds; the gain
of `lowdata` is computed per seed (same seed, both arms) before averaging. Wall times are on
a shared machine.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

BUDGET = 240_000
SEEDS = (0, 1, 2)
LOW_PER_CLASS = 60
LOW_DIFFAUGMENT = "translation,cutout"


def train_gan(config, workdir: str, results: str, name: str) -> int:
    """Trains (or resumes) the GAN; logs a `gan` record when steps were trained."""
    from gan_tf import checkpoint, train
    from gan_tf.workdir import checkpoint_dir

    directory = checkpoint_dir(workdir)
    found = checkpoint.complete_checkpoints(directory) if os.path.isdir(directory) else []
    before = checkpoint.checkpoint_step(found[0]) if found else 0
    start = time.perf_counter()
    step = train.train(config, workdir, verbose=0).step
    seconds = time.perf_counter() - start
    if step > before:
        append(
            results,
            {
                "kind": "gan",
                "name": name,
                "from_step": before,
                "steps": step,
                "train_seconds": round(seconds, 1),
                "load_average": os.getloadavg()[0],
            },
        )
    return step


def synthesize(workdir: str, out: str, per_class: int, step: int) -> tuple:
    """`gan-tf synthesize` of the run (again only if its checkpoint moved), read back."""
    from gan_tf.cli import main
    from gan_tf.workdir import read_json

    manifest = read_json(os.path.join(out, "manifest.json"), default={})
    if manifest.get("step") != step or manifest.get("per_class") != per_class:
        argv = ["synthesize", f"--workdir={workdir}", f"--per-class={per_class}", f"--out={out}"]
        if main([*argv, "--overwrite"]) != 0:
            raise SystemExit(f"gan-tf synthesize failed for {workdir}")
    return read_tfrecords(os.path.join(out, "*.tfrecord"))


def read_tfrecords(pattern: str) -> tuple:
    """uint8 `[N, 28, 28]` images and labels of TFRecords, through the pipeline's reader."""
    import numpy as np

    from gan_tf.config import DataConfig
    from gan_tf.data import pipeline, sources

    cfg = DataConfig(source="tfrecord", path=pattern, num_classes=10)
    recs = sources.records(cfg)
    ds = recs.dataset.map(pipeline.decode_fn(cfg, recs.image_is_path)).batch(1000)
    images, labels = zip(*[(x.numpy()[..., 0], y.numpy()) for x, y in ds])
    return np.concatenate(images), np.concatenate(labels).astype(np.int64)


def write_low_data(path: str) -> None:
    """The first `LOW_PER_CLASS` MNIST training images of each class, as a TFRecord."""
    from gan_tf.data import mnist, subsets, tfrecord

    if os.path.exists(path):
        return
    images, labels = mnist.load_arrays()["train"]
    chosen = subsets.first_per_class(labels, LOW_PER_CLASS, 10)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    tfrecord.write_images(path, images[chosen][..., None], labels[chosen].tolist())


def done_runs(results: str) -> set:
    return {
        (r["experiment"], r["arm"], r["train_images"], r["seed"], r["gan_step"])
        for r in read_results(results)
        if r.get("kind") == "classifier"
    }


def run_arms(experiment: str, arms: dict, gan_step: int, results: str) -> None:
    """Trains the classifier on every arm with every seed not already in `results`."""
    import tensorflow as tf

    from gan_tf.data import mnist
    from gan_tf.metrics import domain

    tf.config.experimental.enable_op_determinism()
    test_images, test_labels = mnist.load_arrays()["test"]
    done = done_runs(results)
    for seed in SEEDS:
        for arm, (images, labels) in arms.items():
            if (experiment, arm, len(images), seed, gan_step) in done:
                continue
            epochs = math.ceil(BUDGET / len(images))
            start = time.perf_counter()
            model = domain.fit_classifier(images, labels, seed=seed, epochs=epochs)
            record = {
                "kind": "classifier",
                "experiment": experiment,
                "arm": arm,
                "seed": seed,
                "gan_step": gan_step,
                "train_images": len(images),
                "epochs": epochs,
                "test_images": len(test_images),
                "test_accuracy": domain.accuracy(model, test_images, test_labels),
                "seconds": round(time.perf_counter() - start, 1),
            }
            append(results, record)
            print(json.dumps(record, sort_keys=True), flush=True)


def cas(args, results: str) -> None:
    from gan_tf import presets
    from gan_tf.data import mnist

    workdir = os.path.join(args.root, "cgan_mnist")
    config = presets.get("cgan_mnist").override(args.overrides)
    step = train_gan(config, workdir, results, "cgan_mnist")
    per_class = 6000
    synthetic = synthesize(workdir, os.path.join(args.root, "cas_synthetic"), per_class, step)
    arms = {"synthetic": synthetic, "real": mnist.load_arrays()["train"]}
    run_arms("cas", arms, step, results)


def lowdata(args, results: str) -> None:
    import numpy as np

    from gan_tf import presets

    real_path = os.path.join(args.root, "lowdata_real", "mnist-train-600.tfrecord")
    write_low_data(real_path)
    workdir = os.path.join(args.root, "cgan_mnist_600")
    base = [
        "data.source=tfrecord",
        f"data.path={real_path}",
        f"train.diffaugment={LOW_DIFFAUGMENT}",
    ]
    config = presets.get("cgan_mnist").override([*base, *args.overrides])
    step = train_gan(config, workdir, results, "cgan_mnist_600")
    out = os.path.join(args.root, f"lowdata_synthetic_{args.synthetic_per_class}")
    synth_x, synth_y = synthesize(workdir, out, args.synthetic_per_class, step)
    real_x, real_y = read_tfrecords(real_path)
    arms = {
        "real": (real_x, real_y),
        "real+synthetic": (np.concatenate([real_x, synth_x]), np.concatenate([real_y, synth_y])),
    }
    run_arms("lowdata", arms, step, results)


def read_results(path: str) -> list[dict]:
    if not os.path.exists(path):
        return []
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def append(path: str, record: dict) -> None:
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    with open(path, "a", encoding="utf-8") as f:
        f.write(json.dumps(record, sort_keys=True) + "\n")


def spread(values: list[float]) -> str:
    """`mean ± half range` in percent."""
    mean = sum(values) / len(values)
    half = (max(values) - min(values)) / 2
    return f"{100 * mean:.2f} ± {100 * half:.2f}"


def table(path: str) -> str:
    rows = read_results(path)
    gans = {}
    for r in rows:
        if r.get("kind") == "gan":
            gans.setdefault(r["name"], []).append(r)
    lines = [
        "| experiment | classifier trained on | N train | epochs | test accuracy % "
        "(mean ± half range, seeds) | GAN steps | classifier wall time |",
        "|---|---|---|---|---|---|---|",
    ]
    groups = latest_groups([r for r in rows if r.get("kind") == "classifier"])
    for (experiment, arm, count), runs in groups.items():
        acc = [r["test_accuracy"] for r in runs]
        seeds = ",".join(str(r["seed"]) for r in runs)
        seconds = sum(r["seconds"] for r in runs) / len(runs)
        lines.append(
            f"| {experiment} | {arm} | {count:,} | {runs[0]['epochs']} | "
            f"{spread(acc)} ({seeds}) | {runs[0]['gan_step']:,} | {seconds:.0f} s each |"
        )
    real = groups.get(("lowdata", "real", LOW_PER_CLASS * 10), [])
    for (experiment, arm, count), runs in groups.items():
        if (experiment, arm) == ("lowdata", "real+synthetic"):
            synthetic = count - LOW_PER_CLASS * 10
            lines.append(
                f"\nlowdata gain of real + {synthetic:,} synthetic over real: {gain(real, runs)}"
            )
    for name, runs in gans.items():
        parts = [f"{r['from_step']}→{r['steps']} in {r['train_seconds']:.0f} s" for r in runs]
        lines.append(f"\nGAN `{name}`: {'; '.join(parts)}")
    return "\n".join(lines)


def latest_groups(classifiers: list[dict]) -> dict:
    """Classifier records by (experiment, arm, training images), of the newest GAN step."""
    groups = {}
    for r in classifiers:
        key = (r["experiment"], r["arm"], r["train_images"])
        newest = groups.get(key, [r])[0]["gan_step"]
        if r["gan_step"] > newest:
            groups[key] = [r]
        elif r["gan_step"] == newest:
            groups.setdefault(key, []).append(r)
    return groups


def gain(real: list[dict], both: list[dict]) -> str:
    """Mean ± half range of the per-seed accuracy difference `both - real`, in points."""
    real_by_seed = {r["seed"]: r["test_accuracy"] for r in real}
    diffs = [
        r["test_accuracy"] - real_by_seed[r["seed"]] for r in both if r["seed"] in real_by_seed
    ]
    if not diffs:
        return "no common seeds yet"
    return f"{spread(diffs)} points over {len(diffs)} seeds"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--experiment", choices=("cas", "lowdata"))
    parser.add_argument("--root", default="runs/synthetic")
    parser.add_argument(
        "--set", dest="overrides", action="append", default=[], help="GAN config override"
    )
    parser.add_argument(
        "--synthetic-per-class", type=int, default=600, help="lowdata: generated per class"
    )
    parser.add_argument("--table", action="store_true", help="print the results table and exit")
    args = parser.parse_args()
    results = os.path.join(args.root, "results.jsonl")
    if args.table:
        print(table(results))
        return 0
    if not args.experiment:
        parser.error("--experiment or --table is required")
    {"cas": cas, "lowdata": lowdata}[args.experiment](args, results)
    print(table(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
