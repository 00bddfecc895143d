"""Latency and throughput of `gan-tf serve` for single-image requests.

Exports a generator (a preset's architecture with its initial weights, or the EMA generator
of a trained --workdir), starts `gan-tf serve` on free localhost ports, and sends `generate`
requests for one seed each from 1, 4 and 16 concurrent clients over REST and gRPC. The
baseline is the same `generate` signature called in this process (no server), from as many
threads, measured side by side with the server in each round. Figures are medians over
--rounds rounds. Target: REST and gRPC p50 and p99 at concurrency 1 <= 1.2 x baseline + 5 ms,
and no errors at concurrency 16.

    .venv/bin/python bench/serving_load.py                     # dcgan_mnist, ~1.5 minutes
    .venv/bin/python bench/serving_load.py --requests 100 --protocols rest
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import sys
import tempfile
import threading
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402

from gan_tf.serving.process import start_server


def summarize(latencies: list[float], errors: int, wall: float) -> dict:
    ms = np.asarray(latencies) * 1e3
    return {
        "requests": len(latencies),
        "errors": errors,
        "p50_ms": round(float(np.percentile(ms, 50)), 2) if len(ms) else None,
        "p99_ms": round(float(np.percentile(ms, 99)), 2) if len(ms) else None,
        "rps": round(len(latencies) / wall, 1) if wall > 0 else None,
    }


def run_load(call, concurrency: int, requests: int, warmup: int = 3) -> dict:
    """Runs `call(seed)` `requests` times from `concurrency` threads; returns the summary.

    Each thread first makes `warmup` untimed calls (connection set-up, first-call costs);
    timing starts when every thread is warm.
    """
    latencies: list[float] = []
    errors: list[str] = []
    counter = iter(range(requests))
    lock = threading.Lock()
    ready = threading.Barrier(concurrency + 1)

    def worker() -> None:
        for i in range(warmup):
            call(10_000 + i)
        ready.wait()
        while True:
            with lock:
                seed = next(counter, None)
            if seed is None:
                return
            start = time.perf_counter()
            try:
                call(seed)
            except Exception as e:  # counted, the load goes on
                errors.append(str(e))
                continue
            latencies.append(time.perf_counter() - start)

    threads = [threading.Thread(target=worker) for _ in range(concurrency)]
    for t in threads:
        t.start()
    ready.wait(timeout=120)
    start = time.perf_counter()
    for t in threads:
        t.join()
    result = summarize(latencies, len(errors), time.perf_counter() - start)
    if errors:
        result["first_error"] = errors[0]
    return result


def make_call(client_cls, url: str, labels):
    """A `call(seed)` using one client per thread."""
    local = threading.local()

    def call(seed: int) -> None:
        if not hasattr(local, "client"):
            local.client = client_cls(url, timeout=30)
        local.client.generate([seed], labels=labels)

    return call


def export_model(args, base: str) -> None:
    import keras

    from gan_tf import export, networks, presets, workdir

    if args.workdir:
        generator, config, step = workdir.load_generator(args.workdir)
        metadata = export.run_metadata(config, step)
    else:
        config = presets.get(args.preset)
        keras.utils.set_random_seed(0)
        generator, _ = networks.build(config)
        generator(generator.dummy_inputs())
        metadata = {"step": 0, "note": f"untrained {args.preset} weights (benchmark)"}
    export.export_generator(generator, os.path.join(base, "1"), metadata)
    return generator.num_classes


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--preset", default="dcgan_mnist", help="architecture (default dcgan_mnist)"
    )
    parser.add_argument("--workdir", help="export this trained run instead of initial weights")
    parser.add_argument("--requests", type=int, default=300, help="requests per level")
    parser.add_argument("--concurrency", default="1,4,16", help="client counts (default 1,4,16)")
    parser.add_argument("--protocols", default="rest,grpc", help="rest,grpc (default both)")
    parser.add_argument("--rounds", type=int, default=3, help="rounds; medians are reported")
    parser.add_argument("--json", help="also write the results to this JSON file")
    args = parser.parse_args(argv)
    levels = [int(c) for c in args.concurrency.split(",")]
    protocols = [p for p in args.protocols.split(",") if p]

    import tensorflow as tf

    from gan_tf.serving.client import ServingClient

    results: dict = {"preset": args.preset, "workdir": args.workdir, "rounds": [], "levels": {}}
    with tempfile.TemporaryDirectory() as tmp:
        base = os.path.join(tmp, "gan")
        num_classes = export_model(args, base)
        labels = None if num_classes == 0 else [0]
        loaded = tf.saved_model.load(os.path.join(base, "1"))
        fn = loaded.signatures["generate"]
        one = tf.ones([1])
        extra = {} if labels is None else {"labels": tf.constant(labels, tf.int64)}

        def in_process(seed: int) -> None:
            fn(seeds=tf.constant([seed], tf.int64), truncation=one, **extra)["images"].numpy()

        try:
            server = start_server(base)
        except RuntimeError as e:
            raise SystemExit(str(e)) from None
        gc.collect()  # as `gan-tf serve` does: no full-collection stalls over TF's objects
        gc.freeze()
        urls = {"rest": server.rest_url, "grpc": f"grpc://{server.grpc_target}"}
        try:
            # Baseline and server are measured side by side, level by level, in each round,
            # so that load from other work on the machine hits both alike.
            for r in range(args.rounds):
                measured = {}
                for c in levels:
                    measured[f"baseline@{c}"] = run_load(in_process, c, args.requests)
                    for protocol in protocols:
                        call = make_call(ServingClient, urls[protocol], labels)
                        measured[f"{protocol}@{c}"] = run_load(call, c, args.requests)
                for key, value in measured.items():
                    print(f"round {r + 1} {key:<12s}", value, flush=True)
                results["rounds"].append(measured)
        finally:
            server.stop()
    for key in results["rounds"][0]:
        runs = [measured[key] for measured in results["rounds"]]
        results["levels"][key] = {
            "requests": sum(run["requests"] for run in runs),
            "errors": sum(run["errors"] for run in runs),
            **{
                stat: round(float(np.median([run[stat] for run in runs])), 2)
                for stat in ("p50_ms", "p99_ms", "rps")
            },
        }
    print(f"median of {args.rounds} rounds:")
    for key, value in results["levels"].items():
        print(f"  {key:<12s}", value)

    checks = {}
    for protocol in protocols:
        if levels[0] == 1:
            for stat in ("p50_ms", "p99_ms"):
                budget = 1.2 * results["levels"]["baseline@1"][stat] + 5.0
                got = results["levels"][f"{protocol}@1"][stat]
                checks[f"{protocol} {stat}@1 {got} <= 1.2 x baseline + 5 = {budget:.2f}"] = (
                    got <= budget
                )
        top = max(levels)
        checks[f"{protocol} errors@{top} == 0"] = (
            results["levels"][f"{protocol}@{top}"]["errors"] == 0
        )
    results["checks"] = checks
    for name, ok in checks.items():
        print(("PASS " if ok else "FAIL ") + name)
    if args.json:
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump(results, f, indent=2)
    return 0 if all(checks.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
