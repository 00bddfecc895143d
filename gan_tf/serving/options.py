"""`ServerOptions`: the limits and polling of `gan-tf serve` (light to import: no TensorFlow)."""

from __future__ import annotations

import dataclasses

from gan_tf.errors import GanTfError


@dataclasses.dataclass(frozen=True)
class ServerOptions:
    """Limits and polling of a `ModelServer`.

    Attributes:
      host: address to bind (127.0.0.1 by default: reachable from this machine only).
      max_batch_size: largest batch (leading dimension) accepted in one request.
      max_request_bytes: largest request body (REST) or message (gRPC).
      max_input_bytes: largest decoded size of one request's inputs (elements times dtype
        size), checked on the declared shapes before anything is allocated. The default is
        above what any body within the default `max_request_bytes` decodes to.
      max_connections: most REST connections served at once (one more gets 503) and most
        gRPC calls in progress (one more gets RESOURCE_EXHAUSTED).
      request_timeout: seconds a REST client has to send a whole request (408 after that),
        and again to take the response; also how long an idle kept-alive connection stays.
      shutdown_grace: seconds requests in flight get to finish when the server stops.
      poll_seconds: seconds between scans of the base path for new versions.
      num_versions: how many of the newest versions to keep loaded.
    """

    host: str = "127.0.0.1"
    max_batch_size: int = 64
    max_request_bytes: int = 4 << 20
    max_input_bytes: int = 32 << 20
    max_connections: int = 64
    request_timeout: float = 30.0
    shutdown_grace: float = 10.0
    poll_seconds: float = 1.0
    num_versions: int = 1

    def validate(self) -> None:
        """Raises GanTfError naming the first limit that is not positive."""
        for field in dataclasses.fields(self):
            value = getattr(self, field.name)
            if field.name != "host" and not value > 0:
                raise GanTfError(f"{field.name} must be positive, got {value}")
