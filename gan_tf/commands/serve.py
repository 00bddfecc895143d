"""`gan-tf serve`: a local server speaking the TF Serving REST and gRPC APIs."""

from __future__ import annotations

import argparse
import dataclasses

from gan_tf.serving.options import ServerOptions


def add_parser(subparsers) -> None:
    p = subparsers.add_parser(
        "serve",
        help="serve exported models over TF Serving's REST and gRPC APIs",
        description=(
            "Serve the newest version under --model-base-path (directories named by integers, "
            "as TFX's Pusher writes them) over the TF Serving APIs that gan-tf query and "
            "gan_tf.serving.client use, and pick up new versions as they appear. For "
            "machines without tensorflow_model_server; see serving/README.md for the real one."
        ),
    )
    p.add_argument("--model-base-path", required=True, help="directory of version directories")
    p.add_argument("--model-name", default="gan", help="model name in URLs (default gan)")
    p.add_argument("--rest-port", type=int, default=8501, help="REST port (0: any free one)")
    p.add_argument("--grpc-port", type=int, default=8500, help="gRPC port (0: any free one)")
    for field in dataclasses.fields(ServerOptions):
        p.add_argument(
            "--" + field.name.replace("_", "-"),
            type=type(field.default),
            default=field.default,
            help=f"{field.metadata['help']} (default {field.default})",
        )


def run(args: argparse.Namespace) -> int:
    import gc
    import signal
    import sys
    import threading

    from gan_tf.serving.server import ModelServer

    options = ServerOptions(
        **{field.name: getattr(args, field.name) for field in dataclasses.fields(ServerOptions)}
    )
    server = ModelServer(
        args.model_name, args.model_base_path, args.rest_port, args.grpc_port, options
    )
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    server.start()
    # Move TensorFlow's ~400k import-time objects out of the collector's reach: a full
    # collection over them stalls every request for 0.1-0.5 s.
    gc.collect()
    gc.freeze()
    versions = server.manager.available()
    print(
        f"serving model {args.model_name!r} from {args.model_base_path} "
        f"(versions loaded: {versions or 'none yet'}); "
        f"REST {server.rest_url} gRPC {server.grpc_target}",
        flush=True,
    )
    try:
        while not stop.wait(0.5):
            pass
    finally:
        server.stop()
    print("stopped", file=sys.stderr, flush=True)
    return 0
