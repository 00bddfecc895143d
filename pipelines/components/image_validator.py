"""`ImageExampleValidator`: TFX's ExampleValidator plus image checks, failing on anomalies.

It runs the standard ExampleValidator (statistics against the schema) and adds, per split,
anomalies on the image feature to the same `ExampleAnomalies` output:

* from TFDV's semantic-domain statistics (StatisticsGen with
  `enable_semantic_domain_stats=True`): the feature must be recognised as an image domain,
  and its image-format histogram must hold no `UNKNOWN` (non-image) values;
* from the examples themselves: every image must decode and have the shape the model
  expects (`[height, width, channels]`), which the statistics cannot tell.

When any anomaly is found the executor writes the anomalies and then raises `DataError`
naming them, so the run stops here and nothing downstream (Trainer, gate, Pusher) runs.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Mapping
from typing import Any

from tensorflow_metadata.proto.v0 import anomalies_pb2
from tfx import types
from tfx.components.example_validator import executor as ev_executor
from tfx.components.example_validator import labels
from tfx.components.example_validator.component import ExampleValidator
from tfx.dsl.components.base import base_component, executor_spec
from tfx.types import artifact_utils, standard_artifacts
from tfx.types import standard_component_specs as specs
from tfx.types.component_spec import ChannelParameter, ExecutionParameter
from tfx.utils import writer_utils

from gan_tf.errors import DataError

log = logging.getLogger(__name__)

IMAGE_KEY = "image_key"
IMAGE_SHAPE = "image_shape"
MAX_CHECKED = "max_checked_images"
EXAMPLES = "examples"
_FORMAT_HISTOGRAM = "image_format_histogram"
_MAX_LISTED = 5


class ImageExampleValidatorSpec(specs.ExampleValidatorSpec):
    """ExampleValidator's spec plus the examples and the expected image shape."""

    PARAMETERS = {
        **specs.ExampleValidatorSpec.PARAMETERS,
        IMAGE_KEY: ExecutionParameter(type=str),
        IMAGE_SHAPE: ExecutionParameter(type=str),
        MAX_CHECKED: ExecutionParameter(type=int, optional=True),
    }
    INPUTS = {
        **specs.ExampleValidatorSpec.INPUTS,
        EXAMPLES: ChannelParameter(type=standard_artifacts.Examples),
    }


def find_image_anomalies(
    stats, examples_uri: str, image_key: str, shape: list[int], max_checked: int = 0
) -> list[str]:
    """Problems with the image feature of one split, as readable sentences.

    Args:
      stats: the split's `DatasetFeatureStatisticsList` (TFDV, semantic domains on).
      examples_uri: directory of the split's gzipped TFRecords of `tf.Example`.
      image_key: feature holding the encoded image.
      shape: expected `[height, width, channels]`.
      max_checked: decode at most this many examples (0 = all).
    """
    problems = []
    feature = next(
        (
            f
            for d in stats.datasets
            for f in d.features
            if list(f.path.step) == [image_key] or f.name == image_key
        ),
        None,
    )
    if feature is None:
        return [f"feature {image_key!r} is missing from the data"]
    custom = {c.name: c for c in feature.custom_stats}
    domain = custom.get("domain_info")
    if domain is None or "image_domain" not in domain.str:
        problems.append(
            f"feature {image_key!r} is not recognised as images: TFDV found no image signature "
            "(PNG, JPEG, GIF, BMP) in most of its values"
        )
    histogram = custom.get(_FORMAT_HISTOGRAM)
    if histogram is not None:
        counts = {b.label: int(b.sample_count) for b in histogram.rank_histogram.buckets}
        if counts.get("UNKNOWN"):
            problems.append(
                f"{counts['UNKNOWN']} values of {image_key!r} are not in an image format "
                f"(format histogram: {counts})"
            )
    problems += _decode_problems(examples_uri, image_key, shape, max_checked)
    return problems


def _decode_problems(uri: str, image_key: str, shape: list[int], max_checked: int) -> list[str]:
    import tensorflow as tf

    files = sorted(tf.io.gfile.glob(os.path.join(uri, "*")))
    spec = {image_key: tf.io.FixedLenFeature([], tf.string, default_value="")}

    def shape_of(index, record):
        data = tf.io.parse_single_example(record, spec)[image_key]
        image = tf.io.decode_image(data, expand_animations=False)
        return index, tf.shape(image)

    records = tf.data.TFRecordDataset(files, compression_type="GZIP").take(max_checked or -1)
    total = int(records.reduce(tf.constant(0, tf.int64), lambda n, _: n + 1))
    # Records that fail to parse or decode are dropped; their indices are the missing ones.
    ds = records.enumerate().map(shape_of, num_parallel_calls=tf.data.AUTOTUNE)
    ds = ds.ignore_errors(log_warning=False).batch(4096)
    seen, wrong = set(), []
    for indices, shapes in ds.as_numpy_iterator():
        seen.update(indices.tolist())
        wrong += [(i, s) for i, s in zip(indices.tolist(), shapes.tolist()) if s != list(shape)]
    wrong.sort()
    problems = []
    undecodable = sorted(set(range(total)) - seen)
    if undecodable:
        problems.append(
            f"{len(undecodable)} of {total} images of {image_key!r} cannot be decoded "
            f"(corrupt or not an image; first records: {undecodable[:_MAX_LISTED]})"
        )
    if wrong:
        examples = ", ".join(f"record {i}: {s}" for i, s in wrong[:_MAX_LISTED])
        problems.append(
            f"{len(wrong)} of {total} images of {image_key!r} have the wrong shape: expected "
            f"{list(shape)} (height, width, channels), got {examples}"
        )
    return problems


class Executor(ev_executor.Executor):
    """The standard ExampleValidator executor plus image checks; raises on anomalies."""

    def Do(  # noqa: N802 (TFX API)
        self,
        input_dict: dict[str, list[types.Artifact]],
        output_dict: dict[str, list[types.Artifact]],
        exec_properties: dict[str, Any],
    ):
        self._examples = artifact_utils.get_single_instance(input_dict[EXAMPLES])
        self._image_key = exec_properties[IMAGE_KEY]
        self._shape = json.loads(exec_properties[IMAGE_SHAPE])
        self._max_checked = int(exec_properties.get(MAX_CHECKED) or 0)
        self._found: dict[str, list[str]] = {}
        result = super().Do(input_dict, output_dict, exec_properties)
        if self._found:
            lines = [f"split {s}: {p}" for s, problems in self._found.items() for p in problems]
            raise DataError(
                "ExampleValidator found anomalies, so the run stops before training:\n  "
                + "\n  ".join(lines)
            )
        return result

    def _Validate(self, inputs: dict[str, Any], outputs: dict[str, Any]):  # noqa: N802
        anomalies = super()._Validate(inputs, outputs)
        output_uri = outputs[labels.SCHEMA_DIFF_PATH]
        split = os.path.basename(os.path.normpath(output_uri)).removeprefix("Split-")
        examples_uri = artifact_utils.get_split_uri([self._examples], split)
        problems = find_image_anomalies(
            inputs[specs.STATISTICS_KEY],
            examples_uri,
            self._image_key,
            self._shape[split] if isinstance(self._shape, dict) else self._shape,
            self._max_checked,
        )
        if problems:
            info = anomalies.anomaly_info[self._image_key]
            info.severity = info.ERROR
            info.short_description = "Invalid images"
            info.description = " ".join(p if p.endswith(".") else p + "." for p in problems)
            for problem in problems:
                reason = info.reason.add()
                reason.type = anomalies_pb2.AnomalyInfo.UNKNOWN_TYPE
                reason.short_description = "Invalid images"
                reason.description = problem
            writer_utils.write_anomalies(
                os.path.join(output_uri, ev_executor.DEFAULT_FILE_NAME), anomalies
            )
        listed = [
            f"{name}: {info.description or info.short_description}"
            for name, info in sorted(anomalies.anomaly_info.items())
        ]
        if anomalies.HasField("dataset_anomaly_info"):
            listed.append(f"dataset: {anomalies.dataset_anomaly_info.description}")
        if listed:
            self._found[split] = listed
        return anomalies


class ImageExampleValidator(ExampleValidator):
    """ExampleValidator that also checks image decoding/shape and fails on any anomaly."""

    SPEC_CLASS = ImageExampleValidatorSpec
    EXECUTOR_SPEC = executor_spec.ExecutorClassSpec(Executor)

    def __init__(
        self,
        statistics: types.BaseChannel,
        schema: types.BaseChannel,
        examples: types.BaseChannel,
        image_shape: tuple[int, int, int] | Mapping[str, tuple[int, int, int]],
        image_key: str = "image",
        max_checked_images: int = 0,
    ):
        """Creates the component.

        Args:
          statistics: StatisticsGen output (semantic-domain statistics on).
          schema: the schema to validate against.
          examples: the examples the statistics describe (decoded for the shape check).
          image_shape: expected `(height, width, channels)`, or per split (two-domain runs
            whose domains differ in channels).
          image_key: feature holding the encoded image.
          max_checked_images: decode at most this many examples per split (0 = all).
        """
        spec = ImageExampleValidatorSpec(
            statistics=statistics,
            schema=schema,
            examples=examples,
            image_key=image_key,
            image_shape=json.dumps(
                {k: [int(d) for d in v] for k, v in image_shape.items()}
                if isinstance(image_shape, Mapping)
                else [int(d) for d in image_shape]
            ),
            max_checked_images=max_checked_images,
            anomalies=types.Channel(type=standard_artifacts.ExampleAnomalies),
        )
        base_component.BaseComponent.__init__(self, spec=spec)
