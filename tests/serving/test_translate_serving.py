"""A CycleGAN's `translate` / `translate_back` signatures served by `gan-tf serve` over REST
and gRPC, to the client."""

from __future__ import annotations

import os

import numpy as np
import pytest
import tensorflow as tf
from conftest import export_untrained

from gan_tf import presets
from gan_tf.serving.client import ServingClient
from gan_tf.serving.errors import InvalidArgument, ServingError

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def base_path(tmp_path_factory) -> str:
    """Version 1: the export of freshly initialised small translators (the contract does
    not depend on training)."""
    config = presets.cyclegan_digits().override(
        ["model.generator.width=4", "model.generator.blocks=1", "model.discriminator.width=4"]
    )
    return export_untrained(config, str(tmp_path_factory.mktemp("models") / "cyclegan"))


@pytest.fixture(scope="module")
def server(base_path, start_server):
    with start_server(base_path, "--max-batch-size", "8", model_name="cyclegan") as running:
        yield running


def test_rest_and_grpc_serve_the_translations(base_path, server):
    images = np.random.default_rng(0).integers(0, 256, [3, 28, 28, 1], dtype=np.uint8)
    loaded = tf.saved_model.load(os.path.join(base_path, "1"))
    for url in (server.rest_url, f"grpc://{server.grpc_target}"):
        with ServingClient(url, "cyclegan", timeout=30) as client:
            assert {"translate", "translate_back"} <= set(client.signatures())
            for back, name in ((False, "translate"), (True, "translate_back")):
                want = loaded.signatures[name](images=tf.constant(images))["images"].numpy()
                got = client.translate(images, back=back)
                assert got.dtype == np.uint8 and got.shape == want.shape
                # The server may run other kernels (oneDNN) than this process.
                assert np.abs(got.astype(int) - want.astype(int)).max() <= 1
            with pytest.raises(ServingError, match=r"shape \[\?, 28, 28, 1\]") as refused:
                client.translate(np.zeros([1, 28, 28, 3], np.uint8))
            assert refused.value.code == "INVALID_ARGUMENT"
            with pytest.raises(InvalidArgument, match=r"integers in \[0, 255\]"):
                client.translate(np.full([1, 28, 28, 1], 300))
