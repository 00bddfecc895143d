"""Errors raised for bad input; the CLI turns them into a message and a non-zero exit."""

from __future__ import annotations

import re

_ASSERTION = re.compile(r"assertion failed: \[([^\]]*)\]")
# The lines TensorFlow wraps an op's message in.
_FRAMING = ("Graph execution error", "Detected at node", "<stack", "[[")


class GanTfError(Exception):
    """Base class of errors caused by the user's input rather than by a bug."""


class ConfigError(GanTfError, ValueError):
    """A configuration key or value is unknown or invalid."""


class DataError(GanTfError, ValueError):
    """Input data is missing, empty, corrupt or of the wrong shape."""


class TrainingError(GanTfError, RuntimeError):
    """Training cannot go on (for example, a loss became NaN or Inf)."""


def op_message(error, prefer: tuple[str, ...] = ()) -> str:
    """The useful line of a TensorFlow op error (`tf.errors.OpError`): an assertion's
    message; else the first line holding one of `prefer`; else the first line that is not
    TensorFlow's framing (`Graph execution error:`, `Detected at node ...`, node lists)."""
    match = _ASSERTION.search(error.message)
    if match:
        return match.group(1)
    lines = [line.strip() for line in error.message.splitlines() if line.strip()]
    for line in lines:
        if any(word in line for word in prefer):
            return line
    for line in lines:
        if not line.startswith(_FRAMING):
            return line
    return lines[0] if lines else type(error).__name__
