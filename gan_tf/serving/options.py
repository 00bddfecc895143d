"""`ServerOptions`: the limits and polling of `gan-tf serve` (light to import: no TensorFlow).

`gan-tf serve` has one flag per field, `--max-batch-size` for `max_batch_size` and so on,
with the field's help text.
"""

from __future__ import annotations

import dataclasses

from gan_tf.errors import GanTfError


def _option(default, help: str):  # noqa: A002 - argparse's word
    return dataclasses.field(default=default, metadata={"help": help})


@dataclasses.dataclass(frozen=True)
class ServerOptions:
    """Limits and polling of a `ModelServer`; each field's help says what it bounds."""

    host: str = _option("127.0.0.1", "address to bind (127.0.0.1: this machine only)")
    max_batch_size: int = _option(64, "largest batch (first dimension) of one request")
    max_request_bytes: int = _option(4 << 20, "largest REST body or gRPC message, in bytes")
    max_input_bytes: int = _option(
        32 << 20,
        "largest decoded size of one request's inputs (elements times dtype size), checked "
        "on the declared shapes before anything is allocated; the default is above what any "
        "body within the default --max-request-bytes decodes to",
    )
    max_connections: int = _option(
        64,
        "most REST connections served at once (503 beyond) and gRPC calls in progress "
        "(RESOURCE_EXHAUSTED beyond)",
    )
    request_timeout: float = _option(
        30.0,
        "seconds a REST client has to send a whole request (408 after that) and again to "
        "take its answer; an idle kept-alive connection is closed after as long",
    )
    shutdown_grace: float = _option(
        10.0, "seconds requests in flight get to finish when the server stops (SIGTERM)"
    )
    poll_seconds: float = _option(1.0, "seconds between scans of the base path for new versions")
    num_versions: int = _option(1, "how many of the newest loadable versions to keep loaded")

    def validate(self) -> None:
        """Raises GanTfError naming the first limit that is not positive."""
        for field in dataclasses.fields(self):
            value = getattr(self, field.name)
            if field.name != "host" and not value > 0:
                raise GanTfError(f"{field.name} must be positive, got {value}")
