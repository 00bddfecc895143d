"""The IDX file format of MNIST-style datasets (LeCun et al.), plain or gzipped.

An IDX file is a big-endian header `0x00 0x00 <type> <ndim>`, `ndim` uint32 sizes, then the
array. Only unsigned bytes (type 0x08) occur in MNIST and Fashion-MNIST.
"""

from __future__ import annotations

import gzip
import os

import numpy as np

from gan_tf.errors import DataError

_UINT8 = 0x08


def read_idx(path: str | os.PathLike) -> np.ndarray:
    """Reads a uint8 IDX file (`.gz` or plain) into an array of its declared shape.

    Raises:
      DataError: for a missing file, a bad header, another element type, or a size that
        does not match the header.
    """
    try:
        with open(path, "rb") as f:
            data = f.read()
        if data[:2] == b"\x1f\x8b":
            data = gzip.decompress(data)
    except (OSError, EOFError, gzip.BadGzipFile) as e:
        raise DataError(f"cannot read IDX file {path}: {e}") from None
    if len(data) < 4 or data[:2] != b"\x00\x00":
        raise DataError(f"{path} is not an IDX file (bad magic {data[:4].hex()})")
    kind, ndim = data[2], data[3]
    if kind != _UINT8:
        raise DataError(f"{path}: IDX element type 0x{kind:02x} is not unsigned bytes (0x08)")
    header = 4 + 4 * ndim
    if ndim < 1 or len(data) < header:
        raise DataError(f"{path}: truncated IDX header")
    shape = tuple(int(d) for d in np.frombuffer(data, ">u4", count=ndim, offset=4))
    expected = int(np.prod(shape))
    if len(data) - header != expected:
        raise DataError(
            f"{path}: IDX header declares {shape} ({expected} bytes) but holds "
            f"{len(data) - header} bytes"
        )
    return np.frombuffer(data, np.uint8, offset=header).reshape(shape)


def write_idx(path: str | os.PathLike, array: np.ndarray, compress: bool = True) -> None:
    """Writes a uint8 array as an IDX file (gzipped when `compress`)."""
    array = np.ascontiguousarray(array, np.uint8)
    header = bytes([0, 0, _UINT8, array.ndim]) + np.asarray(array.shape, ">u4").tobytes()
    payload = header + array.tobytes()
    with open(path, "wb") as f:
        f.write(gzip.compress(payload) if compress else payload)
