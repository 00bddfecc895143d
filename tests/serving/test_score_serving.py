"""An anomaly detector's `score` signature: exported, loaded back, and served by `gan-tf serve`
over REST and gRPC, to the client and to `gan-tf query --score`."""

from __future__ import annotations

import dataclasses
import json
import os
import re
import urllib.request

import grpc
import numpy as np
import pytest
import tensorflow as tf
from conftest import png_files
from tensorflow.core.framework import types_pb2
from tensorflow_serving.apis import predict_pb2, prediction_service_pb2_grpc

from gan_tf import cli, export, families
from gan_tf import workdir as workdir_lib
from gan_tf.data import pipeline
from gan_tf.serving.client import ServingClient
from gan_tf.serving.errors import InvalidArgument, ServingError

# The module trains the shared tiny detector when it runs first (~30-110 s on 2 busy cores).
pytestmark = pytest.mark.slow

MAX_BATCH = 8


@pytest.fixture(scope="module")
def detector(anomaly_workdir):
    config = workdir_lib.load_config(anomaly_workdir)
    return families.for_config(config).load(anomaly_workdir)[0]


@pytest.fixture(scope="module")
def images(anomaly_workdir) -> np.ndarray:
    """Six test images (digits of every kind), a blank one and a random one."""
    data = workdir_lib.load_config(anomaly_workdir).data
    data = dataclasses.replace(data, normal_classes="", limit=6)
    (real,) = pipeline.image_batches(data, "test", batch_size=6)
    noise = np.random.default_rng(0).integers(0, 256, [1, 28, 28, 1], dtype=np.uint8)
    return np.concatenate([real.numpy(), np.zeros([1, 28, 28, 1], np.uint8), noise])


@pytest.fixture(scope="module")
def base_path(anomaly_workdir, tmp_path_factory) -> str:
    """`gan-tf export` of the detector into version 1 of a model base path."""
    base = str(tmp_path_factory.mktemp("models") / "anomaly")
    assert cli.main(["export", "--workdir", anomaly_workdir, "--out", f"{base}/1"]) == 0
    return base


@pytest.fixture(scope="module")
def signature_out(base_path, images) -> dict[str, np.ndarray]:
    """The `score` signature loaded back in this process."""
    loaded = tf.saved_model.load(os.path.join(base_path, "1"))
    out = loaded.signatures["score"](images=tf.constant(images))
    return {key: value.numpy() for key, value in out.items()}


def test_exported_score_signature_equals_the_detector(base_path, detector, images, signature_out):
    meta = export.read_metadata(os.path.join(base_path, "1"))
    assert meta["signatures"] == list(export.DETECTOR_SIGNATURES)
    want = detector.score(images)
    np.testing.assert_allclose(signature_out["scores"], want["scores"], rtol=1e-5, atol=1e-6)
    got, ref = signature_out["reconstructions"].astype(int), want["reconstructions"].astype(int)
    assert np.abs(got - ref).max() <= 1
    # An image's score is its own: alone as in the batch; an empty batch has empty outputs.
    loaded = tf.saved_model.load(os.path.join(base_path, "1"))
    alone = loaded.signatures["score"](images=tf.constant(images[-2:-1]))
    np.testing.assert_allclose(alone["scores"].numpy(), signature_out["scores"][-2:-1], rtol=1e-6)
    empty = loaded.signatures["score"](images=tf.zeros([0, 28, 28, 1], tf.uint8))
    assert empty["scores"].shape == (0,) and empty["reconstructions"].shape == (0, 28, 28, 1)


@pytest.fixture(scope="module")
def server(base_path, start_server):
    """`gan-tf serve` with oneDNN's kernels, as the CLI runs by default (this session's
    TensorFlow runs without them): under them the networks fail on an empty batch."""
    args = ("--max-batch-size", str(MAX_BATCH))
    with pytest.MonkeyPatch.context() as env:
        env.setenv("TF_ENABLE_ONEDNN_OPTS", "1")
        with start_server(base_path, *args, model_name="anomaly") as running:
            env.undo()  # the server has its copy; TensorFlow here must not switch kernels
            yield running


def urls(server) -> list[str]:
    return [server.rest_url, f"grpc://{server.grpc_target}"]


def test_rest_and_grpc_serve_the_signatures_scores(server, images, signature_out):
    got = []
    for url in urls(server):
        with ServingClient(url, "anomaly", timeout=30) as client:
            assert "score" in client.signatures()
            got.append(client.score(images))
            # The server splits nothing: the cap refuses larger batches.
            assert client.score(images[:1])["scores"].shape == (1,)
    rest, grpc_out = got
    np.testing.assert_array_equal(rest["scores"], grpc_out["scores"])
    np.testing.assert_array_equal(rest["reconstructions"], grpc_out["reconstructions"])
    # The server's kernels (oneDNN) round differently from this process's.
    np.testing.assert_allclose(rest["scores"], signature_out["scores"], rtol=1e-5, atol=1e-6)
    diff = rest["reconstructions"].astype(int) - signature_out["reconstructions"].astype(int)
    assert np.abs(diff).max() <= 1


def post(server, body: dict) -> tuple[int, dict]:
    request = urllib.request.Request(
        server.rest_url + "/v1/models/anomaly:predict",
        data=json.dumps(body).encode(),
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


def grpc_predict(server, proto) -> grpc.RpcError | predict_pb2.PredictResponse:
    """A raw gRPC `score` call with `proto` as its images: the response or the error."""
    request = predict_pb2.PredictRequest()
    request.model_spec.name = "anomaly"
    request.model_spec.signature_name = "score"
    request.inputs["images"].CopyFrom(proto)
    with grpc.insecure_channel(server.grpc_target) as channel:
        stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
        try:
            return stub.Predict(request, timeout=30)
        except grpc.RpcError as e:
            return e


def grpc_refusal(server, proto) -> str:
    """The message of the INVALID_ARGUMENT a raw gRPC `score` call must get."""
    answer = grpc_predict(server, proto)
    assert isinstance(answer, grpc.RpcError), "the server accepted the request"
    assert answer.code() == grpc.StatusCode.INVALID_ARGUMENT, answer.details()
    return answer.details()


BAD_IMAGES = {  # name -> (array, message fragment)
    "wrong shape": (np.zeros([2, 27, 28, 1], np.uint8), "expects shape [?, 28, 28, 1]"),
    "rgb": (np.zeros([2, 28, 28, 3], np.uint8), "expects shape [?, 28, 28, 1]"),
    "too many": (np.zeros([MAX_BATCH + 1, 28, 28, 1], np.uint8), "maximum batch size 8"),
}


def test_bad_images_are_refused_and_the_server_lives_on(server, images, signature_out):
    for url in urls(server):
        with ServingClient(url, "anomaly", timeout=30) as client:
            for name, (array, fragment) in BAD_IMAGES.items():
                with pytest.raises(ServingError, match=re.escape(fragment)) as error:
                    client.score(array)
                assert error.value.code == "INVALID_ARGUMENT", name
                assert error.value.http_status == 400, name
            with pytest.raises(InvalidArgument, match=r"integers in \[0, 255\]"):
                client.score(np.full([1, 28, 28, 1], 256))  # refused before sending
    # Values the client would not send, over each protocol.
    for values, fragment in (
        ([[[[256]] * 28] * 28], "value out of range for uint8"),
        ([[[[-1]] * 28] * 28], "value out of range for uint8"),
        ([[[[0.5]] * 28] * 28], "expects uint8 values, got float values"),
        ([], "expects shape [?, 28, 28, 1], got [0]"),
    ):
        status, body = post(server, {"signature_name": "score", "inputs": {"images": values}})
        assert status == 400 and fragment in body["error"], body
    status, body = post(server, {"signature_name": "score", "instances": []})
    assert status == 400 and "non-empty" in body["error"]

    proto = tf.make_tensor_proto(np.zeros([1, 28, 28, 1], np.uint8))
    proto.ClearField("tensor_content")
    proto.int_val.extend([0] * 783 + [300])  # 300 would wrap to 44
    assert "value out of range for uint8" in grpc_refusal(server, proto)
    floats = tf.make_tensor_proto(np.zeros([1, 28, 28, 1], np.float32))
    assert "expects uint8 but float32" in grpc_refusal(server, floats)
    floats.dtype = types_pb2.DT_UINT8  # float32 bytes declared as uint8: 4x too many
    assert "not a valid tensor" in grpc_refusal(server, floats)
    # An empty batch is a batch: empty outputs (as the signature gives them).
    empty = grpc_predict(server, tf.make_tensor_proto(np.zeros([0, 28, 28, 1], np.uint8)))
    assert not isinstance(empty, grpc.RpcError), empty.details()
    assert tf.make_ndarray(empty.outputs["scores"]).shape == (0,)

    with ServingClient(server.rest_url, "anomaly", timeout=30) as client:
        assert client.status() == [{"version": 1, "state": "AVAILABLE", "error": ""}]
        np.testing.assert_allclose(client.score(images)["scores"], signature_out["scores"], 1e-5)


def test_query_score_prints_the_scores(server, images, signature_out, tmp_path, capsys):
    files = png_files(images, tmp_path)
    for url in urls(server):
        recon = str(tmp_path / "recon")
        argv = ["query", "--url", url, "--model-name", "anomaly", "--score", *files]
        assert cli.main([*argv, "--reconstructions", recon]) == 0
        lines = capsys.readouterr().out.strip().splitlines()
        assert [line.split("\t")[1] for line in lines] == files
        printed = np.array([float(line.split("\t")[0]) for line in lines])
        with ServingClient(url, "anomaly", timeout=30) as client:
            served = client.score(images)
        np.testing.assert_allclose(printed, served["scores"], rtol=1e-6)
        png = tf.io.decode_png(tf.io.read_file(os.path.join(recon, "image3.png"))).numpy()
        np.testing.assert_array_equal(png, served["reconstructions"][3])
    argv = ["query", "--url", server.rest_url, "--model-name", "anomaly"]
    assert cli.main([*argv, "--score", *files, files[0]]) == 2
    assert "maximum batch size 8" in capsys.readouterr().err
