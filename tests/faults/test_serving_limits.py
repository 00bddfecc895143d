"""Slow, idle and surplus clients against a real `gan-tf serve`, and stopping it mid-request.

A client may hold a server thread only for `--request-timeout` while it sends a request and
again while it takes the response; at most `--max-connections` are served at once; SIGTERM
lets the requests in flight finish (within `--shutdown-grace`) and exits with status 0.

The served SavedModel has a `spin` signature that loops `rounds` times (a request whose
computation takes a chosen time) and an `invert` signature on uint8 images of any size (a
response as large as wanted).
"""

from __future__ import annotations

import json
import os
import signal
import socket
import threading
import time

import grpc
import numpy as np
import pytest
import tensorflow as tf
from tensorflow_serving.apis import predict_pb2, prediction_service_pb2_grpc

from gan_tf.serving.process import serve_process


class Workbench(tf.Module):
    @tf.function(input_signature=[tf.TensorSpec([None], tf.int64, name="rounds")])
    def spin(self, rounds):
        def step(i, x):
            return i + 1, tf.math.sin(x) + 1.0

        start = (tf.constant(0, tf.int64), tf.constant(0.0))
        _, x = tf.while_loop(lambda i, _: i < tf.reduce_max(rounds), step, start)
        return {"rounds": rounds + tf.cast(x * 0.0, tf.int64)}

    @tf.function(input_signature=[tf.TensorSpec([None, None, None, 3], tf.uint8, name="images")])
    def invert(self, images):
        return {"images": 255 - images}


@pytest.fixture(scope="module")
def base(tmp_path_factory) -> str:
    path = str(tmp_path_factory.mktemp("limits") / "bench")
    module = Workbench()
    signatures = {
        "serving_default": module.spin.get_concrete_function(),
        "spin": module.spin.get_concrete_function(),
        "invert": module.invert.get_concrete_function(),
    }
    tf.saved_model.save(module, os.path.join(path, "1"), signatures=signatures)
    return path


def port_of(url: str) -> int:
    return int(url.rsplit(":", 1)[1])


def request_bytes(body: dict, path: str = "/v1/models/gan:predict") -> bytes:
    data = json.dumps(body).encode()
    head = f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Length: {len(data)}\r\n\r\n"
    return head.encode() + data


def spin_request(rounds: int) -> bytes:
    return request_bytes({"signature_name": "spin", "inputs": {"rounds": [rounds]}})


def read_response(sock: socket.socket) -> tuple[int | None, dict, bytes]:
    """(status, headers, body) of one response; status None if the server closed first."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(1 << 16)
        if not chunk:
            return None, {}, data
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = dict(line.split(": ", 1) for line in lines[1:])
    while len(body) < int(headers.get("Content-Length", 0)):
        chunk = sock.recv(1 << 16)
        if not chunk:
            break
        body += chunk
    return int(lines[0].split()[1]), headers, body


def connect(url: str, timeout: float = 30.0) -> socket.socket:
    return socket.create_connection(("127.0.0.1", port_of(url)), timeout=timeout)


def exchange(url: str, raw: bytes) -> tuple[int | None, dict, bytes]:
    with connect(url) as sock:
        sock.sendall(raw)
        return read_response(sock)


def closed_by_server(sock: socket.socket) -> bool:
    """Whether the server closed the connection (reads to the end)."""
    try:
        while sock.recv(1 << 16):
            pass
    except ConnectionResetError:
        pass
    return True


def test_slow_and_idle_clients_are_cut_off_at_the_request_timeout(base):
    timeout = 1.5
    args = ("--request-timeout", str(timeout), "--max-connections", "3")
    with serve_process(base, *args, model_name="gan") as server:
        url = server.rest_url
        valid = spin_request(1)
        assert exchange(url, valid)[0] == 200
        time.sleep(0.5)  # its connection's thread has ended
        started = time.monotonic()
        idle, drip_body, drip_head, surplus = (connect(url) for _ in range(4))
        # A body trickled a byte at a time, and a request line trickled likewise.
        drip_body.sendall(valid[: valid.index(b"\r\n\r\n") + 5])
        stop = threading.Event()

        def trickle(sock: socket.socket, data: bytes) -> None:
            for byte in data:
                if stop.wait(0.2):
                    return
                try:
                    sock.send(bytes([byte]))
                except OSError:
                    return

        threads = [
            threading.Thread(
                target=trickle, args=(drip_body, valid[valid.index(b"\r\n\r\n") + 5 :])
            ),
            threading.Thread(target=trickle, args=(drip_head, valid)),
        ]
        for t in threads:
            t.start()
        try:
            # The fourth connection is over the cap of 3 (idle, drip_body, drip_head).
            status, _, body = read_response(surplus)
            assert status == 503 and "limit of 3 connections" in json.loads(body)["error"]
            for sock in (drip_body, drip_head):
                status, headers, body = read_response(sock)
                assert status == 408, body
                assert "within 1.5 s" in json.loads(body)["error"]
                assert headers["Connection"] == "close" and closed_by_server(sock)
            assert read_response(idle)[0] is None  # closed without an answer
            elapsed = time.monotonic() - started
            assert timeout - 0.2 <= elapsed < timeout + 2.5, elapsed
        finally:
            stop.set()
            for t in threads:
                t.join()
            for sock in (idle, drip_body, drip_head, surplus):
                sock.close()
        # Every slot is free again: three requests at once are served.
        results = []
        clients = [
            threading.Thread(target=lambda: results.append(exchange(url, valid)[0]))
            for _ in range(3)
        ]
        for t in clients:
            t.start()
        for t in clients:
            t.join()
        assert results == [200, 200, 200]
    assert server.exit_code == 0, server.output()


def test_a_client_that_does_not_read_its_response_is_cut_off(base):
    args = (
        "--request-timeout",
        "1.5",
        "--max-connections",
        "1",
        "--max-request-bytes",
        str(16 << 20),
    )
    with serve_process(base, *args, model_name="gan") as server:
        url = server.rest_url
        side = 1000  # an answer of ~12 MB of JSON: more than the socket buffers hold
        pixels = ",".join(["[" + ",".join(["[1,2,3]"] * side) + "]"] * side)
        body = ('{"signature_name": "invert", "inputs": {"images": [[' + pixels + "]]}}").encode()
        raw = b"POST /v1/models/gan:predict HTTP/1.1\r\nContent-Length: %d\r\n\r\n" % len(body)
        reader = socket.socket()
        reader.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        reader.connect(("127.0.0.1", port_of(url)))
        reader.sendall(raw + body)
        time.sleep(0.5)
        started = time.monotonic()
        # Its connection holds the only slot until its deadline passes; then a new client
        # is served again.
        while True:
            status = exchange(url, spin_request(1))[0]
            if status == 200:
                break
            assert status == 503
            assert time.monotonic() - started < 10, "the slow reader kept its thread"
            time.sleep(0.2)
        received = 0
        try:
            while chunk := reader.recv(1 << 16):
                received += len(chunk)
        except ConnectionResetError:
            pass
        reader.close()
        assert received < 12 * side * side  # the answer was cut off, not delivered
    assert server.exit_code == 0, server.output()


def spin_rpc(stub, rounds: int) -> predict_pb2.PredictResponse:
    request = predict_pb2.PredictRequest()
    request.model_spec.name = "gan"
    request.model_spec.signature_name = "spin"
    request.inputs["rounds"].CopyFrom(tf.make_tensor_proto(np.array([rounds])))
    return stub.Predict(request, timeout=60)


def test_grpc_calls_beyond_the_cap_are_refused(base):
    with serve_process(base, "--max-connections", "1", model_name="gan") as server:
        channel = grpc.insecure_channel(server.grpc_target)
        stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
        spin_rpc(stub, 1)
        busy = threading.Thread(target=spin_rpc, args=(stub, 500_000))  # a second or more
        busy.start()
        time.sleep(0.3)
        with pytest.raises(grpc.RpcError) as error:
            spin_rpc(stub, 1)
        assert error.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        busy.join()
        assert tf.make_ndarray(spin_rpc(stub, 5).outputs["rounds"]).tolist() == [5]
        channel.close()
    assert server.exit_code == 0, server.output()


def test_sigterm_lets_requests_in_flight_finish_and_exits_cleanly(base):
    with serve_process(base, "--shutdown-grace", "10", model_name="gan") as server:
        url = server.rest_url
        channel = grpc.insecure_channel(server.grpc_target)
        stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)

        # Calibrate: rounds that keep the server busy for about 2 s on this machine.
        started = time.monotonic()
        spin_rpc(stub, 200_000)
        rounds = int(200_000 * 2.0 / max(time.monotonic() - started, 1e-3))

        answers: dict[str, tuple] = {}

        def grpc_call() -> None:
            try:
                response = spin_rpc(stub, rounds)
            except grpc.RpcError as e:
                answers["grpc"] = (time.monotonic(), e.code())
                return
            answers["grpc"] = (time.monotonic(), tf.make_ndarray(response.outputs["rounds"]))

        rest_raw = spin_request(3)
        split = rest_raw.index(b"\r\n\r\n") + 8
        in_flight = connect(url)
        in_flight.sendall(rest_raw[:split])  # a request half sent
        idle = connect(url)  # a kept-alive connection between requests
        idle.sendall(spin_request(1))
        assert read_response(idle)[0] == 200
        caller = threading.Thread(target=grpc_call)
        caller.start()
        time.sleep(0.3)  # the gRPC call is computing
        sigterm = time.monotonic()
        server.process.send_signal(signal.SIGTERM)
        assert read_response(idle)[0] is None  # the idle connection is closed at once
        with pytest.raises(ConnectionRefusedError):  # and new ones are refused
            connect(url, timeout=5)
        in_flight.sendall(rest_raw[split:])  # the rest arrives after SIGTERM
        status, headers, body = read_response(in_flight)
        assert status == 200 and json.loads(body) == {"outputs": [3]}
        assert headers["Connection"] == "close"
        caller.join(timeout=60)
        done, value = answers["grpc"]
        assert done > sigterm and isinstance(value, np.ndarray), value
        assert value.tolist() == [rounds]
        code = server.process.wait(timeout=15)
        assert code == 0 and time.monotonic() - sigterm < 10, server.output()
        in_flight.close()
        idle.close()
        channel.close()


def test_sigterm_cuts_off_what_outlasts_the_grace_and_still_exits_cleanly(base):
    with serve_process(base, "--shutdown-grace", "1", model_name="gan") as server:
        stuck = connect(server.rest_url)
        stuck.sendall(spin_request(1)[:-2])  # never completes
        time.sleep(0.2)
        sigterm = time.monotonic()
        server.process.send_signal(signal.SIGTERM)
        code = server.process.wait(timeout=15)
        assert code == 0 and time.monotonic() - sigterm < 6, server.output()
        stuck.close()
