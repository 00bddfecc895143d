"""What `gan-tf pipeline run` prints: a line per component; everything else goes to a log file.

    <root>/logs/pipeline-<YYYYmmdd-HHMMSS>.log    TFX, Beam workers, the Trainer's Keras lines,
                                                   the Trainer module's wheel build, warnings

Each component gets one line when it ends: its name, its outcome as ML Metadata records it
(`done`, `cached`, the gate's verdict, the pushed version) and its wall time. On a terminal
a live line shows the running component's elapsed time (a step bar for the Trainer). With
`--verbose` the log is also shown as it is written.

Components are followed through LocalDagRunner's own log records ("Component X is
running." / "... is finished."), so the runner and the components are used unchanged.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import threading
import time
from collections.abc import Iterator
from typing import TextIO

from gan_tf import console, files

_RUNNER_RECORD = re.compile(r"Component (\S+) is (running|finished)\.")
# The data step: `pipelines.tfds_data` logs one of these when the TFRecords are ready.
_DATA_RECORDS = {"Wrote TFDS ": "written", "TFRecords of ": "reused"}
NAME_WIDTH = 29
STEP_BAR = "{desc} {bar} {n_fmt}/{total_fmt} steps [{elapsed}<{remaining}]"


def log_path(root: str, now: float | None = None) -> str:
    """`<root>/logs/pipeline-<local time>.log`."""
    stamp = time.strftime("%Y%m%d-%H%M%S", time.localtime(now))
    return os.path.join(root, "logs", f"pipeline-{stamp}.log")


def duration(seconds: float) -> str:
    """`8.2 s`, `14 min 05 s`, `1 h 02 min`."""
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, secs = divmod(int(round(seconds)), 60)
    if minutes < 60:
        return f"{minutes} min {secs:02d} s"
    return f"{minutes // 60} h {minutes % 60:02d} min"


def node_outcome(metadata_path: str, pipeline_name: str, node: str) -> str:
    """The outcome of a node's last execution, read from ML Metadata.

    `cached` or `done`, with the verdict of a `ModelBlessing` output (`BLESSED`,
    `NOT BLESSED`) or the version of a `PushedModel` output (`pushed version V`, `not pushed`).
    """
    from ml_metadata.proto import metadata_store_pb2

    from pipelines import results

    store = results.open_store(metadata_path)
    context = store.get_context_by_type_and_name("node", f"{pipeline_name}.{node}")
    executions = store.get_executions_by_context(context.id) if context else []
    if not executions:
        return "done"
    execution = max(executions, key=lambda e: e.id)
    state = metadata_store_pb2.Execution.State.Name(execution.last_known_state).lower()
    outcome = {"complete": "done"}.get(state, state)
    outputs = [
        e.artifact_id
        for e in store.get_events_by_execution_ids([execution.id])
        if e.type == metadata_store_pb2.Event.OUTPUT
    ]
    types = {t.id: t.name for t in store.get_artifact_types()}
    for artifact in store.get_artifacts_by_id(outputs):
        props = artifact.custom_properties
        if types.get(artifact.type_id) == "ModelBlessing" and "blessed" in props:
            outcome += ", BLESSED" if props["blessed"].int_value else ", NOT BLESSED"
        elif types.get(artifact.type_id) == "PushedModel" and "pushed" in props:
            if props["pushed"].int_value:
                outcome += f", pushed version {props['pushed_version'].string_value}"
            else:
                outcome += ", not pushed"
    return outcome


class _LiveLine:
    """A terminal line showing a running step's elapsed time, or a bar once steps are known."""

    def __init__(self, name: str, out: TextIO):
        from tqdm import tqdm

        self._tqdm, self._out, self._lock = tqdm, out, threading.Lock()
        self._bar = tqdm(
            desc=f"  {name:<{NAME_WIDTH}}",
            bar_format="{desc} running {elapsed}",
            file=out,
            leave=False,
        )
        self._stop = threading.Event()
        self._ticker = threading.Thread(target=self._tick, name="progress-ticker", daemon=True)
        self._ticker.start()

    def _tick(self) -> None:
        while not self._stop.wait(1.0):
            with self._lock:
                self._bar.refresh()

    def steps(self, step: int, total: int) -> None:
        with self._lock:
            if self._bar.total != total:
                self._bar.bar_format = STEP_BAR
                self._bar.reset(total=total)
            self._bar.n = step
            self._bar.refresh()

    def close(self) -> None:
        self._stop.set()
        self._ticker.join()
        with self._lock:
            self._bar.close()


class ComponentLines(logging.Handler):
    """Prints a line per finished component, and a live line on a terminal meanwhile."""

    def __init__(self, out: TextIO, metadata_path: str, pipeline_name: str, live: bool):
        super().__init__(logging.INFO)
        self.out, self.metadata_path, self.pipeline_name, self.live = (
            out,
            metadata_path,
            pipeline_name,
            live,
        )
        self.running: str | None = None
        self.started = time.monotonic()
        self._live: _LiveLine | None = None

    def emit(self, record: logging.LogRecord) -> None:
        try:
            message = record.getMessage()
        except (TypeError, ValueError):
            return
        match = _RUNNER_RECORD.fullmatch(message)
        if match:
            node, event = match.groups()
            if event == "running":
                self._start(node)
            elif node == self.running:
                self._finish(node_outcome(self.metadata_path, self.pipeline_name, node))
            return
        if record.name == "pipelines.tfds_data" and self.running is None:
            for prefix, outcome in _DATA_RECORDS.items():
                if message.startswith(prefix):
                    self.running = "TFRecords"
                    self._finish(f"{outcome} from TFDS")

    def on_steps(self, step: int, total: int) -> None:
        """A `gan_tf.progress` listener: the Trainer's step bar."""
        if self._live is not None:
            self._live.steps(step, total)

    def _start(self, node: str) -> None:
        self.running, self.started = node, time.monotonic()
        if self.live:
            self._live = _LiveLine(node, self.out)

    def _finish(self, outcome: str) -> None:
        if self._live is not None:
            self._live.close()
            self._live = None
        seconds = time.monotonic() - self.started
        self.out.write(f"  {self.running:<{NAME_WIDTH}} {outcome:<34} {duration(seconds)}\n")
        self.out.flush()
        self.running, self.started = None, time.monotonic()

    def fail(self) -> None:
        """Ends the running component's line as FAILED (on an error or an interrupt)."""
        if self.running is not None:
            self._finish("FAILED")


@contextlib.contextmanager
def component_lines(
    root: str, metadata_path: str, pipeline_name: str, verbose: bool
) -> Iterator[str]:
    """Runs the block with its output in the run log and a line per component on the console.

    Yields:
      The log file's path.
    """
    # A root in use by another run fails here, before a line or a log is written; the run
    # itself holds the lock throughout (`local_runner.run_pipeline`).
    files.DirLock(root, "pipeline root").check()
    path = log_path(root)
    print(f"full log: {path}", file=console.terminal(), flush=True)
    with console.capture_output(path, echo=verbose):
        from gan_tf import progress  # imports TensorFlow: its start-up lines go to the log

        out = console.terminal()
        lines = ComponentLines(out, metadata_path, pipeline_name, live=out.isatty() and not verbose)
        root_logger = logging.getLogger()
        absl_level = console.absl_verbosity("info")  # the runner's records, and the full log
        root_logger.addHandler(lines)
        try:
            with progress.listen(lines.on_steps):
                yield path
        except BaseException:
            lines.fail()
            print(f"the run failed; its full log: {path}", file=out, flush=True)
            raise
        finally:
            root_logger.removeHandler(lines)
            console.absl_verbosity(absl_level)
