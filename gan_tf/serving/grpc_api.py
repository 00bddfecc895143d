"""TF Serving's gRPC API (Predict, GetModelMetadata, GetModelStatus) for a `ModelManager`.

Uses the `tensorflow-serving-api` messages and service names, so any TF Serving gRPC client
works. Classify, Regress and MultiInference answer UNIMPLEMENTED. Every failure has a status a
client can act on: INVALID_ARGUMENT for a request that is not a valid message or does not fit
the signature or the caps (checked before any tensor is built), NOT_FOUND, RESOURCE_EXHAUSTED,
and INTERNAL for a bug, never UNKNOWN.
"""

from __future__ import annotations

import logging
from concurrent import futures

import grpc
import tensorflow as tf
from google.protobuf.message import DecodeError
from tensorflow_serving.apis import get_model_metadata_pb2, get_model_status_pb2, predict_pb2

from gan_tf.serving.errors import InvalidArgument, ServingError
from gan_tf.serving.inputs import arrays_from_protos
from gan_tf.serving.models import ModelManager, signature_def_map

log = logging.getLogger(__name__)

_STATES = {
    "LOADING": get_model_status_pb2.ModelVersionStatus.LOADING,
    "AVAILABLE": get_model_status_pb2.ModelVersionStatus.AVAILABLE,
    "END": get_model_status_pb2.ModelVersionStatus.END,
}


def _abort(context: grpc.ServicerContext, error: ServingError) -> None:
    context.abort(getattr(grpc.StatusCode, error.code, grpc.StatusCode.UNKNOWN), error.message)


def _version(model_spec) -> int | None:
    if model_spec.version_label:
        raise InvalidArgument("version labels are not supported by gan-tf serve; use a version")
    return model_spec.version.value if model_spec.HasField("version") else None


# Stands for request bytes that are not a valid message (gRPC itself would answer INTERNAL for
# a failed deserializer, and takes None for one).
_UNPARSABLE = object()


def _parser(message_cls):
    """Parses a request message, or gives `_UNPARSABLE` (answered INVALID_ARGUMENT)."""

    def parse(data: bytes):
        try:
            return message_cls.FromString(data)
        except DecodeError:
            return _UNPARSABLE

    return parse


def _guarded(method, message_cls):
    """Runs `method(request, context)`, answering a `ServingError` with its status, an
    unparsable request with INVALID_ARGUMENT and a bug with INTERNAL (never UNKNOWN)."""

    def call(request, context):
        try:
            if request is _UNPARSABLE:
                raise InvalidArgument(f"the request is not a valid {message_cls.__name__}")
            return method(request, context)
        except ServingError as e:
            _abort(context, e)
        except Exception as e:
            log.exception("internal error in %s", method.__name__)
            context.abort(grpc.StatusCode.INTERNAL, f"internal error: {type(e).__name__}: {e}")

    return call


def _handler(service: str, servicer, methods: dict) -> grpc.GenericRpcHandler:
    """The handler of `service`'s unary `methods` (`{name: (request, response) classes}`)."""
    return grpc.method_handlers_generic_handler(
        service,
        {
            name: grpc.unary_unary_rpc_method_handler(
                _guarded(getattr(servicer, name), request_cls),
                request_deserializer=_parser(request_cls),
                response_serializer=response_cls.SerializeToString,
            )
            for name, (request_cls, response_cls) in methods.items()
        },
    )


class PredictionService:
    """`tensorflow.serving.PredictionService`: Predict and GetModelMetadata."""

    def __init__(self, manager: ModelManager):
        self.manager = manager

    def Predict(self, request, context):  # noqa: N802 - gRPC method name
        servable = self.manager.get(request.model_spec.name, _version(request.model_spec))
        signature = servable.signature(request.model_spec.signature_name)
        wanted = list(request.output_filter) or servable.outputs[signature]
        unknown = sorted(set(wanted) - set(servable.outputs[signature]))
        if unknown:
            raise InvalidArgument(f"output_filter names unknown outputs {unknown}")
        inputs = arrays_from_protos(
            signature, servable.inputs[signature], request.inputs, servable.limits
        )
        outputs = servable.predict(signature, inputs)
        response = predict_pb2.PredictResponse()
        response.model_spec.name = servable.name
        response.model_spec.version.value = servable.version
        response.model_spec.signature_name = signature
        for key in wanted:
            response.outputs[key].CopyFrom(tf.make_tensor_proto(outputs[key]))
        return response

    def GetModelMetadata(self, request, context):  # noqa: N802 - gRPC method name
        fields = list(request.metadata_field)
        if fields != ["signature_def"]:
            raise InvalidArgument("metadata_field must be exactly ['signature_def']")
        servable = self.manager.get(request.model_spec.name, _version(request.model_spec))
        response = get_model_metadata_pb2.GetModelMetadataResponse()
        response.model_spec.name = servable.name
        response.model_spec.version.value = servable.version
        response.metadata["signature_def"].Pack(signature_def_map(servable))
        return response


class ModelService:
    """`tensorflow.serving.ModelService`: GetModelStatus."""

    def __init__(self, manager: ModelManager):
        self.manager = manager

    def GetModelStatus(self, request, context):  # noqa: N802 - gRPC method name
        states = self.manager.status(request.model_spec.name, _version(request.model_spec))
        response = get_model_status_pb2.GetModelStatusResponse()
        for state in states:
            entry = response.model_version_status.add()
            entry.version = state.version
            entry.state = _STATES[state.state]
            entry.status.error_code = getattr(grpc.StatusCode, state.error_code).value[0]
            entry.status.error_message = state.error_message
        return response


def make_server(
    manager: ModelManager,
    address: str,
    max_request_bytes: int,
    max_concurrent_rpcs: int,
    workers: int = 16,
) -> tuple[grpc.Server, int]:
    """Creates (not starts) a gRPC server on `address` (`host:port`, port 0 = any free one).

    A message reaches a worker thread only once received whole, so a slow sender holds no
    thread; calls beyond `max_concurrent_rpcs` in progress get RESOURCE_EXHAUSTED.

    Returns:
      The server and the port it is bound to.

    Raises:
      ServingError: if the address cannot be bound.
    """
    server = grpc.server(
        futures.ThreadPoolExecutor(max_workers=workers, thread_name_prefix="grpc"),
        options=[
            ("grpc.max_receive_message_length", max_request_bytes),
            ("grpc.max_send_message_length", 256 << 20),
            ("grpc.so_reuseport", 0),
        ],
        maximum_concurrent_rpcs=max_concurrent_rpcs,
    )
    server.add_generic_rpc_handlers(
        (
            _handler(
                "tensorflow.serving.PredictionService",
                PredictionService(manager),
                {
                    "Predict": (predict_pb2.PredictRequest, predict_pb2.PredictResponse),
                    "GetModelMetadata": (
                        get_model_metadata_pb2.GetModelMetadataRequest,
                        get_model_metadata_pb2.GetModelMetadataResponse,
                    ),
                },
            ),
            _handler(
                "tensorflow.serving.ModelService",
                ModelService(manager),
                {
                    "GetModelStatus": (
                        get_model_status_pb2.GetModelStatusRequest,
                        get_model_status_pb2.GetModelStatusResponse,
                    )
                },
            ),
        )
    )
    try:
        port = server.add_insecure_port(address)
    except RuntimeError as e:
        raise ServingError(f"cannot bind gRPC to {address}: {e}", "UNAVAILABLE") from None
    if port == 0:
        raise ServingError(f"cannot bind gRPC to {address}", "UNAVAILABLE")
    return server, port
