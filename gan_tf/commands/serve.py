"""`gan-tf serve`: a local server speaking the TF Serving REST and gRPC APIs."""

from __future__ import annotations

import argparse

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
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    defaults = ServerOptions()
    p.add_argument(
        "--max-batch-size",
        type=int,
        default=defaults.max_batch_size,
        help="largest batch per request (default %(default)s)",
    )
    p.add_argument(
        "--max-request-bytes",
        type=int,
        default=defaults.max_request_bytes,
        help="largest REST body or gRPC message (default 4 MiB)",
    )
    p.add_argument(
        "--max-input-bytes",
        type=int,
        default=defaults.max_input_bytes,
        help="largest decoded size of a request's inputs, checked before decoding "
        "(default 32 MiB)",
    )
    p.add_argument(
        "--max-connections",
        type=int,
        default=defaults.max_connections,
        help="most REST connections and gRPC calls at once (default %(default)s)",
    )
    p.add_argument(
        "--request-timeout",
        type=float,
        default=defaults.request_timeout,
        help="seconds a REST client has to send a request, and to take its response "
        "(default %(default)s)",
    )
    p.add_argument(
        "--shutdown-grace",
        type=float,
        default=defaults.shutdown_grace,
        help="seconds requests in flight get to finish on SIGTERM (default %(default)s)",
    )
    p.add_argument(
        "--poll-seconds",
        type=float,
        default=defaults.poll_seconds,
        help="seconds between scans for new versions (default %(default)s)",
    )
    p.add_argument(
        "--num-versions",
        type=int,
        default=defaults.num_versions,
        help="newest loadable versions kept loaded (default %(default)s)",
    )


def run(args: argparse.Namespace) -> int:
    import gc
    import signal
    import sys
    import threading

    from gan_tf.serving.server import ModelServer

    options = ServerOptions(
        host=args.host,
        max_batch_size=args.max_batch_size,
        max_request_bytes=args.max_request_bytes,
        max_input_bytes=args.max_input_bytes,
        max_connections=args.max_connections,
        request_timeout=args.request_timeout,
        shutdown_grace=args.shutdown_grace,
        poll_seconds=args.poll_seconds,
        num_versions=args.num_versions,
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
