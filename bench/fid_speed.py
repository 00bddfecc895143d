"""Speed of the metrics on this machine: Inception images/s and seconds for FID on 10k vs 10k.

    .venv/bin/python bench/fid_speed.py [--seconds 60] [--batch-size 50] [--onednn]

Reports, as JSON:

* `images_per_second`: wall-clock throughput of `InceptionFeatures` (uint8 28x28 grayscale
  in, 2048-d features out: tile, TF1 bilinear resize to 299, folded-BN network, float32,
  one `tf.function` with a fixed batch), after one warm-up batch;
* `images_per_cpu_second_x_cores`: the same work divided by the process CPU time and
  multiplied by the core count: what the run would reach alone on the machine, since these
  2 cores are shared and wall-clock numbers move with the neighbours' load;
* `matmul_gflops`: a 4096² float32 matmul measured just before (the machine roof is about
  210 GFLOP/s when idle), so the throughput can be read against the load at the time;
* `gflop_per_image` (11.4: convolution multiply-adds x 2, counted from the graph) and
  `achieved_gflops`, the throughput in the matmul's unit;
* `fid_seconds_10k`: streaming moments of 10k + 10k 2048-d features (10 batches each) plus
  the Fréchet distance; `kid_seconds_10k` and `pr_seconds_10k` for the other metrics.

`--onednn` sets TF_ENABLE_ONEDNN_OPTS=1 before TensorFlow is imported (off by default on
CPUs without AVX-512, such as these).
"""

from __future__ import annotations

import argparse
import json
import os
import time


def matmul_gflops(tf, seconds: float = 5.0) -> float:
    a = tf.random.normal([4096, 4096])
    f = tf.function(lambda x: tf.matmul(x, x))
    f(a).numpy()
    n, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        f(a).numpy()
        n += 1
    return 2 * 4096**3 * n / (time.perf_counter() - start) / 1e9


def gflop_per_image(tf, network) -> float:
    """Convolution FLOPs (2 x multiply-adds) of one 299x299 image, counted from the graph."""
    spec = tf.TensorSpec([1, 299, 299, 3], tf.float32)
    graph = tf.function(network).get_concrete_function(spec).graph
    macs = 0
    for op in graph.get_operations():
        if op.type == "Conv2D":
            out, kernel = op.outputs[0].shape, op.inputs[1].shape
            macs += out[1] * out[2] * out[3] * kernel[0] * kernel[1] * kernel[2]
    return 2 * macs / 1e9


def inception_speed(tf, np, seconds: float, batch_size: int) -> dict:
    from gan_tf.metrics.inception import InceptionFeatures

    features = InceptionFeatures(batch_size=batch_size)
    gflop = gflop_per_image(tf, features.network)
    images = np.random.default_rng(0).integers(0, 256, (batch_size, 28, 28, 1), dtype=np.uint8)
    start = time.perf_counter()
    features(images)
    warmup = time.perf_counter() - start
    n, cpu0, start = 0, time.process_time(), time.perf_counter()
    while time.perf_counter() - start < seconds:
        features(images)
        n += batch_size
    wall, cpu = time.perf_counter() - start, time.process_time() - cpu0
    cores = os.cpu_count() or 1
    return {
        "batch_size": batch_size,
        "images": n,
        "warmup_seconds": round(warmup, 2),
        "images_per_second": round(n / wall, 2),
        "gflop_per_image": round(gflop, 2),
        "achieved_gflops": round(n / wall * gflop, 1),
        "images_per_cpu_second_x_cores": round(n / cpu * cores, 2),
        "cpu_utilisation": round(cpu / wall / cores, 2),
    }


def metric_speed(np) -> dict:
    from gan_tf.metrics.fid import fid_from_moments
    from gan_tf.metrics.kid import kid_from_features
    from gan_tf.metrics.precision_recall import precision_recall_from_features
    from gan_tf.metrics.stats import FeatureStats

    rng = np.random.default_rng(0)
    mixing = rng.normal(size=(2048, 2048)).astype(np.float32) / 45.0
    sets = [
        np.maximum(rng.normal(size=(10_000, 2048)).astype(np.float32) @ mixing + s, 0.0)
        for s in (0.0, 0.05)
    ]
    start = time.perf_counter()
    stats = []
    for x in sets:
        s = FeatureStats(2048)
        for batch in np.split(x, 10):
            s.add(batch)
        stats.append(s)
    fid = fid_from_moments(stats[0].mean, stats[0].cov, stats[1].mean, stats[1].cov)
    fid_seconds = time.perf_counter() - start
    start = time.perf_counter()
    kid_from_features(*sets)
    kid_seconds = time.perf_counter() - start
    start = time.perf_counter()
    precision_recall_from_features(*sets)
    pr_seconds = time.perf_counter() - start
    return {
        "fid_seconds_10k": round(fid_seconds, 2),
        "fid_value_synthetic": round(fid, 4),
        "kid_seconds_10k": round(kid_seconds, 2),
        "pr_seconds_10k": round(pr_seconds, 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60.0, help="timed Inception run")
    parser.add_argument("--batch-size", type=int, default=50)
    parser.add_argument("--onednn", action="store_true", help="set TF_ENABLE_ONEDNN_OPTS=1")
    parser.add_argument("--skip-metrics", action="store_true", help="only time Inception")
    args = parser.parse_args()
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    if args.onednn:
        os.environ["TF_ENABLE_ONEDNN_OPTS"] = "1"
    import numpy as np
    import tensorflow as tf

    result = {
        "onednn": os.environ.get("TF_ENABLE_ONEDNN_OPTS", "default"),
        "cores": os.cpu_count(),
        "load_average_1min": os.getloadavg()[0],
        "matmul_gflops": round(matmul_gflops(tf), 1),
        "inception": inception_speed(tf, np, args.seconds, args.batch_size),
    }
    if not args.skip_metrics:
        result.update(metric_speed(np))
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
