"""`ModelServer`: the model manager behind a REST and a gRPC endpoint, like TF Serving.

server = ModelServer("gan", "/models/gan", rest_port=8501, grpc_port=8500)
server.start()          # loads the newest version, then follows the base path
...
server.stop()
"""

from __future__ import annotations

import logging
import os
import threading

from gan_tf.errors import GanTfError
from gan_tf.serving import grpc_api, rest
from gan_tf.serving.inputs import InputLimits
from gan_tf.serving.models import ModelManager
from gan_tf.serving.options import ServerOptions

log = logging.getLogger(__name__)


class ModelServer:
    """Serves one model over TF Serving's REST and gRPC APIs."""

    def __init__(
        self,
        model_name: str,
        model_base_path: str,
        rest_port: int = 8501,
        grpc_port: int = 8500,
        options: ServerOptions | None = None,
    ):
        options = options or ServerOptions()
        if not os.path.isdir(model_base_path):
            raise GanTfError(
                f"model base path {model_base_path} is not a directory; create it or point "
                "--model-base-path at the directory holding the version directories"
            )
        options.validate()
        self.options = options
        self.manager = ModelManager(
            model_name,
            model_base_path,
            num_versions=options.num_versions,
            poll_seconds=options.poll_seconds,
            limits=InputLimits(options.max_batch_size, options.max_input_bytes),
        )
        try:
            self._rest = rest.RestServer(
                (options.host, rest_port),
                self.manager,
                max_request_bytes=options.max_request_bytes,
                max_connections=options.max_connections,
                request_timeout=options.request_timeout,
            )
        except OSError as e:
            raise GanTfError(f"cannot bind REST to {options.host}:{rest_port}: {e}") from None
        try:
            self._grpc, self.grpc_port = grpc_api.make_server(
                self.manager,
                f"{options.host}:{grpc_port}",
                options.max_request_bytes,
                options.max_connections,
            )
        except GanTfError:
            self._rest.stop(0)
            raise
        self.rest_port = self._rest.server_address[1]
        self._rest_thread: threading.Thread | None = None

    @property
    def rest_url(self) -> str:
        return f"http://{self.options.host}:{self.rest_port}"

    @property
    def grpc_target(self) -> str:
        return f"{self.options.host}:{self.grpc_port}"

    def start(self) -> None:
        """Loads the newest version(s) present, then starts both endpoints and polling."""
        self.manager.start()
        self._grpc.start()
        self._rest_thread = threading.Thread(target=self._rest.serve, name="rest", daemon=True)
        self._rest_thread.start()

    def stop(self, grace: float | None = None) -> None:
        """Stops accepting requests, lets those in flight finish, then unloads.

        Args:
          grace: seconds requests in flight get (default `options.shutdown_grace`); any still
            running after that are cut off.
        """
        grace = self.options.shutdown_grace if grace is None else grace
        grpc_done = self._grpc.stop(grace)  # refuses new calls at once, returns at once
        self._rest.stop(grace)
        grpc_done.wait(grace + 1)
        self.manager.stop()
