"""TF Serving's REST JSON format: requests to numpy inputs, numpy outputs to responses.

Requests carry either `instances` (row format: a list with one entry per example, each an
object of named inputs, or a bare value when the signature has one input) or `inputs`
(columnar format: an object of named batched inputs, or a bare value). Binary strings travel
as `{"b64": "..."}`. Responses mirror the request: `predictions` (one entry per example) or
`outputs`; a single output is given bare, several as an object. Outputs whose name ends in
`_bytes` are base64-encoded as `{"b64": ...}`, like TF Serving does.
"""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any

import numpy as np

from gan_tf.serving.errors import InvalidArgument
from gan_tf.serving.inputs import InputLimits, InputSpec, Shape, check_inputs

_INT_KINDS = "iu"


def json_shape(value: Any, rank: int) -> Shape:
    """The shape a nested JSON list declares, read along its first elements.

    Reads at most `rank + 1` levels, so a deeper nesting costs nothing and fails the shape
    check; the conversion then verifies that the other elements agree.
    """
    shape: list[int] = []
    while isinstance(value, list) and len(shape) <= rank:
        shape.append(len(value))
        if not value:
            break
        value = value[0]
    return tuple(shape)


def _decode_strings(value: Any, key: str, depth: int) -> Any:
    """Bytes for the strings and `{"b64": ...}` objects of a nested list at most `depth` deep."""
    if isinstance(value, list):
        if depth == 0:
            raise InvalidArgument(f"input {key!r} is not a rectangular array of strings")
        return [_decode_strings(v, key, depth - 1) for v in value]
    if isinstance(value, dict):
        if set(value) != {"b64"} or not isinstance(value["b64"], str):
            raise InvalidArgument(f'input {key!r}: objects must be {{"b64": "<base64>"}}')
        try:
            return base64.b64decode(value["b64"], validate=True)
        except (binascii.Error, ValueError):
            raise InvalidArgument(f"input {key!r}: invalid base64") from None
    if isinstance(value, str):
        return value.encode("utf-8")
    raise InvalidArgument(f"input {key!r} expects strings, got {type(value).__name__}")


def to_array(value: Any, spec: InputSpec, key: str, shape: Shape | None = None) -> np.ndarray:
    """Converts a JSON value of a declared (and checked) shape to an array of the input's dtype.

    Args:
      value: nested lists (or an array) of the input's values.
      spec: the signature input; only its dtype is read.
      key: the input's name, for messages.
      shape: the shape the value must have; None for any.

    Raises:
      InvalidArgument: for ragged lists or values of the wrong kind (e.g. 1.5 for int64).
    """
    if spec.dtype == np.dtype(object):
        array = np.array(_decode_strings(value, key, len(shape)), dtype=object)
        if array.shape != shape or not all(isinstance(v, bytes) for v in array.flat):
            raise InvalidArgument(f"input {key!r} is not a rectangular array of strings")
        return array
    try:
        array = np.array(value)
    except ValueError:
        array = None
    if array is None or (shape is not None and array.shape != shape):
        raise InvalidArgument(f"input {key!r} is not a rectangular numeric array")
    if array.size == 0:
        return array.astype(spec.dtype)
    kind = array.dtype.kind
    if kind == "O" or (kind == "f" and spec.dtype.kind in _INT_KINDS):
        raise InvalidArgument(_mixed_values_message(value, spec, key))
    if spec.dtype.kind in _INT_KINDS:
        if kind not in _INT_KINDS:
            raise InvalidArgument(
                f"input {key!r} expects {spec.tf_dtype.name} values, got "
                f"{_kind_name(kind)} values"
            )
        info = np.iinfo(spec.dtype)
        if array.min() < info.min or array.max() > info.max:
            raise InvalidArgument(f"input {key!r}: value out of range for {spec.tf_dtype.name}")
    elif spec.dtype.kind == "f":
        if kind not in _INT_KINDS + "f":
            raise InvalidArgument(
                f"input {key!r} expects {spec.tf_dtype.name} values, got "
                f"{_kind_name(kind)} values"
            )
    elif spec.dtype.kind == "b" and kind != "b":
        raise InvalidArgument(f"input {key!r} expects booleans, got {_kind_name(kind)} values")
    return array.astype(spec.dtype)


def _mixed_values_message(value: Any, spec: InputSpec, key: str) -> str:
    """Why numpy could not give `value` one numeric dtype (only built for the error)."""
    leaves = list(np.array(value, dtype=object).flat)
    if any(isinstance(v, dict) for v in leaves):
        return f"input {key!r}: b64 objects are only valid for string inputs"
    if all(isinstance(v, int) and not isinstance(v, bool) for v in leaves):
        return f"input {key!r}: value out of range for {spec.tf_dtype.name}"
    if spec.dtype.kind == "f" and all(isinstance(v, (int, float)) for v in leaves):
        return f"input {key!r}: value out of range for {spec.tf_dtype.name}"
    if all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in leaves):
        return f"input {key!r} expects {spec.tf_dtype.name} values, got float values"
    return f"input {key!r} expects {spec.tf_dtype.name} values, got mixed values"


def _kind_name(kind: str) -> str:
    return {"f": "float", "b": "boolean", "U": "string", "O": "mixed"}.get(kind, kind)


def parse_request(
    body: bytes, specs_for, limits: InputLimits
) -> tuple[str, dict[str, np.ndarray], bool]:
    """Parses a `:predict` body; shapes are checked before any array is built.

    Args:
      body: the raw request body.
      specs_for: maps a signature name to its `{input: InputSpec}` (raises if unknown).
      limits: the server's caps.

    Returns:
      The signature name, the inputs and whether the row (`instances`) format was used.

    Raises:
      InvalidArgument: for malformed JSON or inputs.
    """
    try:
        request = json.loads(body)
    except RecursionError:
        raise InvalidArgument("JSON Parse error: the document is nested too deeply") from None
    except ValueError as e:  # not UTF-8, not JSON, or an integer of over 4300 digits
        raise InvalidArgument(f"JSON Parse error: {e}") from None
    if not isinstance(request, dict):
        raise InvalidArgument("JSON Parse error: the request body must be a JSON object")
    signature_name = request.get("signature_name", "")
    if not isinstance(signature_name, str):
        raise InvalidArgument("'signature_name' must be a string")
    specs = specs_for(signature_name)
    has_rows, has_cols = "instances" in request, "inputs" in request
    if has_rows == has_cols:
        raise InvalidArgument(
            "Missing 'inputs' or 'instances' key"
            if not has_rows
            else "Not allowed to have both 'inputs' and 'instances' keys"
        )
    if has_rows:
        values = _rows_to_columns(request["instances"], specs)
    else:
        values = _columns(request["inputs"], specs)
    shapes = {
        key: json_shape(value, len(specs[key].shape) if key in specs else 0)
        for key, value in values.items()
    }
    check_inputs(signature_name or "serving_default", specs, shapes, limits)
    arrays = {key: to_array(value, specs[key], key, shapes[key]) for key, value in values.items()}
    return signature_name, arrays, has_rows


def _rows_to_columns(instances: Any, specs: dict[str, InputSpec]) -> dict[str, Any]:
    if not isinstance(instances, list) or not instances:
        raise InvalidArgument("'instances' must be a non-empty list")
    named = all(isinstance(row, dict) and set(row) == set(specs) for row in instances)
    if len(specs) == 1 and not named:
        return {next(iter(specs)): instances}
    names = set(specs)
    columns: dict[str, list] = {key: [] for key in specs}
    for i, row in enumerate(instances):
        if not isinstance(row, dict) or set(row) != names:
            got = sorted(row) if isinstance(row, dict) else type(row).__name__
            raise InvalidArgument(
                f"instance {i} must be an object with keys {sorted(names)}, got {got}"
            )
        for key in specs:
            columns[key].append(row[key])
    return columns


def _columns(inputs: Any, specs: dict[str, InputSpec]) -> dict[str, Any]:
    if isinstance(inputs, dict) and not (set(inputs) == {"b64"} and len(specs) == 1):
        return inputs
    if len(specs) != 1:
        raise InvalidArgument(
            f"'inputs' must be an object with keys {sorted(specs)} for this signature"
        )
    return {next(iter(specs)): inputs}


def _jsonable(key: str, value: np.ndarray) -> Any:
    if value.dtype == np.dtype(object) or value.dtype.kind == "S":
        if key.endswith("_bytes"):
            encode = lambda b: {"b64": base64.b64encode(b).decode("ascii")}  # noqa: E731
        else:
            encode = lambda b: b.decode("utf-8", "replace")  # noqa: E731
        return np.vectorize(encode, otypes=[object])(value).tolist() if value.size else []
    return value.tolist()


def format_response(outputs: dict[str, np.ndarray], rows: bool) -> dict[str, Any]:
    """The response body for `outputs`, in the request's format."""
    if not rows:
        if len(outputs) == 1:
            ((key, value),) = outputs.items()
            return {"outputs": _jsonable(key, value)}
        return {"outputs": {key: _jsonable(key, value) for key, value in outputs.items()}}
    columns = {key: _jsonable(key, value) for key, value in outputs.items()}
    if len(columns) == 1:
        return {"predictions": next(iter(columns.values()))}
    count = len(next(iter(columns.values())))
    return {"predictions": [{key: col[i] for key, col in columns.items()} for i in range(count)]}
