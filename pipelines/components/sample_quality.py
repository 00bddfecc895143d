"""`SampleQualityGate`: scores the candidate model and writes a standard `ModelBlessing`.

The candidate is the Trainer's serving SavedModel (what the Pusher would push). A generator
is sampled through its `generate` signature from seeds `0..N-1`; the reference is the first
N images of the eval split of the pipeline's `Examples`. An anomaly detector (the
`detection` features) is called through its `score` signature on the first N labelled
images of the same eval split, normal being the candidate's own `data.normal_classes` (from
the config in its export metadata). A translator (the `translation` features) translates
the first N labelled images of the eval split (domain A) through `translate` and back
through `translate_back`; its translations are the samples compared with the first images
of `reference_split` (domain B, `eval_b`). A classifier (the `classification` features, a
semi-supervised model) labels the first N labelled images of the eval split through its
`classify` signature. The rule is in `pipelines.gate.decide`.

Outputs:
  blessing: a `ModelBlessing` exactly as the Evaluator writes one (a `BLESSED` or
    `NOT_BLESSED` file; custom properties `blessed`, `current_model`, `current_model_id`,
    and `baseline_model`/`baseline_model_id` when compared), plus `score_<key>` float
    properties and the report files, so Pusher and `LatestBlessedModelStrategy` work as usual.
  report: a `SampleQualityReport` directory with `sample_quality.json`, `.md` and the
    grid `samples.png` (the judged samples; a classifier's misclassified images); the
    report also goes to the TensorBoard log of the run that trained the candidate
    (`gate/*`, see `gan_tf.summaries`).
"""

import logging
import os
from typing import Any

from tfx import types
from tfx.dsl.component.experimental.annotations import (
    InputArtifact,
    OutputArtifact,
    Parameter,
)
from tfx.dsl.component.experimental.decorators import component
from tfx.types import artifact_utils, standard_artifacts

log = logging.getLogger(__name__)


class SampleQualityReport(types.Artifact):
    """Directory holding `sample_quality.json` and `sample_quality.md`."""

    TYPE_NAME = "gan_tf.SampleQualityReport"


def serving_dir(model: types.Artifact) -> str:
    """The SavedModel directory of a Trainer `Model` artifact."""
    from tfx.utils import path_utils

    return path_utils.serving_model_path(model.uri)


def reference_batches(examples: types.Artifact, split: str, image_key: str, batch_size: int = 250):
    """Returns a function giving uint8 NHWC batches of the decoded images of `split`."""
    import tensorflow as tf

    from gan_tf.errors import DataError

    uris = artifact_utils.get_split_uris([examples], split)
    files = sorted(tf.io.gfile.glob(os.path.join(uris[0], "*")))
    if not files:
        raise DataError(f"split {split!r} of {examples.uri} holds no files")
    spec = {image_key: tf.io.FixedLenFeature([], tf.string)}

    def decode(record):
        data = tf.io.parse_single_example(record, spec)[image_key]
        return tf.io.decode_image(data, expand_animations=False)

    def batches():
        ds = tf.data.TFRecordDataset(files, compression_type="GZIP").map(decode)
        yield from ds.batch(batch_size).as_numpy_iterator()

    return batches


def export_source(export_dir: str):
    """An exported generator as a metrics source (its `generate` signature, psi = 1)."""
    from gan_tf.metrics import sources

    return sources.from_export(export_dir)


def export_signatures(export_dir: str, names: tuple[str, ...], judged: str) -> list:
    """The signatures `names` of an exported model, loaded once.

    Raises:
      DataError: naming what the gate judges, if the export lacks one of them.
    """
    import tensorflow as tf

    from gan_tf.errors import DataError

    try:
        signatures = tf.saved_model.load(export_dir).signatures
        return [signatures[name] for name in names]
    except (OSError, ValueError, KeyError) as e:
        wanted = " and ".join(repr(name) for name in names)
        raise DataError(
            f"cannot load exported model {export_dir} with {wanted} signature"
            f"{'s' if len(names) > 1 else ''} (the {judged}): {e}"
        ) from None


def export_scorer(export_dir: str):
    """An exported anomaly detector's `score` signature: uint8 NHWC images -> scores.

    Raises:
      DataError: if the export has no `score` signature (it is not a detector).
    """
    import tensorflow as tf

    (signature,) = export_signatures(
        export_dir, ("score",), "detection gate judges anomaly detectors"
    )

    def score(images):
        return signature(images=tf.constant(images, tf.uint8))["scores"].numpy()

    return score


def export_translators(export_dir: str):
    """An exported translator's `translate` and `translate_back` signatures as a
    `pipelines.gate.Translators` of uint8 NHWC images.

    Raises:
      DataError: if the export lacks either signature (it is not a translator).
    """
    import tensorflow as tf

    from gan_tf import images
    from gan_tf.families import cyclegan
    from pipelines import gate

    there, back = export_signatures(
        export_dir, ("translate", "translate_back"), "translation gate judges translators"
    )

    def call(signature):
        def run(pixels):
            return images.map_batches(
                lambda x: signature(images=tf.constant(x, tf.uint8))["images"].numpy(),
                pixels,
                cyclegan.BATCH,
            )

        return run

    return gate.Translators(call(there), call(back))


def export_classifier(export_dir: str):
    """An exported classifier's `classify` signature: uint8 NHWC images -> class indices.

    Raises:
      DataError: if the export has no `classify` signature (it is not a classifier).
    """
    import tensorflow as tf

    (signature,) = export_signatures(export_dir, ("classify",), "classifier")

    def classify(images):
        return signature(images=tf.constant(images, tf.uint8))["labels"].numpy()

    return classify


def run_config(examples: types.Artifact, split: str, export_dir: str, judged: str):
    """The run config of an export (from its metadata), its `data` reading the examples'
    splits by name (`data.path=<examples>/Split-{split}/*`): read `split` of it by name.

    Raises:
      DataError: when the export records no run config.
    """
    from gan_tf import export
    from gan_tf.config import Config
    from gan_tf.errors import DataError

    values = export.read_metadata(export_dir).get("config")
    if not values:
        raise DataError(f"{export_dir} records no run config; the {judged} gate needs one")
    from gan_tf.data.sources import SPLIT_FIELD

    uri = artifact_utils.get_split_uris([examples], split)[0]
    by_split = os.path.join(os.path.dirname(os.path.normpath(uri)), f"Split-{SPLIT_FIELD}", "*")
    return Config.from_dict(values).override(
        ["data.source=tfrecord", f"data.path={by_split}", "data.data_dir="]
    )


def labelled_reference(examples: types.Artifact, split: str, export_dir: str, limit: int):
    """The first `limit` labelled images of `split`, normal as the export's run defines it.

    The run config is read from the export's metadata and pointed at the split's TFRecords,
    so `gan_tf.families.anomaly.labelled_images` reads them with the run's image and label
    keys and its `data.normal_classes`.

    Returns:
      A `pipelines.gate.Labelled`.
    """
    from gan_tf.families.anomaly import labelled_images
    from pipelines import gate

    config = run_config(examples, split, export_dir, "detection")
    images, anomalous = labelled_images(config, limit, split)
    return gate.Labelled(images, anomalous, config.data.normal_classes, config.anomaly.fpr)


def labelled_sources(
    examples: types.Artifact, split: str, export_dir: str, limit: int, judged: str
):
    """The first `limit` labelled images of `split` (domain A), read with the keys of the
    export's run, for the `judged` gate.

    Returns:
      A `pipelines.gate.Sources`.

    Raises:
      DataError: when the split is empty or has no labels.
    """
    from gan_tf.data import pipeline
    from gan_tf.errors import DataError
    from pipelines import gate

    data = run_config(examples, split, export_dir, judged).data
    try:
        return gate.Sources(*pipeline.labelled_images(data, split, limit))
    except DataError as e:
        raise DataError(f"the {judged} gate needs labelled images: {e}") from e


def _baseline_scores(
    baseline_model: types.Artifact | None,
    baseline_blessing: types.Artifact | None,
    protocol: dict[str, Any],
    rescore,
) -> dict[str, float] | None:
    from pipelines import gate

    if baseline_model is None:
        return None
    if baseline_blessing is not None:
        previous = gate.read_report(baseline_blessing.uri)
        if previous and _same_protocol(previous.get("protocol", {}), protocol):
            log.info("Baseline scores reused from %s", baseline_blessing.uri)
            return previous["scores"]
    log.info("Re-scoring the baseline %s under the current protocol", baseline_model.uri)
    return rescore(serving_dir(baseline_model))["scores"]


def usable_baseline(
    model: types.Artifact,
    baseline_model: types.Artifact | None,
    baseline_blessing: types.Artifact | None,
) -> tuple[types.Artifact | None, types.Artifact | None]:
    """The resolved baseline, or `(None, None)` if it is the candidate itself.

    A resolver that returns the latest blessed model (Kubeflow V2's) returns the candidate
    when a run blessed it and died before pushing; comparing a model with itself passes
    every margin, so such a baseline is dropped and only thresholds apply.
    """
    if baseline_model is not None and baseline_model.id == model.id:
        log.warning("The resolved baseline is the candidate itself; checking thresholds only")
        return None, None
    return baseline_model, baseline_blessing


def _same_protocol(a: dict[str, Any], b: dict[str, Any]) -> bool:
    def strip(p):
        return {f: {k: v for k, v in d.items() if k != "seconds"} for f, d in p.items()}

    return strip(a) == strip(b)


@component
def SampleQualityGate(  # noqa: N802 (TFX component names are classes)
    model: InputArtifact[standard_artifacts.Model],
    examples: InputArtifact[standard_artifacts.Examples],
    blessing: OutputArtifact[standard_artifacts.ModelBlessing],
    report: OutputArtifact[SampleQualityReport],
    settings_json: Parameter[str],
    baseline_model: InputArtifact[standard_artifacts.Model] = None,
    baseline_blessing: InputArtifact[standard_artifacts.ModelBlessing] = None,
    split: Parameter[str] = "eval",
    image_key: Parameter[str] = "image",
    reference_split: Parameter[str] = "",
):
    """Blesses the candidate only if its quality meets thresholds and the baseline.

    Args:
      model: the candidate (Trainer output).
      examples: the ingested examples; the `split` split is the reference set (labelled,
        for the `detection` features).
      blessing: the standard ModelBlessing written for Pusher.
      report: the JSON/markdown report of scores, checks and protocol.
      settings_json: `pipelines.gate.GateSettings` as JSON.
      baseline_model: the model to compare with, if any: the last one pushed (see
        `pipelines.components.pushed_baseline`), never the candidate itself.
      baseline_blessing: its blessing (its report is reused when the protocol matches).
      split: reference split name; for `translation`, the labelled source images; for
        `classification`, the labelled held-out images.
      image_key: feature holding the encoded images.
      reference_split: the images that samples are compared with, if not `split`: a
        translator's target domain (`eval_b`).
    """
    from pipelines import gate

    settings = gate.GateSettings.from_json(settings_json)
    baseline_model, baseline_blessing = usable_baseline(model, baseline_model, baseline_blessing)
    reference_split = reference_split or split
    reference = reference_batches(examples, reference_split, image_key)
    cache_key = f"tfx:{examples.uri}:{reference_split}"
    candidate_dir = serving_dir(model)
    detects = gate.DETECTION in settings.features
    translates = gate.TRANSLATION in settings.features
    classifies = gate.CLASSIFICATION in settings.features
    labelled = sources = None
    if detects:
        labelled = labelled_reference(
            examples, split, candidate_dir, settings.num_samples[gate.DETECTION]
        )
    for judged_by in (gate.TRANSLATION, gate.CLASSIFICATION):
        if judged_by in settings.features:
            limit = settings.num_samples[judged_by]
            sources = labelled_sources(examples, split, candidate_dir, limit, judged_by)

    def judged(export_dir: str):
        """`(generate, num_classes, own scores)` of an export (see `gate.OwnScore`)."""
        if translates:
            translators = export_translators(export_dir)
            generate = gate.translations_by_seed(translators.translate, sources)
            return generate, 0, [gate.TranslationScore(translators, sources)]
        source = export_source(export_dir)
        own: list[gate.OwnScore] = []
        if detects:
            own.append(gate.DetectionScore(export_scorer(export_dir), labelled))
        if classifies:
            own.append(gate.ClassificationScore(export_classifier(export_dir), sources))
        return source.generate, source.num_classes, own

    def rescore(export_dir: str, candidate=None):
        generate, num_classes, own = candidate or judged(export_dir)
        return gate.score(
            generate,
            reference,
            settings,
            reference_cache_key=cache_key,
            num_classes=num_classes,
            own=own,
        )

    candidate = judged(candidate_dir)
    result = rescore(candidate_dir, candidate)
    baseline = _baseline_scores(baseline_model, baseline_blessing, result["protocol"], rescore)
    blessed, checks = gate.decide(result["scores"], settings, baseline)
    content = {
        "blessed": blessed,
        "candidate": candidate_dir,
        "candidate_model_id": model.id,
        "baseline": serving_dir(baseline_model) if baseline_model is not None else None,
        "baseline_model_id": baseline_model.id if baseline_model is not None else None,
        "scores": result["scores"],
        "details": result["details"],
        "baseline_scores": baseline,
        "checks": checks,
        "settings": json_settings(settings),
        "reference": f"{examples.uri} split {reference_split!r}, first N images in file order",
        "protocol": result["protocol"],
    }
    generate, num_classes, own = candidate
    # The kind judged by its own signatures draws the grid from what it scored (the images a
    # classifier got wrong, a translator's translations); a generator shows its samples.
    grid = own[0].grid(generate, num_classes) if own else gate.sample_grid(generate, num_classes)
    gate.write_report(report.uri, content, grid)
    gate.write_report(blessing.uri, content, grid)
    gate.write_tensorboard(candidate_dir, content, grid)
    marker = "BLESSED" if blessed else "NOT_BLESSED"
    with open(os.path.join(blessing.uri, marker), "w", encoding="utf-8"):
        pass
    blessing.set_int_custom_property("blessed", int(blessed))
    blessing.set_string_custom_property("current_model", model.uri)
    blessing.set_int_custom_property("current_model_id", model.id)
    if baseline_model is not None:
        blessing.set_string_custom_property("baseline_model", baseline_model.uri)
        blessing.set_int_custom_property("baseline_model_id", baseline_model.id)
    for key, value in result["scores"].items():
        blessing.set_float_custom_property(f"score_{key}", value)
        report.set_float_custom_property(key, value)
    report.set_int_custom_property("blessed", int(blessed))
    failed = [c["rule"] for c in checks if not c["passed"]]
    log.info(
        "Quality gate: %s; scores %s%s",
        marker,
        result["scores"],
        f"; failed: {failed}" if failed else "",
    )


def json_settings(settings) -> dict[str, Any]:
    import json

    return json.loads(settings.to_json())
