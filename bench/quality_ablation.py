"""Sample-quality ablations: train a variant, score its EMA generator, append one JSON line.

    python bench/quality_ablation.py --name base --preset dcgan_mnist
    python bench/quality_ablation.py --name sn_d --preset dcgan_mnist \\
        --set model.discriminator.norm=none --set model.discriminator.spectral_norm=true \\
        --inception-num 2500
    python bench/quality_ablation.py --table          # the markdown table of every result

Each variant trains into `<root>/<name>` with `gan_tf.train.train` (rerunning resumes), then
its EMA generator (seeds 0..N-1) is scored against the reference split:

* domain-classifier FID/KID/precision/recall and class coverage at `--domain-num` (10,000);
* optionally the standard Inception FID/KID/precision/recall at `--inception-num`
  (2,500 for ablations; the README's preset table uses 10,000 with `gan-tf evaluate`);
* with `--also-stale`, the domain scores again without recomputing the EMA generator's
  batch-norm statistics (the ablation of that step).

Wall time per step is the training wall time over the steps trained in this invocation
(first step's tracing included); peak RSS is this process's.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def score(workdir: str, reference: str, features: str, num: int, metrics: str, recompute: bool):
    from gan_tf import workdir as workdir_lib
    from gan_tf.metrics import api
    from gan_tf.metrics import sources as sources_lib

    generator, config, step = workdir_lib.load_generator(workdir, recompute_statistics=recompute)
    num_classes = config.data.num_classes

    generate = sources_lib.seeded(generator, workdir)
    ref = sources_lib.open_source(reference)
    result = api.score_generator(
        generate,
        ref.batches(250),
        num,
        metrics=metrics.split(","),
        features=features,
        batch_size=250 if features == "domain" else 50,
        reference_cache_key=ref.description,
        num_classes=num_classes,
    )
    result.pop("protocol")
    return step, result


def run_variant(args) -> dict:
    from gan_tf import presets, train

    config = presets.get(args.preset).override(args.overrides)
    workdir = os.path.join(args.root, args.name)
    start = time.perf_counter()
    before = _checkpoint_step(workdir)
    result = train.train(config, workdir, verbose=0)
    seconds = time.perf_counter() - start
    trained = result.step - before
    record = {
        "name": args.name,
        "preset": args.preset,
        "overrides": args.overrides,
        "steps": result.step,
        "train_seconds": round(seconds, 1),
        "ms_per_step": round(1000 * seconds / trained, 1) if trained else None,
        "load_average": os.getloadavg()[0],
    }
    metrics = "fid,kid,pr,coverage"
    if args.domain_num:
        _, record["domain"] = score(
            workdir, args.reference, "domain", args.domain_num, metrics, recompute=True
        )
    if args.domain_num and args.also_stale:
        _, record["domain_stale_statistics"] = score(
            workdir, args.reference, "domain", args.domain_num, metrics, recompute=False
        )
    if args.inception_num:
        t = time.perf_counter()
        _, record["inception"] = score(
            workdir, args.reference, "inception", args.inception_num, "fid,kid,pr", recompute=True
        )
        record["inception_num"] = args.inception_num
        record["inception_seconds"] = round(time.perf_counter() - t, 1)
    record["domain_num"] = args.domain_num
    record["peak_rss_gb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20, 2)
    return record


def _checkpoint_step(workdir: str) -> int:
    import tensorflow as tf

    path = tf.train.latest_checkpoint(os.path.join(workdir, "checkpoints"))
    return int(path.rsplit("-", 1)[-1]) if path else 0


def table(path: str) -> str:
    rows = [json.loads(line) for line in open(path, encoding="utf-8") if line.strip()]
    lines = [
        "| variant | steps | ms/step | FID (Inception, N) | fid_domain "
        "| precision / recall (domain) | classes covered | class shares min–max | class KL |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        inc = r.get("inception")
        fid = f"{inc['fid']:.2f} ({r['inception_num']})" if inc else "–"
        d = r.get("domain")
        domain = (
            f"{d['fid_domain']:.2f} | {d['precision_domain']:.3f} / {d['recall_domain']:.3f} | "
            f"{d['classes_covered_domain']:.0f} | {d['class_share_min_domain']:.3f}–"
            f"{d['class_share_max_domain']:.3f} | {d['class_kl_domain']:.4f}"
            if d
            else "– | – | – | – | –"
        )
        lines.append(f"| {r['name']} | {r['steps']} | {r['ms_per_step']} | {fid} | {domain} |")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--name", help="variant name (workdir and table row)")
    parser.add_argument("--preset", default="dcgan_mnist")
    parser.add_argument("--set", dest="overrides", action="append", default=[])
    parser.add_argument("--root", default="runs/ablation")
    parser.add_argument("--reference", default="mnist:test")
    parser.add_argument(
        "--domain-num", type=int, default=10_000, help="0 skips the (MNIST) domain classifier"
    )
    parser.add_argument("--inception-num", type=int, default=0)
    parser.add_argument("--also-stale", action="store_true")
    parser.add_argument("--table", action="store_true", help="print the results table and exit")
    args = parser.parse_args()
    results = os.path.join(args.root, "results.jsonl")
    if args.table:
        print(table(results))
        return 0
    if not args.name:
        parser.error("--name is required")
    record = run_variant(args)
    os.makedirs(args.root, exist_ok=True)
    with open(results, "a", encoding="utf-8") as f:
        f.write(json.dumps(record, sort_keys=True) + "\n")
    print(json.dumps(record, indent=2, sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
