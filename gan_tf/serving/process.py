"""`gan-tf serve` as a child process on free localhost ports (for the load bench and tests).

    with serve_process(base_path, "--max-batch-size", "8") as server:
        ServingClient(server.rest_url).generate([1, 2])
    assert server.exit_code == 0          # stopped by SIGTERM, exited cleanly

The server binds port 0 for REST and gRPC and prints the ports it got on its ready line.
"""

from __future__ import annotations

import contextlib
import os
import queue
import re
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator

READY = re.compile(r"REST (http://\S+) gRPC (\S+)$")


def stop_process(process: subprocess.Popen, timeout: float = 15.0) -> int:
    """SIGTERM, wait up to `timeout` s, then SIGKILL.

    Returns:
      The exit status: 0 for a clean stop, -9 if it had to be killed.
    """
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)
    return process.returncode


class ServeProcess:
    """A running `gan-tf serve`; `lines` collects its output (stdout and stderr)."""

    def __init__(self, process: subprocess.Popen, lines: list[str]):
        self.process = process
        self.lines = lines
        self.rest_url = ""
        self.grpc_target = ""
        self.exit_code: int | None = None

    @property
    def pid(self) -> int:
        return self.process.pid

    def output(self, last: int = 40) -> str:
        return "".join(self.lines[-last:])

    def stop(self, timeout: float = 15.0) -> int:
        """Stops the server with SIGTERM (SIGKILL after `timeout` s); returns its exit status."""
        if self.exit_code is None:
            self.exit_code = stop_process(self.process, timeout)
        return self.exit_code


def start_server(
    base_path: str, *args: str, model_name: str = "gan", timeout: float = 90.0
) -> ServeProcess:
    """Starts `gan-tf serve` on free 127.0.0.1 ports and waits until it is ready.

    Args:
      base_path: the model base path.
      *args: more `gan-tf serve` flags.
      model_name: the model name.
      timeout: seconds to wait for the ready line.

    Raises:
      RuntimeError: with the server's last output, if it does not become ready.
    """
    cmd = [
        sys.executable,
        "-m",
        "gan_tf.cli",
        "serve",
        "--model-base-path",
        base_path,
        "--model-name",
        model_name,
        "--rest-port",
        "0",
        "--grpc-port",
        "0",
        *args,
    ]
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", PYTHONUNBUFFERED="1")
    process = subprocess.Popen(
        cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env
    )
    server = ServeProcess(process, [])
    ready: queue.Queue = queue.Queue()

    def read() -> None:  # drains the pipe for the server's whole life
        for line in process.stdout:
            server.lines.append(line)
            match = READY.search(line.strip())
            if match:
                ready.put(match.groups())
        ready.put(None)

    threading.Thread(target=read, daemon=True).start()
    try:
        found = ready.get(timeout=timeout)
    except queue.Empty:
        found = None
    if found is None:
        server.stop()
        raise RuntimeError("gan-tf serve did not start:\n" + server.output(30))
    server.rest_url, server.grpc_target = found
    return server


@contextlib.contextmanager
def serve_process(base_path: str, *args: str, **kwargs) -> Iterator[ServeProcess]:
    """`start_server` that stops the server (SIGTERM) on exit; see `exit_code` afterwards."""
    server = start_server(base_path, *args, **kwargs)
    try:
        yield server
    finally:
        server.stop()
