"""The quality gate: settings, scoring of a SavedModel, the blessing rule, the report.

Kept free of TFX so it can be exercised alone; `pipelines.components.sample_quality` wraps it
in a TFX component.

What it scores, by feature network: a generator's samples (`inception`, `domain`: KID, FID,
class coverage ... against reference images); for an anomaly detector, its anomaly scores
(`detection`: AUROC, AUPRC and the true-positive rate at a false-positive rate, on labelled
held-out images; see `score_detection`); for a translator (CycleGAN), what its translations
of labelled source-domain images preserve (`translation`: the domain classifier's accuracy
on them and the cycle error; see `score_translation`), with `inception`/`domain` then
scoring the translations against the target domain's images; for a semi-supervised
classifier, its error on labelled held-out images (`classification`: overall and in its
worst class; see `score_classification`).

The rule: a candidate is blessed only if every configured threshold holds (`kid <= 0.05`,
`auroc >= 0.9`, ...) and, when there is a baseline (the model the pipeline last pushed, never
the candidate itself), no metric with a configured margin is worse than the baseline's score
by more than the margin. Without a baseline (nothing pushed yet) only the thresholds apply.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any, ClassVar, NamedTuple

import numpy as np

from gan_tf import files
from gan_tf.errors import ConfigError

REPORT_JSON = "sample_quality.json"
REPORT_MD = "sample_quality.md"
REPORT_GRID = "samples.png"
GRID_SAMPLES = 64
# Feature "network" of anomaly detectors: their own scores. Its result keys, all higher is
# better; `threshold` (the score threshold at the run's false-positive rate) and `fpr` (the
# rate it reaches) are reported beside them, not gated.
DETECTION = "detection"
DETECTION_KEYS = ("auroc", "auprc", "tpr")
# Feature "network" of translators: `gan_tf.metrics.translation` on labelled source images.
TRANSLATION = "translation"
# Feature "network" of classifiers (semi-supervised models): their `classify` signature's
# labels on labelled held-out images, scored by `gan_tf.metrics.classification`.
CLASSIFICATION = "classification"
FEATURES = ("inception", "domain", DETECTION, TRANSLATION, CLASSIFICATION)
# Features that judge a model through its own signatures rather than generated samples.
OWN_SCORES = (DETECTION, TRANSLATION, CLASSIFICATION)


class Sources(NamedTuple):
    """Labelled images: the source-domain images of the `translation` features, the
    held-out images of the `classification` features.

    Attributes:
      images: uint8 NHWC images (of domain A, for a translator).
      labels: their int64 classes (the domain classifier's, for a translator).
    """

    images: np.ndarray
    labels: np.ndarray


class Translators(NamedTuple):
    """A translator's export as functions of uint8 NHWC images (A -> B and B -> A)."""

    translate: Callable[[np.ndarray], np.ndarray]
    translate_back: Callable[[np.ndarray], np.ndarray]


class Labelled(NamedTuple):
    """Labelled held-out images for the `detection` features.

    Attributes:
      images: uint8 NHWC images.
      anomalous: bool per image (its label is not one of `normal_classes`).
      normal_classes: the classes counted normal, e.g. `"0"`.
      fpr: false-positive rate at which the score threshold and its `tpr` are measured.
    """

    images: np.ndarray
    anomalous: np.ndarray
    normal_classes: str
    fpr: float


@dataclasses.dataclass(frozen=True)
class GateSettings:
    """What the gate measures and what it requires.

    Attributes:
      features: feature networks to score with, in order (`inception`, `domain`,
        `detection` for an anomaly detector's `score` signature, `translation` for a
        translator's `translate` and `translate_back`, `classification` for a
        classifier's `classify`).
      metrics: metric names per feature network (`fid`, `kid`, `pr`; `is` for domain;
        none for `detection`, which always gives `auroc`, `auprc` and `tpr`, nor for
        `translation`: `accuracy`, `accuracy_source`, `cycle_l1`, nor for
        `classification`: `test_error`, `worst_class_error`).
      num_samples: generated (and reference) images per feature network; for `detection`,
        `translation` and `classification`, the labelled held-out images scored.
      thresholds: result key -> bound, e.g. `{"kid": 0.05}` means `kid <= 0.05`
        (`>=` for metrics where higher is better).
      margins: result key -> largest allowed worsening against the baseline model.
      batch_size: images per feature-extractor call.
    """

    features: tuple[str, ...] = ("domain",)
    metrics: Mapping[str, tuple[str, ...]] = dataclasses.field(
        default_factory=lambda: {"inception": ("kid",), "domain": ("kid", "fid")}
    )
    num_samples: Mapping[str, int] = dataclasses.field(
        default_factory=lambda: {"inception": 500, "domain": 2000}
    )
    thresholds: Mapping[str, float] = dataclasses.field(default_factory=dict)
    margins: Mapping[str, float] = dataclasses.field(default_factory=dict)
    batch_size: int = 50

    def to_json(self) -> str:
        """The settings as JSON (the component's execution parameter)."""
        return json.dumps(dataclasses.asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> GateSettings:
        """Reads `to_json` output.

        Raises:
          ConfigError: on unknown keys or malformed values.
        """
        values = json.loads(text)
        unknown = set(values) - {f.name for f in dataclasses.fields(cls)}
        if unknown:
            raise ConfigError(f"unknown gate settings: {', '.join(sorted(unknown))}")
        values["features"] = tuple(values.get("features", ()))
        values["metrics"] = {k: tuple(v) for k, v in values.get("metrics", {}).items()}
        settings = cls(**values)
        settings.validate()
        return settings

    def validate(self) -> None:
        """Checks that every threshold and margin names a metric the gate computes.

        Raises:
          ConfigError: naming the first problem.
        """
        if not self.features:
            raise ConfigError("the gate needs at least one feature network")
        for name in self.features:
            if name not in FEATURES:
                raise ConfigError(
                    f"unknown gate features {name!r}; expected one of {', '.join(FEATURES)}"
                )
            if name not in OWN_SCORES and not self.metrics.get(name):
                raise ConfigError(f"no gate metrics configured for features {name!r}")
            if self.num_samples.get(name, 0) < 2:
                raise ConfigError(f"gate num_samples for {name!r} must be at least 2")
        known = self.result_keys()
        for kind, values in (("threshold", self.thresholds), ("margin", self.margins)):
            for key, value in values.items():
                if key not in known:
                    raise ConfigError(
                        f"gate {kind} on {key!r}, which the gate does not compute; "
                        f"it computes: {', '.join(sorted(known))}"
                    )
                if not isinstance(value, (int, float)) or math.isnan(value):
                    raise ConfigError(f"gate {kind} {key}={value!r} is not a number")
        for key, value in self.margins.items():
            if value < 0:
                raise ConfigError(f"gate margin {key}={value} must be >= 0")

    def result_keys(self) -> set[str]:
        """Keys of the scores the gate computes (`kid`, `kid_domain`, `auroc`, ...)."""
        from gan_tf.metrics import api, classification, translation

        keys = set()
        for features in self.features:
            if features == DETECTION:
                keys.update(DETECTION_KEYS)
                continue
            if features == TRANSLATION:
                keys.update(translation.KEYS)
                continue
            if features == CLASSIFICATION:
                keys.update(classification.KEYS)
                continue
            for metric in self.metrics[features]:
                keys.update(api.result_keys(metric, features))
        return keys

    def with_overrides(self, assignments: Iterable[str], kind: str) -> GateSettings:
        """Returns a copy with `key=value` thresholds (`kind="threshold"`) or margins added.

        Raises:
          ConfigError: on a malformed assignment.
        """
        values: dict[str, float] = {}
        for assignment in assignments:
            key, sep, raw = assignment.partition("=")
            try:
                values[key.strip()] = float(raw)
            except ValueError:
                sep = ""
            if not sep or not key.strip():
                raise ConfigError(f"{kind} {assignment!r} is not of the form metric=number")
        field = "thresholds" if kind == "threshold" else "margins"
        merged = {**getattr(self, field), **values}
        settings = dataclasses.replace(self, **{field: merged})
        settings.validate()
        return settings


def higher_is_better(key: str) -> bool:
    """Whether a larger value of result key `key` is better."""
    from gan_tf.metrics import api, translation

    return key in DETECTION_KEYS or key in translation.HIGHER_IS_BETTER or api.higher_is_better(key)


def score_detection(
    score_images: Callable[[np.ndarray], np.ndarray], labelled: Labelled, batch_size: int
) -> dict[str, Any]:
    """Scores an anomaly detector on labelled images (anomalous = the positive class).

    Args:
      score_images: uint8 NHWC images -> anomaly scores (higher = more anomalous).
      labelled: the images, whether each is anomalous, and the false-positive rate.
      batch_size: images per `score_images` call.

    Returns:
      `{"scores": {auroc, auprc, tpr, threshold, fpr}, "protocol": {...}}`.
    """
    from gan_tf.images import map_batches
    from gan_tf.metrics import detection

    start = time.time()
    images = labelled.images
    scores = map_batches(score_images, images, batch_size)
    result = detection.summary(scores, labelled.anomalous, labelled.fpr)
    protocol = {
        "signature": "score",
        "images": len(images),
        "normal": result.pop("normal"),
        "anomalous": result.pop("anomalous"),
        "normal_classes": labelled.normal_classes,
        "target_fpr": labelled.fpr,
        "seconds": round(time.time() - start, 1),
    }
    return {"scores": {k: float(v) for k, v in result.items()}, "protocol": protocol}


def score_translation(
    translators: Translators, sources: Sources, translated: np.ndarray | None = None
) -> dict[str, Any]:
    """Scores a translator on labelled source-domain images (`gan_tf.metrics.translation`).

    Args:
      translators: the translator's two directions.
      sources: the labelled source-domain images.
      translated: `translators.translate(sources.images)` when the caller has it already.

    Returns:
      `{"scores": {accuracy, accuracy_source, cycle_l1}, "protocol": {...}}`.
    """
    from gan_tf.metrics import translation
    from gan_tf.metrics.domain import DomainFeatures

    start = time.time()
    classifier = DomainFeatures()
    result = translation.scores(
        sources.images,
        sources.labels,
        translators.translate,
        translators.translate_back,
        classifier,
        translated=translated,
    )
    protocol = {
        "signatures": ["translate", "translate_back"],
        "images": len(sources.images),
        "classifier": classifier.protocol["weights"],
        "classifier_sha256": classifier.sha256,
        "seconds": round(time.time() - start, 1),
    }
    return {"scores": result, "protocol": protocol}


def score_classification(
    classify: Callable[[np.ndarray], np.ndarray], labelled: Sources, batch_size: int
) -> dict[str, Any]:
    """Scores a classifier on labelled held-out images (`gan_tf.metrics.classification`).

    Args:
      classify: uint8 NHWC images -> predicted class indices.
      labelled: the images and their true classes.
      batch_size: images per `classify` call.

    Returns:
      `{"scores": {test_error, worst_class_error}, "details": {class_error},
      "protocol": {...}, "predicted": the class index per image}`.
    """
    from gan_tf.images import map_batches
    from gan_tf.metrics import classification

    start = time.time()
    images = labelled.images
    predicted = map_batches(classify, images, batch_size)
    result = classification.errors(predicted, labelled.labels)
    protocol = {
        "signature": "classify",
        "images": len(images),
        "images_per_class": np.bincount(labelled.labels).tolist(),
        "seconds": round(time.time() - start, 1),
    }
    details = {"class_error": result.pop("class_error")}
    return {"scores": result, "details": details, "protocol": protocol, "predicted": predicted}


def translations_by_seed(translate: Callable[[np.ndarray], np.ndarray], sources: Sources):
    """A `generate` function for the sample metrics of a translator: seed `s` gives the
    translation of source image `s % N` (translated once, on first use)."""
    cache: list[np.ndarray] = []

    def generate(seeds: np.ndarray) -> np.ndarray:
        if not cache:
            cache.append(translate(sources.images))
        return cache[0][np.asarray(seeds) % len(sources.images)]

    return generate


class Presentation(NamedTuple):
    """How a gate's report and a run's summary speak of one kind of model.

    Attributes:
      title: the gate's name (`classification gate`).
      caption: the caption of the report's grid.
      shows: what that grid shows, for the run summary.
      query: how to query the pushed model, with `{url}` and `{model}` to fill in.
    """

    title: str
    caption: str
    shows: str
    query: str


SAMPLES = Presentation(
    "sample-quality gate",
    "the candidate's samples of seeds 0, 1, 2, ... as judged",
    "the samples it judged",
    "query: gan-tf query --url {url} --model-name {model} --seeds 0-15 --out samples.png",
)


class OwnScore:
    """A model judged through its own signatures (one of `OWN_SCORES`): how it is scored on
    labelled held-out images, the grid its report shows and how the report speaks of it.

    Attributes:
      features: the feature-network name it answers (`detection`, ...).
      needs: what the gate needs to judge it, for the error when it is missing.
      presentation: its title, grid caption and query hint.
    """

    features: ClassVar[str]
    needs: ClassVar[str]
    presentation: ClassVar[Presentation]

    def score(self, generate: Callable[[np.ndarray], np.ndarray], batch_size: int) -> dict:
        """`{"scores": ..., "details": ..., "protocol": ...}` (details optional)."""
        raise NotImplementedError

    def grid(
        self, generate: Callable[[np.ndarray], np.ndarray], num_classes: int
    ) -> np.ndarray | None:
        """The report's grid: by default the judged samples (see `sample_grid`)."""
        return sample_grid(generate, num_classes)


@dataclasses.dataclass
class DetectionScore(OwnScore):
    """An anomaly detector: its `score` signature on labelled images (`score_detection`)."""

    features: ClassVar[str] = DETECTION
    needs: ClassVar[str] = "an anomaly detector's export"
    presentation: ClassVar[Presentation] = SAMPLES._replace(title="detection gate")
    score_images: Callable[[np.ndarray], np.ndarray]
    labelled: Labelled

    def score(self, generate, batch_size):
        return score_detection(self.score_images, self.labelled, batch_size)


@dataclasses.dataclass
class TranslationScore(OwnScore):
    """A translator: its translations of labelled source images (`score_translation`), the
    `generate` it is scored with being `translations_by_seed` of them."""

    features: ClassVar[str] = TRANSLATION
    needs: ClassVar[str] = "a translator's export"
    presentation: ClassVar[Presentation] = Presentation(
        "translation gate",
        "source images, the candidate's translations and their reconstructions",
        "source images, its translations and their reconstructions",
        # A translator has no `generate` to query.
        "translate: ServingClient('{url}', '{model}').translate(images) "
        "(gan_tf.serving.client; uint8 [n, H, W, C] images of domain A)",
    )
    translators: Translators
    sources: Sources

    def score(self, generate, batch_size):
        # `generate` holds the translations of the sources, in order: translate once.
        translated = generate(np.arange(len(self.sources.images), dtype=np.int64))
        return score_translation(self.translators, self.sources, translated)

    def grid(self, generate, num_classes):
        from gan_tf.metrics import translation

        return translation.grid(
            self.sources.images,
            self.sources.labels,
            self.translators.translate,
            self.translators.translate_back,
        )


@dataclasses.dataclass
class ClassificationScore(OwnScore):
    """A classifier: its `classify` signature on labelled held-out images
    (`score_classification`); the grid shows the images it got wrong, from the same
    predictions."""

    features: ClassVar[str] = CLASSIFICATION
    needs: ClassVar[str] = "a classifier's export"
    presentation: ClassVar[Presentation] = Presentation(
        "classification gate",
        "held-out images the candidate misclassified: a column per true class "
        "(0, 1, ...), its first ones from the top",
        "the images it misclassified",
        "classify: gan-tf query --url {url} --model-name {model} --classify IMAGE.png ...",
    )
    classify: Callable[[np.ndarray], np.ndarray]
    sources: Sources
    predicted: np.ndarray | None = None  # set by `score`

    def score(self, generate, batch_size):
        result = score_classification(self.classify, self.sources, batch_size)
        self.predicted = result.pop("predicted")
        return result

    def grid(self, generate, num_classes):
        if self.predicted is None:
            raise RuntimeError("the misclassified grid comes from the scored predictions")
        return misclassified_grid(self.sources, self.predicted)


OWN_SCORE_KINDS: dict[str, type[OwnScore]] = {
    kind.features: kind for kind in (DetectionScore, TranslationScore, ClassificationScore)
}


def presentation(report: Mapping[str, Any]) -> Presentation:
    """How a report's gate is spoken of: that of the model it judges by its own signatures,
    if any, else `SAMPLES`."""
    features = report.get("settings", {}).get("features", ())
    for kind in OWN_SCORES:
        if kind in features:
            return OWN_SCORE_KINDS[kind].presentation
    return SAMPLES


def score(
    generate: Callable[[np.ndarray], np.ndarray],
    reference: Callable[[], Iterable[np.ndarray]],
    settings: GateSettings,
    reference_cache_key: str | None = None,
    num_classes: int = 0,
    own: Iterable[OwnScore] = (),
) -> dict[str, Any]:
    """Scores a model with every configured feature network.

    Args:
      generate: int64 seeds -> uint8 NHWC images.
      reference: returns a fresh iterable of uint8 NHWC reference batches.
      settings: what to compute.
      reference_cache_key: reuse cached reference statistics under this key.
      num_classes: for a conditional generator, its classes (seed s asks for s % K).
      own: for the `OWN_SCORES` features, the model judged through its own signatures
        (`DetectionScore`, `TranslationScore`, `ClassificationScore`).

    Returns:
      `{"scores": {key: float}, "details": {key: list}, "protocol": {features: protocol}}`;
      details are the per-class lists of class coverage and classification error.

    Raises:
      ConfigError: for an `OWN_SCORES` feature without its entry in `own`.
    """
    from gan_tf.metrics import api

    scores: dict[str, float] = {}
    details: dict[str, list] = {}
    protocol: dict[str, Any] = {}
    for features in settings.features:
        if features in OWN_SCORES:
            judge = next((j for j in own if j.features == features), None)
            if judge is None:
                kind = OWN_SCORE_KINDS[features]
                raise ConfigError(f"the {kind.presentation.title} needs {kind.needs}")
            result = judge.score(generate, settings.batch_size)
            protocol[features] = result["protocol"]
            scores.update(result["scores"])
            details.update(result.get("details", {}))
            continue
        result = api.score_generator(
            generate,
            reference(),
            num_samples=settings.num_samples[features],
            metrics=settings.metrics[features],
            features=features,
            batch_size=settings.batch_size,
            reference_cache_key=reference_cache_key,
            num_classes=num_classes,
        )
        protocol[features] = result.pop("protocol")
        scores.update({k: float(v) for k, v in result.items() if not isinstance(v, list)})
        details.update({k: v for k, v in result.items() if isinstance(v, list)})
    return {"scores": scores, "details": details, "protocol": protocol}


def decide(
    scores: Mapping[str, float],
    settings: GateSettings,
    baseline: Mapping[str, float] | None,
) -> tuple[bool, list[dict[str, Any]]]:
    """Applies the thresholds and, with a baseline, the margins.

    Returns:
      `(blessed, checks)`: one check per threshold and margin, each with `name`, `value`,
      `bound`, `passed` and a readable `rule`. A non-finite score fails every check on it.
    """
    checks: list[dict[str, Any]] = []
    for key, bound in sorted(settings.thresholds.items()):
        value = scores.get(key, math.nan)
        up = higher_is_better(key)
        ok = math.isfinite(value) and (value >= bound if up else value <= bound)
        rule = f"{key} {'>=' if up else '<='} {bound:g}"
        checks.append(_check("threshold", key, value, bound, ok, rule))
    if baseline is not None:
        for key, margin in sorted(settings.margins.items()):
            value, base = scores.get(key, math.nan), baseline.get(key, math.nan)
            up = higher_is_better(key)
            bound = base - margin if up else base + margin
            ok = math.isfinite(value) and (
                not math.isfinite(base) or (value >= bound if up else value <= bound)
            )
            sign, op = ("-", ">=") if up else ("+", "<=")
            rule = f"{key} {op} baseline {base:.6g} {sign} {margin:g}"
            checks.append(_check("margin", key, value, bound, ok, rule))
    return all(c["passed"] for c in checks), checks


def _check(kind: str, key: str, value: float, bound: float, ok: bool, rule: str) -> dict:
    return {
        "kind": kind,
        "name": key,
        "value": value,
        "bound": bound,
        "passed": bool(ok),
        "rule": rule,
    }


def sample_grid(
    generate: Callable[[np.ndarray], np.ndarray], num_classes: int = 0, count: int = GRID_SAMPLES
) -> np.ndarray:
    """The first judged samples (seeds 0..) as one uint8 grid; a column per class if any.

    A conditional generator is asked for class `seed % num_classes`, so with `num_classes`
    columns (and `count` rounded up to whole rows) each column holds one class.
    """
    from gan_tf import images

    if num_classes > 0:
        count = -(-count // num_classes) * num_classes
    samples = generate(np.arange(count, dtype=np.int64))
    return images.make_grid(samples, cols=num_classes if num_classes > 0 else None)


def misclassified_grid(
    labelled: Sources, predicted: np.ndarray, per_class: int = 6
) -> np.ndarray | None:
    """The labelled images `predicted` gets wrong, as one uint8 grid: a column per true class
    (0, 1, ...) holding its first `per_class` misclassified images from the top, in the
    images' order, black where a class has fewer; None when no image is wrong."""
    from gan_tf import images

    labels, wrong = labelled.labels, np.asarray(predicted) != labelled.labels
    if not wrong.any():
        return None
    num_classes = int(labels.max()) + 1
    cells = np.zeros([per_class, num_classes, *labelled.images.shape[1:]], np.uint8)
    rows = 0
    for k in range(num_classes):
        chosen = labelled.images[wrong & (labels == k)][:per_class]
        cells[: len(chosen), k] = chosen
        rows = max(rows, len(chosen))
    return images.make_grid(cells[:rows].reshape(-1, *cells.shape[2:]), cols=num_classes)


def write_report(
    directory: str, report: Mapping[str, Any], grid: np.ndarray | None = None
) -> tuple[str, str]:
    """Writes the report as JSON and markdown into `directory`; returns both paths.

    With `grid` (see `sample_grid`), `samples.png` is written beside and the markdown
    shows it.
    """
    from gan_tf import images

    os.makedirs(directory, exist_ok=True)
    json_path = os.path.join(directory, REPORT_JSON)
    md_path = os.path.join(directory, REPORT_MD)
    files.atomic_write_json(json_path, report)
    if grid is not None:
        images.write_png(os.path.join(directory, REPORT_GRID), grid)
    files.atomic_write(md_path, to_markdown(report, REPORT_GRID if grid is not None else None))
    return json_path, md_path


def write_tensorboard(export_dir: str, report: Mapping[str, Any], grid: np.ndarray | None) -> str:
    """Adds the report to the TensorBoard log of the run that trained the judged export.

    The export's metadata names that log (`tensorboard`, as the pipeline's Trainer records
    it) and the step; exports without it are left alone.

    Returns:
      The TensorBoard directory written to, or "" if the export names none.
    """
    from gan_tf import export, summaries

    metadata = export.read_metadata(export_dir)
    logdir = metadata.get("tensorboard")
    if not logdir:
        return ""
    summaries.write_gate_report(
        logdir,
        int(metadata.get("step", 0)),
        to_markdown(report),
        report["scores"],
        bool(report["blessed"]),
        grid,
    )
    return logdir


def read_report(directory: str) -> dict[str, Any] | None:
    """Reads a report written by `write_report` (None if there is none)."""
    path = os.path.join(directory, REPORT_JSON)
    if not os.path.isfile(path):
        return None
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def title(report: Mapping[str, Any]) -> str:
    """`detection gate` for a report on an anomaly detector, `translation gate` for a
    translator, `classification gate` for a classifier, else `sample-quality gate`."""
    return presentation(report).title


def to_markdown(report: Mapping[str, Any], grid_file: str | None = None) -> str:
    """A human-readable rendering of a gate report, showing `grid_file` (a relative path)."""
    verdict = "BLESSED" if report["blessed"] else "NOT BLESSED"
    lines = [
        f"# {title(report).capitalize()}: {verdict}",
        "",
        f"- candidate: `{report['candidate']}`",
        f"- baseline: `{report.get('baseline') or 'none (first blessed model)'}`",
        "",
    ]
    features = report.get("settings", {}).get("features", ())
    if grid_file:
        caption = presentation(report).caption
        lines += [
            f"![{caption}]({grid_file})",
            "",
        ]
    lines += [
        "| score | candidate | baseline |",
        "| --- | --- | --- |",
    ]
    base = report.get("baseline_scores") or {}
    for key, value in sorted(report["scores"].items()):
        b = base.get(key)
        lines.append(f"| {key} | {value:.6g} | {'' if b is None else f'{b:.6g}'} |")
    lines += ["", "| check | rule | value | result |", "| --- | --- | --- | --- |"]
    for c in report["checks"]:
        result = "pass" if c["passed"] else "FAIL"
        lines.append(f"| {c['kind']} | `{c['rule']}` | {c['value']:.6g} | {result} |")
    if not report["checks"]:
        lines.append("| (none configured) | | | |")
    class_error = report.get("details", {}).get("class_error")
    if CLASSIFICATION in features and class_error:
        lines += ["", "| true class | error |", "| --- | --- |"]
        lines += [
            f"| {k} | {'no images' if e is None else f'{e:.4g}'} |"
            for k, e in enumerate(class_error)
        ]
    lines += ["", "## Protocol", "", "```json", json.dumps(report["protocol"], indent=2), "```", ""]
    return "\n".join(lines)
