"""A semi-supervised model's `classify` signature served by `gan-tf serve` over REST and gRPC,
beside its generator's, to the client and to `gan-tf query --classify`."""

from __future__ import annotations

import os

import numpy as np
import pytest
import tensorflow as tf
from conftest import export_untrained, png_files

from gan_tf import cli, presets
from gan_tf.serving.client import ServingClient
from gan_tf.serving.errors import InvalidArgument, ServingError

pytestmark = pytest.mark.slow

IMAGES = np.random.default_rng(0).integers(0, 256, [5, 28, 28, 1], dtype=np.uint8)


@pytest.fixture(scope="module")
def base_path(tmp_path_factory) -> str:
    """Version 1: the export of a freshly initialised small model (the contract does not
    depend on training)."""
    config = presets.ssgan_mnist().override(
        ["model.generator.units=16,16", "model.discriminator.units=16,8"]
    )
    return export_untrained(config, str(tmp_path_factory.mktemp("models") / "ssgan"))


@pytest.fixture(scope="module")
def server(base_path, start_server):
    with start_server(base_path, "--max-batch-size", "8", model_name="ssgan") as running:
        yield running


@pytest.fixture(scope="module")
def signature_out(base_path) -> dict[str, np.ndarray]:
    loaded = tf.saved_model.load(os.path.join(base_path, "1"))
    out = loaded.signatures["classify"](images=tf.constant(IMAGES))
    return {key: value.numpy() for key, value in out.items()}


def urls(server) -> list[str]:
    return [server.rest_url, f"grpc://{server.grpc_target}"]


def test_rest_and_grpc_serve_the_classes_beside_the_generator(server, signature_out):
    want = signature_out["probabilities"]
    # Classes whose two best probabilities are this close may swap under other kernels.
    top2 = np.sort(want, axis=1)[:, -2:]
    clear = top2[:, 1] - top2[:, 0] > 1e-4
    for url in urls(server):
        with ServingClient(url, "ssgan", timeout=30) as client:
            assert {"classify", "generate"} <= set(client.signatures())
            got = client.classify(IMAGES)
            assert got["labels"].dtype == np.int64 and got["labels"].shape == (5,)
            assert got["probabilities"].shape == (5, 10)
            np.testing.assert_allclose(got["probabilities"].sum(axis=1), 1.0, rtol=1e-5)
            np.testing.assert_array_equal(got["labels"], got["probabilities"].argmax(axis=1))
            # The server's kernels (oneDNN) round differently from this process's.
            np.testing.assert_allclose(got["probabilities"], want, rtol=1e-4, atol=1e-6)
            np.testing.assert_array_equal(got["labels"][clear], signature_out["labels"][clear])
            assert client.generate([0, 1]).shape == (2, 28, 28, 1)
            with pytest.raises(ServingError, match=r"shape \[\?, 28, 28, 1\]") as refused:
                client.classify(np.zeros([1, 28, 28, 3], np.uint8))
            assert refused.value.code == "INVALID_ARGUMENT"
            with pytest.raises(InvalidArgument, match=r"integers in \[0, 255\]"):
                client.classify(np.full([1, 28, 28, 1], -1))


def test_query_classify_prints_the_classes(server, tmp_path, capsys):
    files = png_files(IMAGES, tmp_path)
    for url in urls(server):
        argv = ["query", "--url", url, "--model-name", "ssgan", "--classify", *files]
        assert cli.main(argv) == 0
        lines = [line.split("\t") for line in capsys.readouterr().out.strip().splitlines()]
        assert [line[2] for line in lines] == files
        with ServingClient(url, "ssgan", timeout=30) as client:
            served = client.classify(IMAGES)
        assert [int(line[0]) for line in lines] == served["labels"].tolist()
        best = served["probabilities"][np.arange(5), served["labels"]]
        np.testing.assert_allclose([float(line[1]) for line in lines], best, atol=1e-6)
    argv = ["query", "--url", server.rest_url, "--model-name", "ssgan"]
    assert cli.main([*argv, "--classify", str(tmp_path / "missing.png")]) == 2
    assert "missing.png" in capsys.readouterr().err
