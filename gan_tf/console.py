"""What `gan-tf` prints: a quiet start-up, logging set-up and whole-process output captured.

By default a command shows its own lines only. TensorFlow's import prints C++ start-up
lines (XLA's "Unable to register cuDNN/cuFFT/cuBLAS factory" errors, which no log level
below 3 hides), and importing `google.api_core` (through TensorFlow, TFX or Beam) warns
that Python 3.10 is no longer supported; neither tells the user anything. `quiet_startup`
drops exactly those, and leaves every other message alone. `-v/--verbose` keeps them all.

`capture_output` sends everything the process and its children write to fds 1 and 2 into a
log file (and, when verbose, to the terminal as well), while `terminal()` still reaches the
user: the pipeline prints its per-component lines there and keeps the rest in the run log.

This module imports neither TensorFlow nor NumPy: `gan-tf --help` stays fast and silent.
"""

from __future__ import annotations

import contextlib
import importlib.abc
import importlib.util
import logging
import os
import re
import sys
import tempfile
import threading
import warnings
from collections.abc import Iterator
from typing import TextIO

# Lines TensorFlow's import writes to stderr that say nothing to a user of this CPU build.
STARTUP_NOISE = re.compile(
    r"Unable to register (cuDNN|cuFFT|cuBLAS) factory"
    r"|All log messages before absl::InitializeLog\(\) is called are written to STDERR"
)
LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"

_terminal: TextIO | None = None


def quiet_startup(verbose: bool) -> None:
    """Sets up logging and, unless `verbose`, silences the start-up noise of the stack.

    Must run before TensorFlow is imported (it hooks that import). Explicit user settings
    (`TF_CPP_MIN_LOG_LEVEL`, `-W` options) win.
    """
    logging.basicConfig(level=logging.DEBUG if verbose else logging.INFO, format=LOG_FORMAT)
    absl_verbosity("info" if verbose else "warning")  # TFX's notes go through absl
    logging.getLogger("tensorflow").setLevel(logging.INFO if verbose else logging.WARNING)
    if verbose:
        return
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    if not sys.warnoptions:
        warnings.filterwarnings(
            "ignore", category=FutureWarning, module=r"google\.api_core\._python_version_support"
        )
    if "tensorflow" not in sys.modules and not any(
        isinstance(f, _QuietImport) for f in sys.meta_path
    ):
        sys.meta_path.insert(0, _QuietImport("tensorflow"))


def absl_verbosity(level: str | int) -> int:
    """Sets absl's log level (`"info"`, `"warning"`, ...); returns the previous one.

    Through absl's flag, not the `absl` logger: TensorFlow's SavedModel writer resets the
    logger to the flag's level after each save.
    """
    from absl import logging as absl_logging

    previous = absl_logging.get_verbosity()
    absl_logging.set_verbosity(level)
    return previous


class _QuietImport(importlib.abc.MetaPathFinder):
    """Runs the first import of one module with `STARTUP_NOISE` filtered out of stderr."""

    def __init__(self, name: str):
        self.name = name

    def find_spec(self, fullname, path=None, target=None):
        if fullname != self.name:
            return None
        sys.meta_path.remove(self)
        spec = importlib.util.find_spec(fullname)
        if spec is None or spec.loader is None:
            return spec
        exec_module = spec.loader.exec_module

        def quiet_exec_module(module):
            with filtered_stderr(STARTUP_NOISE):
                exec_module(module)

        spec.loader.exec_module = quiet_exec_module
        return spec


@contextlib.contextmanager
def filtered_stderr(drop: re.Pattern) -> Iterator[None]:
    """Holds back what is written to fd 2 (by Python or C++), then writes all lines but `drop`'s.

    For short, chatty phases such as an import: the lines appear when the phase ends.
    """
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as held:
        os.dup2(held.fileno(), 2)
        try:
            yield
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            held.seek(0)
            text = held.read().decode("utf-8", errors="replace")
            kept = [line for line in text.splitlines(keepends=True) if not drop.search(line)]
            if kept:
                sys.stderr.write("".join(kept))
                sys.stderr.flush()


def terminal() -> TextIO:
    """Where to print for the user: the original stdout, also while `capture_output` runs."""
    return _terminal or sys.stdout


@contextlib.contextmanager
def capture_output(log_path: str, echo: bool) -> Iterator[str]:
    """Sends fds 1 and 2 (this process, its threads and children) to `log_path`.

    Python's `logging`, `warnings`, C++ logs and child processes all land in the file.
    With `echo` the same bytes also reach the original stderr as they come. `terminal()`
    writes to the original stdout meanwhile.

    Yields:
      `log_path`.
    """
    os.makedirs(os.path.dirname(os.path.abspath(log_path)), exist_ok=True)
    global _terminal
    for stream in (sys.stdout, sys.stderr):
        stream.flush()
    saved_out, saved_err = os.dup(1), os.dup(2)
    previous_terminal = _terminal
    _terminal = os.fdopen(os.dup(saved_out), "w", buffering=1, encoding="utf-8")
    log_file = open(log_path, "ab", buffering=0)  # noqa: SIM115 (closed below)
    tee = _Tee(log_file, saved_err) if echo else None
    target = tee.write_fd if tee else log_file.fileno()
    os.dup2(target, 1)
    os.dup2(target, 2)
    try:
        yield log_path
    finally:
        for stream in (sys.stdout, sys.stderr):
            stream.flush()
        os.dup2(saved_out, 1)
        os.dup2(saved_err, 2)
        if tee:
            tee.close()
        os.close(saved_out)
        os.close(saved_err)
        log_file.close()
        _terminal.close()
        _terminal = previous_terminal


class _Tee:
    """A pipe whose reader thread copies every byte to a file and to a descriptor."""

    def __init__(self, file, fd: int):
        read_fd, self.write_fd = os.pipe()
        self._reader = os.fdopen(read_fd, "rb", buffering=0)
        self._file, self._fd = file, fd
        self._thread = threading.Thread(target=self._copy, name="output-tee", daemon=True)
        self._thread.start()

    def _copy(self) -> None:
        while chunk := self._reader.read(65536):
            self._file.write(chunk)
            os.write(self._fd, chunk)

    def close(self) -> None:
        """Stops after everything written so far is copied (children may keep the pipe)."""
        os.close(self.write_fd)
        self._thread.join(timeout=5)
