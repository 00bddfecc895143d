"""Export of the EMA generator as a SavedModel that TF Serving (or `gan-tf serve`) can load.

An export is a directory such as `<base>/<version>/` holding:

    saved_model.pb, variables/       the generator, float32, with the signatures below
    assets/gan_metadata.json         latent size, classes, image shape, step, gate scores, ...
    assets.extra/tf_serving_warmup_requests
                                     a TFRecord of `PredictionLog`s TF Serving replays on load

Signatures (all `tensorflow/serving/predict`; every input has a leading batch dimension, so
TF Serving's request batching can merge requests):

    serving_default  z [n, latent_dim] float32 (+ labels [n] int64)   -> images [n,H,W,C] uint8
    generate         seeds [n] int64, truncation [n] float32 (+ labels) -> images [n,H,W,C] uint8
    generate_png     same inputs as `generate`                         -> images_bytes [n] string

An anomaly detector's export (`export_detector`) has these and one more:

    score            images [n,H,W,C] uint8 -> scores [n] float32, reconstructions uint8

(`gan_tf.detector`: the anomaly score of each image and its reconstruction G(E(x)); each
image's outputs depend on that image only.) A semi-supervised classifier's export
(`export_classifier`) has the generator's signatures and:

    classify         images [n,H,W,C] uint8 -> probabilities [n,K] float32, labels [n] int64

A CycleGAN's export (`export_translators`) has its own two signatures:

    translate        images [n,H,W,C_A] uint8 -> images [n,H,W,C_B] uint8   (G_AB, A -> B)
    translate_back   images [n,H,W,C_B] uint8 -> images [n,H,W,C_A] uint8   (G_BA, B -> A)

(each translation depends on its own image only: the translators normalise per image).
`score`, `classify` and both translations check their images' shape in the graph, as TF
Serving does not: another size or channel count fails with "<signature> takes images of shape
[n, H, W, C]" (`g_ab translates ...` for a translation) before any network runs.

`generate` draws `z = latents_for_seeds(seeds)`, as `gan-tf generate` does, and applies the
truncation `z <- psi * z` (psi = 1 leaves z unchanged; smaller psi trades diversity for
fidelity). The generator runs on one example at a time inside the graph, so an image depends
only on its own seed, label and psi: bit for bit the same alone, in any batch, and whatever
TF Serving's batching does. The `images_bytes` output name makes TF Serving's REST API
base64-encode the PNG bytes (`{"b64": ...}`).
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import tempfile
import time
from typing import Any

import keras
import numpy as np
import tensorflow as tf

from gan_tf import files
from gan_tf.errors import GanTfError
from gan_tf.networks.base import Generator, condition, float32_copy
from gan_tf.sampling import latents_for_seeds

log = logging.getLogger(__name__)

METADATA_FILE = "gan_metadata.json"
WARMUP_FILE = os.path.join("assets.extra", "tf_serving_warmup_requests")
SIGNATURES = ("serving_default", "generate", "generate_png")
DETECTOR_SIGNATURES = (*SIGNATURES, "score")
CLASSIFIER_SIGNATURES = (*SIGNATURES, "classify")
TRANSLATOR_SIGNATURES = ("translate", "translate_back")
MAX_WARMUP_REQUESTS = 1000  # TF Serving reads at most this many warmup records.
# Examples generated concurrently inside one request.
PARALLEL_ITERATIONS = 8


class ExportError(GanTfError):
    """The generator could not be exported (bad arguments or a failed write)."""


def image_to_uint8(images: tf.Tensor) -> tf.Tensor:
    """Maps [-1, 1] floats to uint8 as `gan_tf.images.to_uint8` does (round half to even)."""
    x = tf.round((tf.cast(images, tf.float32) + 1.0) * 127.5)
    return tf.cast(tf.clip_by_value(x, 0.0, 255.0), tf.uint8)


def checked_images(images: tf.Tensor, image_shape: tuple[int, ...], what: str) -> tf.Tensor:
    """`images`, once a run-time check has found them `[n, *image_shape]`.

    TF Serving feeds a signature's inputs without checking them against the shapes it
    declares: without this check, images of another size or channel count would reach the
    networks and fail deep inside them with an error that does not say what was wrong.

    Args:
      images: the batch a signature was given.
      image_shape: `(H, W, C)` the signature takes.
      what: how the message starts, e.g. `"score takes"`.

    Returns:
      `images`; running the graph on another shape raises `InvalidArgumentError`
      "<what> images of shape [n, H, W, C]".
    """
    expected = ", ".join(map(str, image_shape))
    check = tf.debugging.assert_equal(
        tf.shape(images)[1:],
        tf.constant(image_shape),
        message=f"{what} images of shape [n, {expected}]",
    )
    with tf.control_dependencies([check]):
        return tf.identity(images)


class ServingModule(tf.Module):
    """The exported object: the generator, its metadata asset and the signature functions."""

    signature_names = SIGNATURES

    def __init__(self, generator: Generator, metadata_path: str):
        super().__init__(name="gan_serving")
        self.generator = generator
        self.metadata_asset = tf.saved_model.Asset(metadata_path)
        self.num_classes = int(generator.num_classes)
        self.latent_dim = int(generator.latent_dim)
        self.image_shape = tuple(int(d) for d in generator.image_shape)

    def _check_labels(self, labels: tf.Tensor, count: tf.Tensor) -> tf.Tensor:
        checks = [
            tf.debugging.assert_equal(
                tf.shape(labels)[0], count, message="labels must have one entry per example"
            ),
            tf.debugging.assert_non_negative(labels, message="labels must be >= 0"),
            tf.debugging.assert_less(
                labels,
                tf.constant(self.num_classes, tf.int64),
                message=f"labels must be < num_classes ({self.num_classes})",
            ),
        ]
        with tf.control_dependencies(checks):  # check before the embedding lookup
            return tf.cast(labels, tf.int32)

    def conditions(self, labels: tf.Tensor | None, count: tf.Tensor) -> tf.Tensor:
        """The condition `c` of checked `labels` (None when unconditional)."""
        if labels is not None:
            labels = self._check_labels(labels, count)
        return condition(labels, self.num_classes, count)

    def per_example(self, fn, elems: tuple[tf.Tensor, ...]) -> tf.Tensor:
        """Runs `fn` (batch-of-one tensors -> [1, H, W, C] image) on each example of
        `elems`; returns uint8 NHWC images."""
        spec = tf.TensorSpec(self.image_shape, tf.float32)

        def one(parts):
            return tf.cast(fn(*(t[None] for t in parts)), tf.float32)[0]

        x = tf.map_fn(one, elems, fn_output_signature=spec, parallel_iterations=PARALLEL_ITERATIONS)
        return image_to_uint8(x)

    def images(self, z: tf.Tensor, labels: tf.Tensor | None) -> tf.Tensor:
        """Runs the generator one example at a time; returns uint8 NHWC images."""
        z = tf.cast(z, tf.float32)
        c = self.conditions(labels, tf.shape(z)[0])
        return self.per_example(lambda zi, ci: self.generator((zi, ci), training=False), (z, c))

    def truncation_checks(self, seeds: tf.Tensor, truncation: tf.Tensor) -> list:
        """Assertions that `truncation` has one finite, non-negative psi per seed."""
        return [
            tf.debugging.assert_equal(
                tf.shape(truncation),
                tf.shape(seeds),
                message="truncation must have one entry per seed",
            ),
            tf.debugging.Assert(
                tf.reduce_all(tf.math.is_finite(truncation) & (truncation >= 0.0)),
                ["truncation (psi) must be finite and >= 0"],
            ),
        ]

    def latents(self, seeds: tf.Tensor, truncation: tf.Tensor) -> tf.Tensor:
        """Latents of `seeds` (as `gan-tf generate` draws them), scaled by `truncation`."""
        with tf.control_dependencies(self.truncation_checks(seeds, truncation)):
            z = latents_for_seeds(tf.identity(seeds), self.latent_dim)
            return z * truncation[:, None]

    def seeded_images(
        self, seeds: tf.Tensor, truncation: tf.Tensor, labels: tf.Tensor | None
    ) -> tf.Tensor:
        """The images of the `generate` signatures: uint8, one per seed."""
        return self.images(self.latents(seeds, truncation), labels)

    def signatures(self) -> dict[str, Any]:
        """Concrete functions for `tf.saved_model.save(..., signatures=...)`."""
        conditional = self.num_classes > 0
        z_spec = tf.TensorSpec([None, self.latent_dim], tf.float32, name="z")
        seeds_spec = tf.TensorSpec([None], tf.int64, name="seeds")
        psi_spec = tf.TensorSpec([None], tf.float32, name="truncation")
        labels_spec = tf.TensorSpec([None], tf.int64, name="labels")

        if conditional:

            @tf.function(input_signature=[z_spec, labels_spec])
            def serving_default(z, labels):
                return {"images": self.images(z, labels)}

            @tf.function(input_signature=[seeds_spec, psi_spec, labels_spec])
            def generate(seeds, truncation, labels):
                return {"images": self.seeded_images(seeds, truncation, labels)}

            @tf.function(input_signature=[seeds_spec, psi_spec, labels_spec])
            def generate_png(seeds, truncation, labels):
                images = self.seeded_images(seeds, truncation, labels)
                return {"images_bytes": encode_pngs(images)}

        else:

            @tf.function(input_signature=[z_spec])
            def serving_default(z):
                return {"images": self.images(z, None)}

            @tf.function(input_signature=[seeds_spec, psi_spec])
            def generate(seeds, truncation):
                return {"images": self.seeded_images(seeds, truncation, None)}

            @tf.function(input_signature=[seeds_spec, psi_spec])
            def generate_png(seeds, truncation):
                images = self.seeded_images(seeds, truncation, None)
                return {"images_bytes": encode_pngs(images)}

        return {
            "serving_default": serving_default.get_concrete_function(),
            "generate": generate.get_concrete_function(),
            "generate_png": generate_png.get_concrete_function(),
        }


class DetectorServingModule(ServingModule):
    """A detector's exported object: the generator's signatures and `score`.

    Args:
      detector: a `gan_tf.detector.Detector` of float32 networks.
      metadata_path: the metadata asset.
    """

    signature_names = DETECTOR_SIGNATURES

    def __init__(self, detector, metadata_path: str):
        super().__init__(detector.generator, metadata_path)
        self.detector = detector

    def score(self, images: tf.Tensor) -> dict[str, tf.Tensor]:
        """The `score` signature's outputs; an empty batch has empty outputs (the networks
        cannot run on zero images)."""

        images = checked_images(images, self.image_shape, "score takes")

        def parts() -> dict[str, tf.Tensor]:
            out = self.detector.parts(images)
            return {"scores": out["scores"], "reconstructions": out["reconstructions"]}

        def nothing() -> dict[str, tf.Tensor]:
            return {
                "scores": tf.zeros([0], tf.float32),
                "reconstructions": tf.zeros([0, *self.image_shape], tf.uint8),
            }

        return tf.cond(tf.shape(images)[0] > 0, parts, nothing)

    def signatures(self) -> dict[str, Any]:
        images_spec = tf.TensorSpec([None, *self.image_shape], tf.uint8, name="images")

        @tf.function(input_signature=[images_spec])
        def score(images):
            return self.score(images)

        return {**super().signatures(), "score": score.get_concrete_function()}


class ClassifierServingModule(ServingModule):
    """A semi-supervised GAN's exported object: the generator's signatures and `classify`.

    Args:
      generator: the float32 (EMA) generator.
      classifier: the float32 `gan_tf.networks.heads.Classifier`.
      metadata_path: the metadata asset.
    """

    signature_names = CLASSIFIER_SIGNATURES

    def __init__(self, generator: Generator, classifier, metadata_path: str):
        super().__init__(generator, metadata_path)
        self.classifier = classifier
        self.classifier_outputs = int(classifier.units)

    def classify(self, images: tf.Tensor) -> dict[str, tf.Tensor]:
        """Class probabilities and the most likely class; empty outputs for no images."""
        from gan_tf.networks.heads import class_outputs

        images = checked_images(images, self.image_shape, "classify takes")

        def run() -> dict[str, tf.Tensor]:
            return class_outputs(self.classifier, images)

        def nothing() -> dict[str, tf.Tensor]:
            return {
                "probabilities": tf.zeros([0, self.classifier_outputs]),
                "labels": tf.zeros([0], tf.int64),
            }

        return tf.cond(tf.shape(images)[0] > 0, run, nothing)

    def signatures(self) -> dict[str, Any]:
        images_spec = tf.TensorSpec([None, *self.image_shape], tf.uint8, name="images")

        @tf.function(input_signature=[images_spec])
        def classify(images):
            return self.classify(images)

        return {**super().signatures(), "classify": classify.get_concrete_function()}


class TranslatorServingModule(tf.Module):
    """A CycleGAN's exported object: the translators A -> B and B -> A, and the metadata.

    Args:
      g_ab, g_ba: float32 `gan_tf.networks.cyclegan.Translator`s.
      metadata_path: the metadata asset.
    """

    def __init__(self, g_ab, g_ba, metadata_path: str):
        super().__init__(name="cyclegan_serving")
        self.g_ab, self.g_ba = g_ab, g_ba
        self.metadata_asset = tf.saved_model.Asset(metadata_path)

    @staticmethod
    def translate(net, images: tf.Tensor) -> tf.Tensor:
        """uint8 images -> `net`'s uint8 translations; no images give no images."""
        from gan_tf.data.pipeline import to_unit_range

        shape = [0, net.image_size, net.image_size, net.out_channels]
        images = checked_images(images, net.image_shape, f"{net.name} translates")
        return tf.cond(
            tf.shape(images)[0] > 0,
            lambda: image_to_uint8(net(to_unit_range(images), training=False)),
            lambda: tf.zeros(shape, tf.uint8),
        )

    def signatures(self) -> dict[str, Any]:
        def spec(net) -> tf.TensorSpec:
            return tf.TensorSpec([None, *net.image_shape], tf.uint8, name="images")

        @tf.function(input_signature=[spec(self.g_ab)])
        def translate(images):
            return {"images": self.translate(self.g_ab, images)}

        @tf.function(input_signature=[spec(self.g_ba)])
        def translate_back(images):
            return {"images": self.translate(self.g_ba, images)}

        return {
            "translate": translate.get_concrete_function(),
            "translate_back": translate_back.get_concrete_function(),
        }


def encode_pngs(images: tf.Tensor) -> tf.Tensor:
    """PNG-encodes each uint8 HWC image of a batch; returns a string vector."""
    return tf.map_fn(tf.io.encode_png, images, fn_output_signature=tf.string)


def build_metadata(
    generator: Generator, metadata: dict[str, Any], signatures: tuple[str, ...] = SIGNATURES
) -> dict[str, Any]:
    """Merges the caller's metadata with what the generator itself defines.

    Raises:
      ExportError: if `metadata` is not a JSON-serialisable dict without a `step`, or
        contradicts the generator (e.g. another `latent_dim`).
    """
    if not isinstance(metadata, dict):
        raise ExportError(f"metadata must be a dict, got {type(metadata).__name__}")
    if "step" not in metadata:
        raise ExportError("metadata must include the training 'step'")
    derived = {
        "latent_dim": int(generator.latent_dim),
        "num_classes": int(generator.num_classes),
        "image_shape": [int(d) for d in generator.image_shape],
    }
    for key, value in derived.items():
        if key in metadata and metadata[key] != value:
            raise ExportError(
                f"metadata {key}={metadata[key]!r} contradicts the generator ({value})"
            )
    merged = {
        "format_version": 1,
        **metadata,
        **derived,
        "architecture": type(generator).__name__,
        "signatures": list(signatures),
        "truncation": "z <- psi * z, psi per example (1 = no truncation)",
        "exported_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    try:
        json.dumps(merged)
    except (TypeError, ValueError) as e:
        raise ExportError(f"metadata is not JSON-serialisable: {e}") from None
    return merged


def run_metadata(config: Any, step: int) -> dict[str, Any]:
    """Metadata of an export made from a training run: its step, model name and config."""
    return {
        "step": int(step),
        "model_name": config.export.model_name,
        "config": config.to_dict(),
    }


def read_metadata(export_dir: str) -> dict[str, Any]:
    """Reads `assets/gan_metadata.json` of an export.

    Raises:
      GanTfError: if the directory holds no gan_tf export.
    """
    path = os.path.join(export_dir, "assets", METADATA_FILE)
    if not os.path.isfile(path):
        raise GanTfError(f"{export_dir} is not a gan_tf export (no assets/{METADATA_FILE})")
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def make_warmup_requests(metadata: dict[str, Any], count: int, model_name: str = "gan") -> list:
    """`PredictionLog`s for the warmup file: small requests cycling over the signatures.

    Args:
      metadata: the export's metadata (latent size and classes shape the requests).
      count: number of requests (0 to 1000).
      model_name: written in each request's `model_spec`.
    """
    from tensorflow_serving.apis import predict_pb2, prediction_log_pb2

    logs = []
    signatures = metadata.get("signatures", SIGNATURES)
    for i in range(count):
        signature = signatures[i % len(signatures)]
        n = 1 + i % 2
        request = predict_pb2.PredictRequest()
        request.model_spec.name = model_name
        request.model_spec.signature_name = signature
        inputs: dict[str, np.ndarray] = {}
        if signature == "serving_default":
            inputs["z"] = np.zeros([n, metadata["latent_dim"]], np.float32)
        elif signature in ("score", "classify", "translate"):
            inputs["images"] = np.zeros([n, *metadata["image_shape"]], np.uint8)
        elif signature == "mix":  # gan_tf.style_export
            inputs["seed_a"] = np.arange(i, i + n, dtype=np.int64)
            inputs["seed_b"] = inputs["seed_a"] + 1
            inputs["crossover"] = np.ones([n], np.int64)
        elif signature == "translate_back":
            inputs["images"] = np.zeros([n, *metadata["image_shape_b"]], np.uint8)
        else:
            inputs["seeds"] = np.arange(i, i + n, dtype=np.int64)
            inputs["truncation"] = np.ones([n], np.float32)
        if metadata["num_classes"] > 0 and signature != "score":
            inputs["labels"] = np.arange(n, dtype=np.int64) % metadata["num_classes"]
        for key, value in inputs.items():
            request.inputs[key].CopyFrom(tf.make_tensor_proto(value))
        logs.append(
            prediction_log_pb2.PredictionLog(
                predict_log=prediction_log_pb2.PredictLog(request=request)
            )
        )
    return logs


def read_warmup_requests(export_dir: str) -> list:
    """Parses the warmup file of an export into `PredictionLog`s ([] if there is none)."""
    from tensorflow_serving.apis import prediction_log_pb2

    path = os.path.join(export_dir, WARMUP_FILE)
    if not os.path.isfile(path):
        return []
    logs = []
    for record in tf.data.TFRecordDataset(path).take(MAX_WARMUP_REQUESTS):
        logs.append(prediction_log_pb2.PredictionLog.FromString(record.numpy()))
    return logs


def _float32_generator(net: keras.Model) -> keras.Model:
    """The network itself if it computes in float32, else a float32 copy of it."""
    if all(layer.dtype_policy.name == "float32" for layer in net._flatten_layers()):
        return net
    return float32_copy(net)


def _write_warmup(path: str, logs: list) -> None:
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with tf.io.TFRecordWriter(path) as writer:
        for entry in logs:
            writer.write(entry.SerializeToString())


def export_generator(
    generator: Generator, export_dir: str, metadata: dict, warmup_requests: int = 4
) -> str:
    """Writes the (EMA) generator as a SavedModel for TF Serving, atomically.

    The SavedModel is written to a temporary directory beside `export_dir` and renamed into
    place, so a serving process polling the parent directory never sees a partial export.
    An existing export at `export_dir` is replaced.

    Args:
      generator: a built generator (pass the EMA generator); a mixed-precision generator is
        exported as a float32 copy.
      export_dir: the SavedModel directory to write, e.g. `<model_base_path>/<version>`.
      metadata: JSON-serialisable facts stored in `assets/gan_metadata.json`; must include
        the training `step`, may include gate scores. Latent size, classes and image shape
        are added from the generator.
      warmup_requests: number of requests in `assets.extra/tf_serving_warmup_requests`
        (0 to 1000).

    Returns:
      `export_dir`.

    Raises:
      ExportError: for bad arguments, an unbuilt or non-finite generator, or a failed write.
    """
    _check_network(generator, "generator", Generator)
    return _write(
        lambda path: ServingModule(_float32_generator(generator), path),
        build_metadata(generator, metadata),
        export_dir,
        warmup_requests,
    )


def export_detector(detector, export_dir: str, metadata: dict, warmup_requests: int = 4) -> str:
    """Writes an anomaly detector (`gan_tf.detector.Detector`) as a SavedModel, atomically:
    the generator's signatures and `score` (see the module docstring).

    Args and errors as `export_generator`; `detector`'s networks are exported as float32
    copies when they compute in another precision.
    """
    from gan_tf.detector import Detector

    if not isinstance(detector, Detector):
        raise ExportError(f"expected a gan_tf Detector, got {type(detector).__name__}")
    for name in ("generator", "discriminator", "encoder"):
        _check_network(getattr(detector, name), name, keras.Model)
    float32 = Detector(
        _float32_generator(detector.generator),
        _float32_generator(detector.discriminator),
        _float32_generator(detector.encoder),
        detector.feature_weight,
    )
    meta = build_metadata(
        detector.generator,
        {**metadata, "feature_weight": detector.feature_weight},
        DETECTOR_SIGNATURES,
    )
    return _write(
        lambda path: DetectorServingModule(float32, path), meta, export_dir, warmup_requests
    )


def export_classifier(
    generator: Generator, classifier, export_dir: str, metadata: dict, warmup_requests: int = 4
) -> str:
    """Writes a semi-supervised GAN's generator and classifier as a SavedModel, atomically:
    the generator's signatures and `classify` (see the module docstring).

    Args and errors as `export_generator`.
    """
    _check_network(generator, "generator", Generator)
    _check_network(classifier, "classifier", keras.Model)
    meta = build_metadata(
        generator, {**metadata, "classes": int(classifier.units)}, CLASSIFIER_SIGNATURES
    )
    generator, classifier = _float32_generator(generator), _float32_generator(classifier)
    return _write(
        lambda path: ClassifierServingModule(generator, classifier, path),
        meta,
        export_dir,
        warmup_requests,
    )


def export_translators(
    g_ab, g_ba, export_dir: str, metadata: dict, warmup_requests: int = 4
) -> str:
    """Writes a CycleGAN's translators as a SavedModel, atomically: `translate` (A -> B) and
    `translate_back` (B -> A) (see the module docstring).

    Args and errors as `export_generator`; the metadata gains both domains' image shapes
    (`image_shape` of A, `image_shape_b` of B).
    """
    from gan_tf.networks.cyclegan import Translator

    _check_network(g_ab, "g_ab", Translator)
    _check_network(g_ba, "g_ba", Translator)
    if not isinstance(metadata, dict) or "step" not in metadata:
        raise ExportError("metadata must be a dict including the training 'step'")
    meta = {
        "format_version": 1,
        **metadata,
        "latent_dim": 0,
        "num_classes": 0,
        "image_shape": [int(d) for d in g_ab.image_shape],
        "image_shape_b": [int(d) for d in g_ba.image_shape],
        "architecture": type(g_ab).__name__,
        "signatures": list(TRANSLATOR_SIGNATURES),
        "exported_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    g_ab, g_ba = _float32_generator(g_ab), _float32_generator(g_ba)
    return _write(
        lambda path: TranslatorServingModule(g_ab, g_ba, path), meta, export_dir, warmup_requests
    )


def _check_network(net, name: str, kind: type) -> None:
    if not isinstance(net, kind):
        raise ExportError(f"expected a gan_tf {kind.__name__}, got {type(net).__name__}")
    if not net.built or not net.variables:
        raise ExportError(f"the {name} is not built; call it once on its dummy_inputs()")
    bad = [v.path for v in net.variables if not np.all(np.isfinite(np.asarray(v)))]
    if bad:
        raise ExportError(
            f"the {name} has NaN/Inf weights ({', '.join(bad[:3])}); its outputs would be "
            "garbage. Export a checkpoint of a healthy step instead"
        )


def _write(make_module, meta: dict[str, Any], export_dir: str, warmup_requests: int) -> str:
    """Saves `make_module(metadata_path)` with its signatures to `export_dir`, atomically."""
    if not 0 <= warmup_requests <= MAX_WARMUP_REQUESTS:
        raise ExportError(f"warmup_requests must be in [0, 1000], got {warmup_requests}")
    export_dir = os.path.abspath(export_dir)
    parent = os.path.dirname(export_dir)
    os.makedirs(parent, exist_ok=True)
    files.restore_dir(export_dir)
    files.remove_stale_temps(export_dir)
    tmp = files.temp_dir_beside(export_dir)
    try:
        with tempfile.TemporaryDirectory() as scratch:
            meta_path = os.path.join(scratch, METADATA_FILE)
            with open(meta_path, "w", encoding="utf-8") as f:
                json.dump(meta, f, indent=2, sort_keys=True)
            module = make_module(meta_path)
            tf.saved_model.save(module, tmp, signatures=module.signatures())
        model_name = str(meta.get("model_name", "gan"))
        _write_warmup(
            os.path.join(tmp, WARMUP_FILE),
            make_warmup_requests(meta, warmup_requests, model_name),
        )
        files.replace_dir(tmp, export_dir)
    except Exception as e:
        shutil.rmtree(tmp, ignore_errors=True)
        if isinstance(e, GanTfError):
            raise
        raise ExportError(f"exporting to {export_dir} failed: {e}") from e
    log.info("Exported step %s to %s", meta.get("step"), export_dir)
    return export_dir
