"""`AtomicPusher`: TFX's Pusher whose filesystem versions appear atomically and durably.

The stock Pusher copies the SavedModel file by file into `<base>/<unix time>/`, so a model
server polling `<base>` can see a half-written version, and two pushes in the same second
collide. This executor copies into a hidden sibling (`.<version>.incoming-<pid>`, which TF
Serving ignores because the name is not a number), flushes it to disk, then renames it to
`<base>/<version>` in one step. A push holds an exclusive lock on `<base>` (`.lock`), so two
pushes never pick the same version, and it first deletes the hidden directories that killed
pushes left behind. Versions are Unix seconds, bumped past the newest existing version, so
they only grow. A model identical to the newest version (same SavedModel `fingerprint.pb`,
e.g. a rerun whose Trainer was cached) is not pushed again: the existing version is recorded.
Everything else (blessing check, `pushed*` properties, the archived copy) is the stock
behaviour. On object stores without atomic rename (`gs://`, `s3://`) it falls back to the
stock order: `saved_model.pb` copied last.
"""

from __future__ import annotations

import os
import re
import shutil
import time
from typing import Any

from absl import logging
from tfx import types
from tfx.components.pusher import executor as pusher_executor
from tfx.components.pusher.component import Pusher
from tfx.dsl.components.base import executor_spec
from tfx.proto import pusher_pb2
from tfx.types import artifact_utils
from tfx.types import standard_component_specs as specs
from tfx.utils import io_utils, proto_utils

from gan_tf import files

# What an unfinished push leaves in `<base>`: `.<version>.incoming-<pid>`.
_INCOMING = re.compile(r"\.\d+\.incoming-\d+")


def existing_versions(base: str) -> list[int]:
    """Numeric version directories under `base` (as TF Serving sees them), ascending."""
    if not os.path.isdir(base):
        return []
    return sorted(int(d) for d in os.listdir(base) if d.isdigit())


def next_version(base: str, now: float | None = None) -> int:
    """Unix seconds, or one more than the newest existing version if that is later."""
    versions = existing_versions(base)
    stamp = int(now if now is not None else time.time())
    return max([stamp] + [v + 1 for v in versions])


def _fingerprint(saved_model_dir: str) -> bytes | None:
    path = os.path.join(saved_model_dir, "fingerprint.pb")
    if not os.path.isfile(path):
        return None
    with open(path, "rb") as f:
        return f.read()


def remove_unfinished(base: str) -> list[str]:
    """Deletes the hidden copies that interrupted pushes left in `base`; returns their names.

    Only safe while holding the lock of `base` (no push is under way then).
    """
    names = sorted(d for d in os.listdir(base) if _INCOMING.fullmatch(d))
    for name in names:
        logging.warning("Removing %s, left by an interrupted push", os.path.join(base, name))
        shutil.rmtree(os.path.join(base, name))
    return names


def push_atomically(model_path: str, base: str, now: float | None = None) -> tuple[str, str]:
    """Copies a SavedModel directory to `<base>/<version>` atomically and durably.

    Returns:
      `(serving_path, version)`; the newest existing version if it holds the same model.

    Raises:
      LockedError: if another push into `base` is under way.
    """
    with files.DirLock(base, "model's serving directory"):
        remove_unfinished(base)
        versions = existing_versions(base)
        if versions:
            newest = os.path.join(base, str(versions[-1]))
            fingerprint = _fingerprint(model_path)
            if fingerprint is not None and fingerprint == _fingerprint(newest):
                logging.info("%s already holds this model; nothing new pushed", newest)
                return newest, str(versions[-1])
        version = str(next_version(base, now))
        incoming = os.path.join(base, f".{version}.incoming-{os.getpid()}")
        target = os.path.join(base, version)
        try:
            shutil.copytree(model_path, incoming)
            files.replace_dir(incoming, target)  # fsynced, then renamed in one step
        except BaseException:
            shutil.rmtree(incoming, ignore_errors=True)
            raise
    return target, version


class Executor(pusher_executor.Executor):
    """Pusher executor with atomic filesystem versions (see the module docstring)."""

    def Do(  # noqa: N802 (TFX API)
        self,
        input_dict: dict[str, list[types.Artifact]],
        output_dict: dict[str, list[types.Artifact]],
        exec_properties: dict[str, Any],
    ) -> None:
        destination = pusher_pb2.PushDestination()
        proto_utils.json_to_proto(exec_properties[specs.PUSH_DESTINATION_KEY], destination)
        base = destination.filesystem.base_directory
        if destination.WhichOneof("destination") != "filesystem" or "://" in base:
            return super().Do(input_dict, output_dict, exec_properties)
        self._log_startup(input_dict, output_dict, exec_properties)
        model_push = artifact_utils.get_single_instance(output_dict[specs.PUSHED_MODEL_KEY])
        if not self.CheckBlessing(input_dict):
            self._MarkNotPushed(model_push)
            return None
        model_path = self.GetModelPath(input_dict)
        serving_path, version = push_atomically(model_path, base)
        logging.info("Model pushed atomically to %s", serving_path)
        io_utils.copy_dir(model_path, model_push.uri)
        self._MarkPushed(model_push, pushed_destination=serving_path, pushed_version=version)
        return None


class AtomicPusher(Pusher):
    """Pusher whose filesystem pushes appear atomically as `<base>/<version>/`."""

    EXECUTOR_SPEC = executor_spec.ExecutorClassSpec(Executor)


def filesystem_destination(base_directory: str) -> pusher_pb2.PushDestination:
    """A PushDestination writing versions under `base_directory`."""
    return pusher_pb2.PushDestination(
        filesystem=pusher_pb2.PushDestination.Filesystem(base_directory=base_directory)
    )
