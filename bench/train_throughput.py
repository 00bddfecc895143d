"""Training throughput of a preset: steady-state images/s, first-step time, peak RSS.

    python bench/train_throughput.py                      # dcgan_mnist, batch 64, default strategy
    python bench/train_throughput.py --strategy mirrored  # 2 logical CPU devices, same global batch
    python bench/train_throughput.py --strategy default --strategy mirrored   # side by side
    python bench/train_throughput.py --strategy default --strategy mirrored --repeats 5

Each strategy runs in its own process (logical devices are fixed at TensorFlow start-up).
Time to first step counts from process start: imports, offline MNIST pipeline, model build,
tracing and the first step. With `--repeats N` the strategies run N times, interleaved, and
the table shows each strategy's median run: the shared 2-core machine drifts by ±10% from
minute to minute, more than the differences being measured.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import subprocess
import sys
import time

START = time.perf_counter()


def start_tensorflow(cpu_devices: int, intra_op_threads: int = 0):
    """Imports TensorFlow with the logical CPU devices (fixed at start-up) and threads."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    import tensorflow as tf

    if intra_op_threads:
        tf.config.threading.set_intra_op_parallelism_threads(intra_op_threads)
    if cpu_devices > 1:
        cpu = tf.config.list_physical_devices("CPU")[0]
        tf.config.set_logical_device_configuration(
            cpu, [tf.config.LogicalDeviceConfiguration()] * cpu_devices
        )
    return tf


def build(args: argparse.Namespace, strategy_name: str):
    """The preset's GAN under `strategy_name` and its training dataset."""
    from gan_tf import distribute, presets
    from gan_tf.data import pipeline
    from gan_tf.families.gan import build_gan

    overrides = [f"train.batch_size={args.batch_size}", f"train.strategy={strategy_name}"]
    config = presets.get(args.preset).override(overrides + args.set)
    with distribute.get_strategy(strategy_name).scope():
        gan = build_gan(config)
    return gan, pipeline.train_dataset(config)


def timed_fit(gan, dataset, steps: int) -> list[float]:
    """`perf_counter` times at the end of each of `steps` training steps (one `fit`)."""
    import keras

    times: list[float] = []

    class Timer(keras.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            times.append(time.perf_counter())

    gan.fit(dataset, steps_per_epoch=steps, epochs=1, verbose=0, callbacks=[Timer()])
    return times


def measure(args: argparse.Namespace) -> dict:
    import resource

    start_tensorflow(args.cpu_devices, args.intra_op_threads)
    gan, dataset = build(args, args.strategy)
    t0 = time.perf_counter()
    times = timed_fit(gan, dataset, args.warmup + args.steps)
    steady = times[-1] - times[args.warmup - 1]
    return {
        "preset": args.preset,
        "strategy": args.strategy,
        "replicas": gan.distribute_strategy.num_replicas_in_sync,
        "global_batch": args.batch_size,
        "images_per_second": round(args.steps * args.batch_size / steady, 1),
        "ms_per_step": round(1000 * steady / args.steps, 1),
        "first_step_s": round(times[0] - t0, 2),
        "time_to_first_step_s": round(times[0] - START, 2),
        "peak_rss_gb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20, 2),
    }


def measure_interleaved(args: argparse.Namespace, strategies: list[str]) -> list[dict]:
    """All strategies in one process with 2 logical CPUs, alternating `--rounds` times.

    Each round runs every strategy for `--steps` timed steps (after 5 untimed ones); the
    per-round ratios are paired, so a slow spell of the machine affects both sides alike.
    The default strategy runs on the first logical device, as it does in a 1-device process.
    """
    import statistics

    start_tensorflow(2, args.intra_op_threads)
    runs = {name: (*build(args, name), []) for name in strategies}
    warm = 5
    for _, name in itertools.product(range(args.rounds + 1), strategies):
        gan, dataset, rates = runs[name]
        times = timed_fit(gan, dataset, warm + args.steps)
        rates.append(args.steps * args.batch_size / (times[-1] - times[warm - 1]))
    base = strategies[0]
    rows = []
    for name, (gan, _, rates) in runs.items():
        rates = rates[1:]  # the first round traces and warms up
        row = {
            "preset": args.preset,
            "strategy": name,
            "replicas": gan.distribute_strategy.num_replicas_in_sync,
            "global_batch": args.batch_size,
            "images_per_second": round(statistics.median(rates), 1),
            "rounds": " ".join(f"{r:.0f}" for r in rates),
        }
        if name != base:
            ratios = [b / r - 1 for b, r in zip(runs[base][2][1:], rates)]
            row["median_cost_vs_" + base] = f"{100 * statistics.median(ratios):+.1f}%"
        rows.append(row)
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="dcgan_mnist")
    parser.add_argument("--batch-size", type=int, default=64, help="global batch size")
    parser.add_argument("--strategy", action="append", help="default, one_device, mirrored")
    parser.add_argument("--steps", type=int, default=100, help="timed steps after warm-up")
    parser.add_argument("--warmup", type=int, default=20, help="untimed steps first")
    parser.add_argument("--cpu-devices", type=int, default=0, help="logical CPU devices")
    parser.add_argument("--set", action="append", default=[], help="config override")
    parser.add_argument("--intra-op-threads", type=int, default=0, help="0: TensorFlow's default")
    parser.add_argument(
        "--repeats", type=int, default=1, help="interleaved runs per strategy; the median is shown"
    )
    parser.add_argument(
        "--rounds",
        type=int,
        default=0,
        help="run the strategies in one process with 2 logical CPUs, alternating this many "
        "rounds of --steps each, and report paired per-round costs",
    )
    parser.add_argument("--json", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    strategies = args.strategy or ["default"]
    if args.rounds:
        for row in measure_interleaved(args, strategies):
            print(json.dumps(row))
        return 0
    if len(strategies) == 1 and args.json:
        args.strategy = strategies[0]
        if not args.cpu_devices:
            args.cpu_devices = 2 if args.strategy == "mirrored" else 1
        print(json.dumps(measure(args)))
        return 0
    runs: dict[str, list[dict]] = {s: [] for s in strategies}
    for _, strategy in itertools.product(range(args.repeats), strategies):
        cmd = [
            sys.executable,
            __file__,
            "--json",
            "--strategy",
            strategy,
            "--preset",
            args.preset,
            "--batch-size",
            str(args.batch_size),
            "--steps",
            str(args.steps),
            "--warmup",
            str(args.warmup),
            "--cpu-devices",
            str(args.cpu_devices),
        ]
        for s in args.set:
            cmd += ["--set", s]
        out = subprocess.run(cmd, capture_output=True, text=True, check=True)
        runs[strategy].append(json.loads(out.stdout.strip().splitlines()[-1]))
    # The median run of each strategy by throughput: runs are interleaved, so a slow spell of
    # the shared machine hits every strategy alike.
    rows = [sorted(r, key=lambda row: row["images_per_second"])[len(r) // 2] for r in runs.values()]
    if args.repeats > 1:
        for strategy, r in runs.items():
            print(f"{strategy}: images/s " + " ".join(str(row["images_per_second"]) for row in r))
    keys = list(rows[0])
    print("  ".join(f"{k:>22}" for k in keys))
    for row in rows:
        print("  ".join(f"{str(row[k]):>22}" for k in keys))
    if len(rows) > 1:
        base = rows[0]["images_per_second"]
        for row in rows[1:]:
            cost = 100 * (base / row["images_per_second"] - 1)
            print(f"{row['strategy']} vs {rows[0]['strategy']}: {cost:+.1f}% time per image")
    return 0


if __name__ == "__main__":
    sys.exit(main())
