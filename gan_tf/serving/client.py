"""A client for a gan_tf model behind TF Serving (or `gan-tf serve`), over REST or gRPC.

    client = ServingClient("http://127.0.0.1:8501", model="gan")   # REST
    client = ServingClient("grpc://127.0.0.1:8500", model="gan")   # gRPC
    images = client.generate([1, 2, 3])              # uint8 [3, H, W, C]
    pngs = client.generate([1, 2, 3], as_png=True)   # list of PNG bytes
    scored = client.score(images)                    # an anomaly detector's export:
                                                     # scores [n], reconstructions
    translated = client.translate(images)            # a CycleGAN's export (back=True: B -> A)

Every call has a timeout; failures raise `ServingError` with the server's message and
status (`code` like `INVALID_ARGUMENT`, `http_status` like 400).
"""

from __future__ import annotations

import base64
import http.client
import json
import threading
import urllib.parse
from typing import Any

import numpy as np

from gan_tf.serving.errors import HTTP_STATUS, InvalidArgument, ServingError, Unavailable

_HTTP_TO_CODE = {
    404: "NOT_FOUND",
    408: "DEADLINE_EXCEEDED",
    413: "RESOURCE_EXHAUSTED",
    501: "UNIMPLEMENTED",
    503: "UNAVAILABLE",
    504: "DEADLINE_EXCEEDED",
}


def _code_of_http(status: int) -> str:
    """The gRPC status name for an HTTP error status (other 4xx: INVALID_ARGUMENT)."""
    return _HTTP_TO_CODE.get(status, "INVALID_ARGUMENT" if 400 <= status < 500 else "UNKNOWN")


def _as_int_array(values: Any, what: str) -> np.ndarray:
    array = np.asarray(values)
    if array.ndim != 1 or (array.size and array.dtype.kind not in "iu"):
        raise InvalidArgument(f"{what} must be a list of integers, got {values!r}")
    return array.astype(np.int64)


def _uint8_images(images) -> np.ndarray:
    """Images as uint8, refusing values that are not integers in [0, 255]."""
    images = np.asarray(images)
    if images.dtype != np.uint8:
        if images.size and (
            images.dtype.kind not in "iu" or images.min() < 0 or images.max() > 255
        ):
            raise InvalidArgument(f"images must be integers in [0, 255], got {images.dtype} values")
        images = images.astype(np.uint8)
    return images


def _as_input_dtype(key: str, value: Any, dtype: str) -> Any:
    """`value` converted to a signature input's dtype (a name like `DT_INT64`) by the rules the
    REST API applies to JSON, so a list of Python ints reaches an int64 input (TensorFlow
    alone would send int32) and a float never becomes an integer on the way.

    Raises:
      InvalidArgument: for values of the wrong kind or out of the dtype's range.
    """
    import tensorflow as tf
    from tensorflow.core.framework import types_pb2

    from gan_tf.serving.inputs import InputSpec
    from gan_tf.serving.json_codec import to_array

    tf_dtype = tf.as_dtype(types_pb2.DataType.Value(dtype))
    if tf_dtype == tf.string:
        return value
    spec = InputSpec(np.dtype(tf_dtype.as_numpy_dtype), tf_dtype, ())
    if isinstance(value, np.ndarray) and value.dtype == spec.dtype:
        return value
    return to_array(value, spec, key)


def _from_json(value: Any) -> np.ndarray:
    if isinstance(value, list) and value and isinstance(value[0], dict) and "b64" in value[0]:
        return np.array([base64.b64decode(v["b64"]) for v in value], dtype=object)
    return np.asarray(value)


class ServingClient:
    """Talks to one model of a TF Serving-compatible server.

    Args:
      url: `http://host:port` (REST) or `grpc://host:port` / `host:port` (gRPC).
      model: the model name.
      version: a fixed version to query; None for the newest available.
      timeout: seconds allowed for each call.
    """

    def __init__(
        self, url: str, model: str = "gan", version: int | None = None, timeout: float = 30.0
    ):
        if timeout <= 0:
            raise InvalidArgument(f"timeout must be positive, got {timeout}")
        self.model = model
        self.version = version
        self.timeout = timeout
        if url.startswith(("http://", "https://")):
            self.protocol = "rest"
            self.url = url.rstrip("/")
            self._local = threading.local()
        else:
            self.protocol = "grpc"
            self.url = url.removeprefix("grpc://").rstrip("/")
            self._open_grpc()

    # --- transport -----------------------------------------------------------------------

    def _open_grpc(self) -> None:
        import grpc
        from tensorflow_serving.apis import model_service_pb2_grpc, prediction_service_pb2_grpc

        self._channel = grpc.insecure_channel(
            self.url,
            options=[
                ("grpc.max_receive_message_length", 256 << 20),
                ("grpc.max_send_message_length", 256 << 20),
            ],
        )
        self._predict_stub = prediction_service_pb2_grpc.PredictionServiceStub(self._channel)
        self._model_stub = model_service_pb2_grpc.ModelServiceStub(self._channel)

    def close(self) -> None:
        """Closes the gRPC channel, or this thread's REST connection."""
        if self.protocol == "grpc":
            self._channel.close()
        else:
            self._drop_connection()

    def __enter__(self) -> ServingClient:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def _model_path(self) -> str:
        path = f"{self.url}/v1/models/{self.model}"
        return path if self.version is None else f"{path}/versions/{self.version}"

    def _connection(self) -> http.client.HTTPConnection:
        """This thread's kept-alive connection (one per thread: clients may be shared)."""
        conn = getattr(self._local, "conn", None)
        if conn is None:
            parts = urllib.parse.urlsplit(self.url)
            cls = (
                http.client.HTTPSConnection
                if parts.scheme == "https"
                else http.client.HTTPConnection
            )
            conn = cls(parts.hostname, parts.port, timeout=self.timeout)
            self._local.conn = conn
        return conn

    def _drop_connection(self) -> None:
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None

    def _http(self, method: str, url: str, body: dict | None = None) -> dict[str, Any]:
        data = None if body is None else json.dumps(body).encode("utf-8")
        headers = {"Content-Type": "application/json"} if data is not None else {}
        path = url[len(self.url) :]
        for attempt in (0, 1):
            reused = getattr(self._local, "conn", None) is not None
            conn = self._connection()
            try:
                conn.request(method, path, body=data, headers=headers)
                response = conn.getresponse()
                raw = response.read()
                break
            except TimeoutError:
                self._drop_connection()
                raise ServingError(
                    f"{method} {url}: no answer within {self.timeout} s", "DEADLINE_EXCEEDED"
                ) from None
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError) as e:
                self._drop_connection()  # a kept-alive connection the server closed: retry once
                if not reused or attempt:
                    raise Unavailable(f"{method} {url}: connection failed: {e}") from None
            except (http.client.HTTPException, OSError) as e:
                self._drop_connection()
                raise Unavailable(f"cannot reach {self.url}: {e}") from None
        if response.will_close:
            self._drop_connection()
        if response.status >= 400:
            try:
                message = json.loads(raw)["error"]
            except (ValueError, KeyError, TypeError):
                message = raw.decode("utf-8", "replace").strip() or response.reason
            status = response.status
            code = _code_of_http(status)
            raise ServingError(f"{method} {url}: {status}: {message}", code, status)
        try:
            return json.loads(raw)
        except ValueError:
            raise ServingError(f"{method} {url}: the answer is not JSON", "UNKNOWN") from None

    def _rpc(self, method, request):
        import grpc

        try:
            return method(request, timeout=self.timeout)
        except grpc.RpcError as e:
            code = e.code().name if e.code() is not None else "UNKNOWN"
            if code == "DEADLINE_EXCEEDED":
                message = f"no answer within {self.timeout} s"
            else:
                message = e.details() or code
            raise ServingError(
                f"gRPC {self.url}: {code}: {message}", code, HTTP_STATUS.get(code, 500)
            ) from None

    def _model_spec(self, spec, signature_name: str = "") -> None:
        spec.name = self.model
        if self.version is not None:
            spec.version.value = self.version
        if signature_name:
            spec.signature_name = signature_name

    # --- API -----------------------------------------------------------------------------

    def status(self) -> list[dict[str, Any]]:
        """Version states, e.g. `[{"version": 3, "state": "AVAILABLE", "error": ""}]`."""
        if self.protocol == "rest":
            body = self._http("GET", self._model_path())
            return [
                {
                    "version": int(s["version"]),
                    "state": s["state"],
                    "error": s.get("status", {}).get("error_message", ""),
                }
                for s in body.get("model_version_status", [])
            ]
        from tensorflow_serving.apis import get_model_status_pb2

        request = get_model_status_pb2.GetModelStatusRequest()
        self._model_spec(request.model_spec)
        response = self._rpc(self._model_stub.GetModelStatus, request)
        states = get_model_status_pb2.ModelVersionStatus.State
        return [
            {
                "version": int(s.version),
                "state": states.Name(s.state),
                "error": s.status.error_message,
            }
            for s in response.model_version_status
        ]

    def signatures(self) -> dict[str, dict[str, Any]]:
        """Signature definitions: `{name: {"inputs": {key: (dtype, shape)}, "outputs": ...}}`.

        Dtypes are names like `DT_INT64`; shapes use -1 for the batch dimension.
        """
        if self.protocol == "rest":
            body = self._http("GET", self._model_path() + "/metadata")
            defs = body["metadata"]["signature_def"]["signature_def"]
        else:
            from google.protobuf import json_format
            from tensorflow_serving.apis import get_model_metadata_pb2

            request = get_model_metadata_pb2.GetModelMetadataRequest()
            self._model_spec(request.model_spec)
            request.metadata_field.append("signature_def")
            response = self._rpc(self._predict_stub.GetModelMetadata, request)
            sig_map = get_model_metadata_pb2.SignatureDefMap()
            response.metadata["signature_def"].Unpack(sig_map)
            defs = json_format.MessageToDict(sig_map, preserving_proto_field_name=True)[
                "signature_def"
            ]

        def tensors(infos: dict[str, Any]) -> dict[str, tuple[str, list[int]]]:
            return {
                key: (
                    info.get("dtype", "DT_INVALID"),
                    [int(d.get("size", -1)) for d in info.get("tensor_shape", {}).get("dim", [])],
                )
                for key, info in infos.items()
            }

        return {
            name: {"inputs": tensors(sig.get("inputs", {})), "outputs": tensors(sig["outputs"])}
            for name, sig in defs.items()
        }

    def metadata(self) -> dict[str, Any]:
        """What the serving API tells about a gan_tf model.

        Returns:
          `latent_dim`, `conditional`, `image_shape` (derived from the signatures) and the
          raw `signatures`. The full export metadata (classes, step, gate scores) is in the
          SavedModel's `assets/gan_metadata.json`.
        """
        sigs = self.signatures()
        default = sigs.get("serving_default")
        if default is None or "z" not in default["inputs"] or "images" not in default["outputs"]:
            raise ServingError(
                f"model {self.model!r} is not a gan_tf export (no serving_default z -> images)",
                "FAILED_PRECONDITION",
            )
        return {
            "latent_dim": default["inputs"]["z"][1][-1],
            "conditional": "labels" in default["inputs"],
            "image_shape": default["outputs"]["images"][1][1:],
            "signatures": sigs,
        }

    def predict(self, inputs: dict[str, Any], signature_name: str = "") -> dict[str, np.ndarray]:
        """Calls a signature with named batched inputs; returns its outputs as arrays."""
        if self.protocol == "rest":
            body: dict[str, Any] = {
                "inputs": {key: np.asarray(value).tolist() for key, value in inputs.items()}
            }
            if signature_name:
                body["signature_name"] = signature_name
            response = self._http("POST", self._model_path() + ":predict", body)
            outputs = response["outputs"]
            if not isinstance(outputs, dict):  # TF Serving leaves a single output unnamed
                names = list(self._signature(signature_name or "serving_default")["outputs"])
                outputs = {names[0] if len(names) == 1 else "outputs": outputs}
            return {key: _from_json(value) for key, value in outputs.items()}
        import tensorflow as tf
        from tensorflow_serving.apis import predict_pb2

        request = predict_pb2.PredictRequest()
        self._model_spec(request.model_spec, signature_name)
        # Inputs the signature does not declare are sent as they are: the server names them.
        specs = self._signatures_read().get(signature_name or "serving_default", {})
        for key, value in inputs.items():
            if key in specs.get("inputs", {}):
                value = _as_input_dtype(key, value, specs["inputs"][key][0])
            request.inputs[key].CopyFrom(tf.make_tensor_proto(value))
        response = self._rpc(self._predict_stub.Predict, request)
        return {key: tf.make_ndarray(proto) for key, proto in response.outputs.items()}

    def _signatures_read(self) -> dict[str, dict[str, Any]]:
        """`signatures()`, asked once per client."""
        if not hasattr(self, "_signatures"):
            self._signatures = self.signatures()
        return self._signatures

    def _signature(self, signature_name: str) -> dict[str, Any]:
        """One signature of `signatures()`.

        Raises:
          InvalidArgument: if the model has no such signature.
        """
        if signature_name not in self._signatures_read():
            raise InvalidArgument(f"model {self.model!r} has no signature {signature_name!r}")
        return self._signatures[signature_name]

    def generate(
        self,
        seeds,
        labels=None,
        as_png: bool = False,
        truncation: float = 1.0,
    ) -> np.ndarray | list[bytes]:
        """Images for integer seeds, as `gan-tf generate` makes them.

        Args:
          seeds: integer seeds, one image each.
          labels: class labels (one per seed) for a conditional model, else None.
          as_png: return PNG bytes (signature `generate_png`) instead of arrays.
          truncation: psi of the truncation `z <- psi * z` (1 = none).

        Returns:
          uint8 images `[n, H, W, C]`, or a list of `n` PNG byte strings.
        """
        seeds = _as_int_array(seeds, "seeds")
        inputs: dict[str, np.ndarray] = {
            "seeds": seeds,
            "truncation": np.full(seeds.shape, truncation, np.float32),
        }
        if labels is not None:
            inputs["labels"] = _as_int_array(labels, "labels")
            if inputs["labels"].shape != seeds.shape:
                raise InvalidArgument(
                    f"need one label per seed: {seeds.size} seeds, {inputs['labels'].size} labels"
                )
        if as_png:
            outputs = self._single_output(inputs, "generate_png")
            return [bytes(b) for b in outputs]
        return self._single_output(inputs, "generate").astype(np.uint8)

    def _single_output(self, inputs: dict[str, np.ndarray], signature: str) -> np.ndarray:
        if self.protocol == "grpc":
            (value,) = self.predict(inputs, signature).values()
            return value
        body = {
            "signature_name": signature,
            "inputs": {key: value.tolist() for key, value in inputs.items()},
        }
        response = self._http("POST", self._model_path() + ":predict", body)
        outputs = response["outputs"]
        if isinstance(outputs, dict):
            (outputs,) = outputs.values()
        return _from_json(outputs)

    def score(self, images) -> dict[str, np.ndarray]:
        """Anomaly scores of images (the `score` signature of an anomaly detector's export).

        Args:
          images: integers in [0, 255], `[n, H, W, C]` as the model's image shape.

        Returns:
          `scores` (float32 `[n]`, higher = more anomalous) and `reconstructions` (uint8
          `[n, H, W, C]`, G(E(x)) of each image).

        Raises:
          InvalidArgument: for values that are not integers in [0, 255] (here), or a shape
            the model does not take (by the server).
        """
        return self._outputs("score", images, scores=np.float32, reconstructions=np.uint8)

    def classify(self, images) -> dict[str, np.ndarray]:
        """Classes of images (the `classify` signature of a semi-supervised model's export).

        Args:
          images: integers in [0, 255], `[n, H, W, C]` as the model's image shape.

        Returns:
          `labels` (int64 `[n]`, the most probable class) and `probabilities` (float32
          `[n, K]`, each row summing to 1).

        Raises:
          InvalidArgument: for values that are not integers in [0, 255] (here), or a shape
            the model does not take (by the server).
        """
        return self._outputs("classify", images, labels=np.int64, probabilities=np.float32)

    def _outputs(self, signature: str, images, **dtypes) -> dict[str, np.ndarray]:
        """The outputs `dtypes` names of an `images` signature, as arrays of those dtypes."""
        outputs = self.predict({"images": _uint8_images(images)}, signature)
        return {key: np.asarray(outputs[key], dtype) for key, dtype in dtypes.items()}

    def translate(self, images, back: bool = False) -> np.ndarray:
        """Translations of images by a CycleGAN's export: A -> B (`translate`), or B -> A
        (`translate_back`) with `back`.

        Args:
          images: integers in [0, 255], `[n, H, W, C]` as the source domain's image shape.

        Returns:
          uint8 `[n, H, W, C']` images of the other domain.

        Raises:
          InvalidArgument: for values that are not integers in [0, 255] (here), or a shape
            the model does not take (by the server).
        """
        signature = "translate_back" if back else "translate"
        return self._single_output({"images": _uint8_images(images)}, signature).astype(np.uint8)
