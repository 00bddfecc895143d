"""Loaded model versions and the manager that follows a TF Serving model base path.

A model base path holds one SavedModel per version, in directories named by integers
(`<base>/1`, `<base>/1700000000`, ...), as TFX's Pusher writes them; other entries are
ignored. The manager keeps the newest `num_versions` loadable ones loaded, polling the
directory for new ones. A new version is loaded and warmed up (with its
`assets.extra/tf_serving_warmup_requests`) before it replaces the old one; requests already
running keep a reference to the version they started on, so none is dropped during the
switch. A version that fails to load is reported in the status and the next older one serves.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import re
import sys
import threading
import time
from typing import Any

import numpy as np
import tensorflow as tf
from tensorflow.core.protobuf import meta_graph_pb2, saved_model_pb2

from gan_tf.errors import op_message
from gan_tf.serving.errors import InvalidArgument, NotFound, ServingError
from gan_tf.serving.inputs import (
    InputLimits,
    InputSpec,
    arrays_from_protos,
    check_inputs,
    split_batch,
)

log = logging.getLogger(__name__)

DEFAULT_SIGNATURE = "serving_default"


class Servable:
    """One loaded version of a model: its signatures and their input specs."""

    def __init__(self, name: str, version: int, path: str, limits: InputLimits):
        self.name = name
        self.version = version
        self.path = path
        self.limits = limits
        self.signature_defs = _read_signature_defs(path)
        self._loaded = tf.saved_model.load(path)
        self.functions = dict(self._loaded.signatures)
        self.inputs: dict[str, dict[str, InputSpec]] = {
            sig_name: {key: InputSpec.from_tensor_info(info) for key, info in sig.inputs.items()}
            for sig_name, sig in self.signature_defs.items()
        }
        self.outputs: dict[str, list[str]] = {
            sig_name: sorted(sig.outputs) for sig_name, sig in self.signature_defs.items()
        }

    def signature(self, signature_name: str) -> str:
        """Resolves an empty name to `serving_default`; raises for unknown names."""
        name = signature_name or DEFAULT_SIGNATURE
        if name not in self.functions:
            raise InvalidArgument(
                f'Serving signature name: "{name}" not found in signature def; available: '
                f"{', '.join(sorted(self.functions))}"
            )
        return name

    def check_arrays(self, signature_name: str, inputs: dict[str, np.ndarray]) -> None:
        """Checks built inputs: names, dtypes, shapes and caps.

        Raises:
          InvalidArgument: naming the offending input.
        """
        specs = self.inputs[signature_name]
        for key, value in inputs.items():
            if key in specs and value.dtype != specs[key].dtype:
                raise InvalidArgument(
                    f"input {key!r} expects {specs[key].tf_dtype.name} but {value.dtype.name} "
                    "was provided"
                )
        shapes = {key: value.shape for key, value in inputs.items()}
        check_inputs(signature_name, specs, shapes, self.limits)

    def predict(self, signature_name: str, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Runs a signature on numpy inputs (checked first); returns numpy outputs.

        Raises:
          InvalidArgument: for inputs that do not match the signature or that the model
            rejects (e.g. a label out of range).
        """
        name = self.signature(signature_name)
        self.check_arrays(name, inputs)
        specs = self.inputs[name]
        tensors = {key: tf.constant(value, specs[key].tf_dtype) for key, value in inputs.items()}
        try:
            outputs = self.functions[name](**tensors)
        except tf.errors.InvalidArgumentError as e:
            raise InvalidArgument(op_message(e)) from None
        except tf.errors.OpError as e:
            raise ServingError(f"{type(e).__name__}: {op_message(e)}", "INTERNAL") from None
        return {key: value.numpy() for key, value in outputs.items()}

    def warm_up(self) -> int:
        """Replays the export's warmup requests; returns how many ran.

        Raises:
          ServingError: if a request fails (the version is then not served).
        """
        from gan_tf.export import read_warmup_requests

        logs = read_warmup_requests(self.path)
        # A warmup request larger than this server's batch cap runs in parts within the cap.
        unbatched = dataclasses.replace(self.limits, max_batch_size=sys.maxsize)
        for entry in logs:
            request = entry.predict_log.request
            name = self.signature(request.model_spec.signature_name)
            specs = self.inputs[name]
            inputs = arrays_from_protos(name, specs, request.inputs, unbatched)
            for part in split_batch(specs, inputs, self.limits.max_batch_size):
                self.predict(name, part)
        return len(logs)


def _read_signature_defs(path: str) -> dict[str, meta_graph_pb2.SignatureDef]:
    saved_model = saved_model_pb2.SavedModel()
    with open(os.path.join(path, "saved_model.pb"), "rb") as f:
        saved_model.ParseFromString(f.read())
    for meta_graph in saved_model.meta_graphs:
        if "serve" in meta_graph.meta_info_def.tags:
            return {
                key: sig
                for key, sig in meta_graph.signature_def.items()
                if not key.startswith("__")
            }
    raise ServingError(f"{path} has no MetaGraph tagged 'serve'", "FAILED_PRECONDITION")


_VERSION = re.compile(r"[0-9]+", re.ASCII)
_MAX_VERSION = 2**63 - 1  # versions are int64 in TF Serving's API


def parse_version(text: str) -> int | None:
    """The version a directory name or URL segment stands for: ASCII digits within int64.

    Returns None for anything else (`abc`, `-1`, `²`, `٣`, a 30-digit number), so stray
    entries of a base path are ignored and such URLs are refused.
    """
    if not _VERSION.fullmatch(text):
        return None
    value = int(text)
    return value if value <= _MAX_VERSION else None


def list_versions(base_path: str) -> dict[int, str]:
    """Version directories under `base_path` (named by integers) holding a `saved_model.pb`."""
    try:
        names = os.listdir(base_path)
    except FileNotFoundError:
        return {}
    versions = {}
    for name in names:
        path = os.path.join(base_path, name)
        version = parse_version(name)
        if version is not None and os.path.isfile(os.path.join(path, "saved_model.pb")):
            versions[version] = path
    return versions


def _fingerprint(path: str) -> tuple:
    """Changes when the files of a version directory change (to retry failed loads)."""
    stats = []
    for root, _, files in os.walk(path):
        for name in files:
            try:
                st = os.stat(os.path.join(root, name))
            except OSError:  # a dangling link or a file removed meanwhile
                continue
            stats.append((os.path.relpath(os.path.join(root, name), path), st.st_size, st.st_mtime))
    return tuple(sorted(stats))


@dataclasses.dataclass
class VersionState:
    """Status of one version, as reported by the model status API."""

    version: int
    state: str  # LOADING, AVAILABLE, END (unloaded or failed)
    error_code: str = "OK"
    error_message: str = ""


class ModelManager:
    """Serves the newest `num_versions` loadable versions of one model under `base_path`."""

    def __init__(
        self,
        name: str,
        base_path: str,
        num_versions: int = 1,
        poll_seconds: float = 1.0,
        limits: InputLimits | None = None,
    ):
        self.name = name
        self.base_path = base_path
        self.num_versions = num_versions
        self.poll_seconds = poll_seconds
        self.limits = limits or InputLimits()
        self._servables: dict[int, Servable] = {}
        self._states: dict[int, VersionState] = {}
        self._failed: dict[int, tuple] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Loads what is there now, then polls for changes in a background thread."""
        self.poll()
        self._thread = threading.Thread(target=self._run, name="model-poller", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)

    def _run(self) -> None:
        while not self._stop.wait(self.poll_seconds):
            try:
                self.poll()
            except Exception:  # keep polling: a bad version must not stop the server
                log.exception("polling %s failed", self.base_path)

    def poll(self) -> None:
        """Keeps the newest `num_versions` loadable versions loaded, unloads the others.

        Versions are tried newest first; one that fails to load is reported (state END with
        its error) and skipped for the next older one until its files change, so a broken
        push never leaves the model without a version while an older one loads.
        """
        on_disk = list_versions(self.base_path)
        keep: list[int] = []
        for version in sorted(on_disk, reverse=True):
            if len(keep) == self.num_versions or self._stop.is_set():
                break
            if version not in self._servables:
                fingerprint = _fingerprint(on_disk[version])
                if self._failed.get(version) == fingerprint:
                    continue
                if not self._load(version, on_disk[version], fingerprint):
                    continue
            keep.append(version)
        if keep:
            for version in [v for v in self._servables if v not in keep]:
                self._unload(version)

    def _load(self, version: int, path: str, fingerprint: tuple) -> bool:
        """Loads and warms up one version; returns whether it is now served."""
        self._set_state(VersionState(version, "LOADING"))
        started = time.monotonic()
        try:
            servable = Servable(self.name, version, path, self.limits)
            warmed = servable.warm_up()
        except Exception as e:  # a partial or broken export: report it, retry when it changes
            message = str(e).splitlines()[0] if str(e) else type(e).__name__
            log.warning("could not load %s version %d: %s", self.name, version, message)
            self._failed[version] = fingerprint
            self._set_state(VersionState(version, "END", "UNKNOWN", message))
            return False
        self._failed.pop(version, None)
        with self._lock:
            servables = dict(self._servables)
            servables[version] = servable
            self._servables = servables
            self._states[version] = VersionState(version, "AVAILABLE")
        log.info(
            "serving %s version %d from %s (%d warmup requests, %.1f s)",
            self.name,
            version,
            path,
            warmed,
            time.monotonic() - started,
        )
        return True

    def _unload(self, version: int) -> None:
        with self._lock:
            servables = dict(self._servables)
            servables.pop(version, None)
            self._servables = servables
            self._states[version] = VersionState(version, "END")
        log.info("unloaded %s version %d", self.name, version)

    def _set_state(self, state: VersionState) -> None:
        with self._lock:
            self._states[state.version] = state

    def _check_name(self, name: str) -> None:
        if name != self.name:
            raise NotFound(f"Servable not found for request: Latest({name})")

    def get(self, name: str, version: int | None = None) -> Servable:
        """The servable for a request: a given version or the newest loaded one.

        Raises:
          NotFound: for another model name, or a version (or any version) not loaded.
        """
        self._check_name(name)
        servables = self._servables  # one consistent snapshot
        if version is None:
            if not servables:
                raise NotFound(
                    f"Servable not found for request: Latest({name}) (no version loaded yet "
                    f"from {self.base_path})"
                )
            return servables[max(servables)]
        if version not in servables:
            raise NotFound(f"Servable not found for request: Specific({name}, {version})")
        return servables[version]

    def available(self) -> list[int]:
        """Versions loaded and serving, newest first."""
        return sorted(self._servables, reverse=True)

    def status(self, name: str, version: int | None = None) -> list[VersionState]:
        """Version states, newest first (one version if given).

        Raises:
          NotFound: for another model name or a version never seen.
        """
        self._check_name(name)
        with self._lock:
            states = dict(self._states)
        if version is not None:
            if version not in states:
                raise NotFound(f"Could not find version {version} of model {name}")
            return [states[version]]
        if not states:
            raise NotFound(f"Could not find any versions of model {name}")
        return [states[v] for v in sorted(states, reverse=True)]


def signature_def_map(servable: Servable) -> Any:
    """The `SignatureDefMap` proto TF Serving returns as model metadata."""
    from tensorflow_serving.apis import get_model_metadata_pb2

    result = get_model_metadata_pb2.SignatureDefMap()
    for key, sig in servable.signature_defs.items():
        result.signature_def[key].CopyFrom(sig)
    return result
