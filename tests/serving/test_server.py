"""`gan-tf serve` as a real process, queried over REST and gRPC through the client."""

from __future__ import annotations

import base64
import json
import os
import socket
import time
import urllib.request

import grpc
import numpy as np
import pytest
import tensorflow as tf
from tensorflow_serving.apis import predict_pb2, prediction_service_pb2_grpc

from gan_tf.serving.client import ServingClient
from gan_tf.serving.errors import ServingError

SEEDS = [5, 1, 99, 2**33]


@pytest.fixture(scope="module")
def expected(base_path) -> np.ndarray:
    """Images of SEEDS from the in-process signature (the reference)."""
    loaded = tf.saved_model.load(os.path.join(base_path, "1"))
    out = loaded.signatures["generate"](
        seeds=tf.constant(SEEDS, tf.int64), truncation=tf.ones([len(SEEDS)])
    )
    return out["images"].numpy()


@pytest.fixture(params=["rest", "grpc"])
def client(request, server):
    url = server.rest_url if request.param == "rest" else f"grpc://{server.grpc_target}"
    with ServingClient(url, "gan", timeout=20) as c:
        yield c


def http(server, method: str, path: str, body: bytes | None = None) -> tuple[int, dict]:
    """A raw HTTP call; returns (status, JSON body)."""
    request = urllib.request.Request(server.rest_url + path, data=body, method=method)
    try:
        with urllib.request.urlopen(request, timeout=20) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


def test_status_and_metadata(client):
    assert client.status() == [{"version": 1, "state": "AVAILABLE", "error": ""}]
    meta = client.metadata()
    assert meta["latent_dim"] == 16 and meta["image_shape"] == [28, 28, 1]
    assert not meta["conditional"]
    assert set(meta["signatures"]) == {"serving_default", "generate", "generate_png"}
    assert meta["signatures"]["generate_png"]["outputs"] == {"images_bytes": ("DT_STRING", [-1])}


def test_generate_matches_in_process_signature(client, expected):
    np.testing.assert_array_equal(client.generate(SEEDS), expected)
    pngs = client.generate(SEEDS, as_png=True)
    decoded = np.stack([tf.io.decode_png(p).numpy() for p in pngs])
    np.testing.assert_array_equal(decoded, expected)
    for i, seed in enumerate(SEEDS):  # alone = in a batch
        np.testing.assert_array_equal(client.generate([seed])[0], expected[i])
    z = client.generate([SEEDS[0]], truncation=0.0)
    np.testing.assert_array_equal(z, client.generate([SEEDS[1]], truncation=0.0))


def test_predict_serving_default(client, expected):
    from gan_tf import sampling

    z = sampling.latents_for_seeds(SEEDS, 16).numpy()
    out = client.predict({"z": z})
    np.testing.assert_array_equal(out["images"].astype(np.uint8), expected)


def test_rest_row_and_columnar_formats(server, expected):
    rows = {
        "signature_name": "generate_png",
        "instances": [{"seeds": s, "truncation": 1.0} for s in SEEDS[:2]],
    }
    status, body = http(
        server, "POST", "/v1/models/gan/versions/1:predict", json.dumps(rows).encode()
    )
    assert status == 200
    decoded = [tf.io.decode_png(base64.b64decode(p["b64"])).numpy() for p in body["predictions"]]
    np.testing.assert_array_equal(np.stack(decoded), expected[:2])
    columns = {"signature_name": "generate", "inputs": {"seeds": SEEDS, "truncation": [1] * 4}}
    status, body = http(server, "POST", "/v1/models/gan:predict", json.dumps(columns).encode())
    assert status == 200
    np.testing.assert_array_equal(np.array(body["outputs"], np.uint8), expected)
    rows = {"signature_name": "generate", "instances": [{"seeds": SEEDS[2], "truncation": 1}]}
    status, body = http(server, "POST", "/v1/models/gan:predict", json.dumps(rows).encode())
    np.testing.assert_array_equal(np.array(body["predictions"], np.uint8)[0], expected[2])
    status, body = http(server, "GET", "/v1/models/gan/versions/1/metadata")
    assert status == 200 and body["model_spec"]["version"] == "1"
    assert "generate" in body["metadata"]["signature_def"]["signature_def"]


BAD_REQUESTS = [
    # (method, path, body, status, message fragment)
    ("POST", "/v1/models/gan:predict", b"{not json", 400, "JSON Parse error"),
    ("POST", "/v1/models/gan:predict", b"[1, 2]", 400, "JSON object"),
    ("POST", "/v1/models/gan:predict", b'{"signature_name": "generate"}', 400, "Missing 'inputs'"),
    (
        "POST",
        "/v1/models/gan:predict",
        b'{"signature_name": "generate", "inputs": {"seeds": [1.5], "truncation": [1]}}',
        400,
        "expects int64",
    ),
    (
        "POST",
        "/v1/models/gan:predict",
        b'{"signature_name": "generate", "inputs": {"seeds": ["a"], "truncation": [1]}}',
        400,
        "expects int64",
    ),
    (
        "POST",
        "/v1/models/gan:predict",
        b'{"signature_name": "generate", "inputs": {"seeds": [[1]], "truncation": [1]}}',
        400,
        "expects shape [?]",
    ),
    (
        "POST",
        "/v1/models/gan:predict",
        b'{"inputs": {"z": [[0.0, 1.0]]}}',
        400,
        "expects shape [?, 16]",
    ),
    (
        "POST",
        "/v1/models/gan:predict",
        b'{"inputs": {"z": [[' + b", ".join([b"0.0"] * 16) + b"], [1.0, 2.0]]}}",
        400,
        "rectangular",
    ),
    (
        "POST",
        "/v1/models/gan:predict",
        b'{"signature_name": "generate", "inputs": {"seeds": [1]}}',
        400,
        "missing ['truncation']",
    ),
    (
        "POST",
        "/v1/models/gan:predict",
        b'{"signature_name": "generate", "inputs": {"seeds": [1, 2], "truncation": [1]}}',
        400,
        "different batch sizes",
    ),
    (
        "POST",
        "/v1/models/gan:predict",
        b'{"signature_name": "generate", "inputs": {"seeds": [1], "truncation": [-1]}}',
        400,
        "truncation",
    ),
    ("POST", "/v1/models/gan:predict", b'{"signature_name": "nope", "inputs": {}}', 400, "nope"),
    ("POST", "/v1/models/other:predict", b'{"inputs": {}}', 404, "Servable not found"),
    ("POST", "/v1/models/gan/versions/9:predict", b'{"inputs": {}}', 404, "Specific(gan, 9)"),
    ("GET", "/v1/models/other", None, 404, "other"),
    ("GET", "/v1/models/gan/versions/9", None, 404, "version 9"),
    ("GET", "/v1/models/gan/versions/x/metadata", None, 400, "numeric"),
    ("GET", "/v2/whatever", None, 404, "Malformed request"),
]


@pytest.mark.parametrize("method,path,body,status,fragment", BAD_REQUESTS)
def test_rest_errors_are_4xx_and_the_server_keeps_serving(
    server, expected, method, path, body, status, fragment
):
    got, response = http(server, method, path, body)
    assert got == status, response
    assert set(response) == {"error"} and fragment in response["error"]
    with ServingClient(server.rest_url, timeout=20) as client:
        np.testing.assert_array_equal(client.generate(SEEDS[:1]), expected[:1])


def test_batch_and_size_caps(client, server, expected):
    with pytest.raises(ServingError, match="maximum batch size 8") as error:
        client.generate(list(range(9)))
    assert error.value.code == "INVALID_ARGUMENT" and error.value.http_status == 400
    assert client.generate(list(range(8))).shape == (8, 28, 28, 1)
    big = np.zeros([8, 3000], np.float32)  # > 64 KiB however it is encoded
    with pytest.raises(ServingError) as error:
        client.predict({"z": big})
    if client.protocol == "rest":
        assert error.value.http_status == 413 and "exceeds the limit" in str(error.value)
    else:
        assert error.value.code == "RESOURCE_EXHAUSTED"
    np.testing.assert_array_equal(client.generate(SEEDS), expected)


def test_client_errors(client):
    url = client.url if client.protocol == "rest" else f"grpc://{client.url}"
    with ServingClient(url, "other", timeout=20) as other:
        with pytest.raises(ServingError, match="Servable not found") as error:
            other.generate([1])
        assert error.value.code == "NOT_FOUND"
    with pytest.raises(ServingError, match=r"unexpected \['labels'\]"):
        client.generate([1], labels=[0])  # an unconditional model has no labels input
    with pytest.raises(ServingError, match="integers"):
        client.generate([1.5])


def test_plain_python_values_take_the_signature_dtype(server, expected):
    """A list of Python ints (which TensorFlow alone would send as int32) reaches the int64
    `seeds` over gRPC as over REST, and values REST refuses are refused alike."""
    inputs = {"seeds": SEEDS[:3], "truncation": [1, 1, 1]}  # ints for float32 too
    assert all(type(seed) is int for seed in inputs["seeds"])
    with (
        ServingClient(f"grpc://{server.grpc_target}", timeout=20) as over_grpc,
        ServingClient(server.rest_url, timeout=20) as over_rest,
    ):
        images = over_grpc.predict(inputs, "generate")["images"]
        np.testing.assert_array_equal(images, over_rest.predict(inputs, "generate")["images"])
        np.testing.assert_array_equal(images, expected[:3])
        for client in (over_grpc, over_rest):
            with pytest.raises(ServingError, match="'seeds' expects int64 values, got float"):
                client.predict({"seeds": [1.5], "truncation": [1.0]}, "generate")
            with pytest.raises(ServingError, match="'seeds': value out of range for int64"):
                client.predict({"seeds": [2**64], "truncation": [1.0]}, "generate")


def test_grpc_wrong_dtype_and_unknown_version(server):
    channel = grpc.insecure_channel(server.grpc_target)
    stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
    request = predict_pb2.PredictRequest()
    request.model_spec.name = "gan"
    request.model_spec.signature_name = "generate"
    request.inputs["seeds"].CopyFrom(tf.make_tensor_proto(np.array([1.0], np.float32)))
    request.inputs["truncation"].CopyFrom(tf.make_tensor_proto(np.ones([1], np.float32)))
    with pytest.raises(grpc.RpcError) as error:
        stub.Predict(request, timeout=20)
    assert error.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "expects int64" in error.value.details()
    request.inputs["seeds"].CopyFrom(tf.make_tensor_proto(np.array([1], np.int64)))
    request.model_spec.version.value = 4
    with pytest.raises(grpc.RpcError) as error:
        stub.Predict(request, timeout=20)
    assert error.value.code() == grpc.StatusCode.NOT_FOUND
    request.model_spec.ClearField("version")
    response = stub.Predict(request, timeout=20)
    assert response.model_spec.version.value == 1
    assert tf.make_ndarray(response.outputs["images"]).shape == (1, 28, 28, 1)
    channel.close()


def test_timeout_against_a_server_that_never_answers():
    with socket.socket() as silent:  # accepts connections (backlog), never replies
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        port = silent.getsockname()[1]
        for url in (f"http://127.0.0.1:{port}", f"grpc://127.0.0.1:{port}"):
            started = time.monotonic()
            with ServingClient(url, timeout=1.0) as client:
                with pytest.raises(ServingError) as error:
                    client.generate([1])
            assert error.value.code == "DEADLINE_EXCEEDED", error.value
            assert time.monotonic() - started < 10


def test_unreachable_server():
    with pytest.raises(ServingError, match="cannot reach") as error:
        ServingClient("http://127.0.0.1:9", timeout=5).status()
    assert error.value.code == "UNAVAILABLE"
    with ServingClient("grpc://127.0.0.1:9", timeout=2) as client:
        with pytest.raises(ServingError) as error:
            client.status()
        assert error.value.code in ("UNAVAILABLE", "DEADLINE_EXCEEDED")


def test_conditional_model(cond_base_path, start_server):
    loaded = tf.saved_model.load(os.path.join(cond_base_path, "1"))
    labels = [2, 0, 1]
    want = loaded.signatures["generate"](
        seeds=tf.constant(SEEDS[:3], tf.int64),
        truncation=tf.ones([3]),
        labels=tf.constant(labels, tf.int64),
    )["images"].numpy()
    with start_server(cond_base_path, model_name="cgan") as server:
        for url in (server.rest_url, f"grpc://{server.grpc_target}"):
            with ServingClient(url, "cgan", timeout=20) as client:
                assert client.metadata()["conditional"]
                np.testing.assert_array_equal(client.generate(SEEDS[:3], labels=labels), want)
                with pytest.raises(ServingError, match=r"labels must be < num_classes \(3\)") as e:
                    client.generate([1], labels=[3])
                assert e.value.code == "INVALID_ARGUMENT"
                with pytest.raises(ServingError, match="labels"):
                    client.generate([1])  # labels missing
                np.testing.assert_array_equal(client.generate(SEEDS[:1], labels=[2]), want[:1])
