"""Request inputs, checked against a signature and the server's caps before any tensor is built.

Every request declares a dtype and a shape for each input before its values: a gRPC
`TensorProto` in its header (a 30-byte message can declare 10^9 elements and carry one value
that would fill them all), a REST body in the nesting of its JSON lists. Names, dtypes, ranks,
fixed dimensions, equal batch sizes, the batch cap and the decoded-size cap are checked on
these declarations, so the server allocates memory only for requests within its caps.

Everything is read from the SavedModel's `SignatureDef`s, so the checks hold for any signature
an export declares (seeds, latents, uint8 images, strings...), not only the generator's.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping

import numpy as np
import tensorflow as tf
from tensorflow.core.framework import tensor_pb2, types_pb2

from gan_tf.serving.errors import InvalidArgument

Shape = tuple[int, ...]
_MAX_ELEMENTS = 2**63 - 1  # as TensorFlow's TensorShape


@dataclasses.dataclass(frozen=True)
class InputSpec:
    """What a signature input accepts: numpy dtype, TF dtype and shape (-1 = any size)."""

    dtype: np.dtype
    tf_dtype: tf.DType
    shape: Shape

    @classmethod
    def from_tensor_info(cls, info) -> InputSpec:
        """The spec of a `TensorInfo` of a `SignatureDef`."""
        tf_dtype = tf.as_dtype(info.dtype)
        return cls(
            np.dtype(tf_dtype.as_numpy_dtype),
            tf_dtype,
            tuple(d.size for d in info.tensor_shape.dim),
        )

    @property
    def batched(self) -> bool:
        """Whether the first dimension is the batch (any size), as TF Serving batches."""
        return bool(self.shape) and self.shape[0] == -1

    def describe(self) -> str:
        return "[" + ", ".join("?" if d < 0 else str(d) for d in self.shape) + "]"


@dataclasses.dataclass(frozen=True)
class InputLimits:
    """Caps on what one request may carry.

    Attributes:
      max_batch_size: largest batch (first dimension of batched inputs).
      max_input_bytes: largest decoded size of all inputs together: elements times the
        dtype's size (8 bytes per string element, the reference numpy keeps).
    """

    max_batch_size: int = 64
    max_input_bytes: int = 32 << 20


def check_inputs(
    signature_name: str,
    specs: Mapping[str, InputSpec],
    shapes: Mapping[str, Shape],
    limits: InputLimits,
) -> None:
    """Checks declared input names and shapes against a signature and the caps.

    Args:
      signature_name: for messages.
      specs: the signature's inputs.
      shapes: the declared shape of each input of the request (no values needed).
      limits: the caps.

    Raises:
      InvalidArgument: naming the offending input.
    """
    missing = sorted(set(specs) - set(shapes))
    extra = sorted(set(shapes) - set(specs))
    if missing or extra:
        raise InvalidArgument(
            f"input size does not match signature {signature_name!r}: expects "
            f"{sorted(specs)}; missing {missing}, unexpected {extra}"
        )
    batch = None
    total_bytes = 0
    for key, spec in specs.items():
        shape = shapes[key]
        if any(d < 0 for d in shape):
            raise InvalidArgument(f"input {key!r} declares a negative dimension: {list(shape)}")
        if math.prod(d for d in shape if d) > _MAX_ELEMENTS:
            raise InvalidArgument(f"input {key!r} declares a shape too large: {list(shape)}")
        if len(shape) != len(spec.shape) or any(
            want not in (-1, got) for want, got in zip(spec.shape, shape)
        ):
            raise InvalidArgument(
                f"input {key!r} expects shape {spec.describe()}, got {list(shape)}"
            )
        if spec.batched:
            if batch is not None and shape[0] != batch:
                raise InvalidArgument(
                    f"inputs have different batch sizes ({batch} and {shape[0]} for {key!r})"
                )
            batch = shape[0]
        total_bytes += math.prod(shape) * spec.dtype.itemsize
    if batch is not None and batch > limits.max_batch_size:
        raise InvalidArgument(
            f"batch size {batch} is larger than the maximum batch size "
            f"{limits.max_batch_size} of this server"
        )
    if total_bytes > limits.max_input_bytes:
        raise InvalidArgument(
            f"the inputs declare {total_bytes} bytes, more than the limit of "
            f"{limits.max_input_bytes} bytes per request of this server"
        )


def declared_shape(key: str, proto: tensor_pb2.TensorProto) -> Shape:
    """The shape a `TensorProto` declares, without reading its values.

    Raises:
      InvalidArgument: for an unknown rank or a negative dimension.
    """
    if proto.tensor_shape.unknown_rank:
        raise InvalidArgument(f"input {key!r} has an unknown rank; send a full shape")
    shape = tuple(d.size for d in proto.tensor_shape.dim)
    if any(d < 0 for d in shape):
        raise InvalidArgument(f"input {key!r} declares a negative dimension: {list(shape)}")
    return shape


def dtype_name(enum: int) -> str:
    """The name of a `DataType` enum value, e.g. `float32` (or `DT_FLOAT_REF`).

    Raises:
      InvalidArgument: if the value is not a `DataType` (e.g. 999) or is `DT_INVALID`.
    """
    if enum == types_pb2.DT_INVALID or enum not in types_pb2.DataType.values():
        raise InvalidArgument(f"invalid dtype enum {enum}: not a tensorflow.DataType")
    try:
        return tf.as_dtype(enum).name
    except TypeError:
        return types_pb2.DataType.Name(enum)


def arrays_from_protos(
    signature_name: str,
    specs: Mapping[str, InputSpec],
    protos: Mapping[str, tensor_pb2.TensorProto],
    limits: InputLimits,
) -> dict[str, np.ndarray]:
    """Decodes the `TensorProto` inputs of a Predict request, after checking their headers.

    Raises:
      InvalidArgument: for an invalid dtype, a dtype or shape the signature does not take,
        inputs over the caps, or values that do not fill the declared shape.
    """
    shapes = {}
    for key, proto in protos.items():
        name = dtype_name(proto.dtype)
        spec = specs.get(key)
        if spec is not None and proto.dtype != spec.tf_dtype.as_datatype_enum:
            raise InvalidArgument(
                f"input {key!r} expects {spec.tf_dtype.name} but {name} was provided"
            )
        shapes[key] = declared_shape(key, proto)
    check_inputs(signature_name, specs, shapes, limits)
    arrays = {}
    for key, proto in protos.items():
        _check_narrow_ints(key, proto)
        # Fewer values than elements repeat the last one, as TensorFlow reads a TensorProto.
        try:
            arrays[key] = tf.make_ndarray(proto)
        except (TypeError, ValueError) as e:
            raise InvalidArgument(f"input {key!r} is not a valid tensor: {e}") from None
    return arrays


def _check_narrow_ints(key: str, proto: tensor_pb2.TensorProto) -> None:
    """Refuses `int_val` values outside a narrow integer dtype (uint8, int8, 16-bit).

    These dtypes travel in the int32 field `int_val`, and decoding wraps a value that does
    not fit (300 becomes 44 as uint8): a pixel of 300 is a client's bug, not an image.

    Raises:
      InvalidArgument: naming the input and its dtype.
    """
    dtype = tf.as_dtype(proto.dtype).base_dtype
    if not (dtype.is_integer and dtype.size < 4 and proto.int_val):
        return
    values = np.asarray(proto.int_val, np.int64)
    info = np.iinfo(dtype.as_numpy_dtype)
    if values.min() < info.min or values.max() > info.max:
        raise InvalidArgument(f"input {key!r}: value out of range for {dtype.name}")


def split_batch(
    specs: Mapping[str, InputSpec], inputs: Mapping[str, np.ndarray], size: int
) -> list[dict[str, np.ndarray]]:
    """Splits a request into requests of at most `size` examples (batched inputs sliced).

    Inputs without a batch dimension are passed whole to every part.
    """
    batches = {inputs[k].shape[0] for k, spec in specs.items() if spec.batched and k in inputs}
    if not batches or max(batches) <= size:
        return [dict(inputs)]
    count = max(batches)
    return [
        {
            key: value[start : start + size] if specs[key].batched else value
            for key, value in inputs.items()
        }
        for start in range(0, count, size)
    ]
