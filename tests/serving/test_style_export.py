"""A style-based generator's export: truncation in W, `mix`, and serving them."""

from __future__ import annotations

import os

import numpy as np
import pytest
import tensorflow as tf
from conftest import run_server

from gan_tf import export, families, presets, sampling, style_export
from gan_tf.serving.client import ServingClient

SEEDS = np.array([7, 0, 123456789, 2**40], np.int64)


@pytest.fixture(scope="module")
def generator():
    """The EMA generator of a tiny stylegan run after one step (so w_avg is not 0)."""
    config = presets.stylegan_smoke()
    model = families.for_config(config).build()
    x = tf.random.stateless_uniform([8, 28, 28, 1], seed=[1, 2], minval=-1, maxval=1)
    model.fit(tf.data.Dataset.from_tensors(x).repeat(), steps_per_epoch=1, verbose=0)
    g = model.output_generator()
    g.w_avg.assign(g.w_avg * 50.0)  # far from 0, so that truncation visibly matters
    return g


@pytest.fixture(scope="module")
def base_path(tmp_path_factory, generator) -> str:
    base = str(tmp_path_factory.mktemp("models") / "style")
    style_export.export_style_generator(generator, os.path.join(base, "1"), {"step": 1})
    return base


@pytest.fixture(scope="module")
def loaded(base_path):
    return tf.saved_model.load(os.path.join(base_path, "1"))


def call(loaded, signature: str, **inputs) -> np.ndarray:
    outputs = loaded.signatures[signature](**{k: tf.constant(v) for k, v in inputs.items()})
    return outputs["images"].numpy()


def in_process(g, seeds, psi=None, seed_b=None, crossover=None) -> np.ndarray:
    """The images the signatures promise, computed with the generator's own methods."""
    c = tf.zeros([len(seeds), 0])
    w = g.styles((sampling.latents_for_seeds(seeds, g.latent_dim), c))
    if seed_b is None:
        ws = g.broadcast(g.truncate(w, psi))
    else:
        w_b = g.styles((sampling.latents_for_seeds(seed_b, g.latent_dim), c))
        ws = g.mix(w, w_b, crossover)
    return export.image_to_uint8(g.synthesize(ws)).numpy()


def assert_images_equal(a: np.ndarray, b: np.ndarray) -> None:
    # The graph and eager runs may round a pixel on a .5 boundary differently.
    assert a.shape == b.shape
    assert np.abs(a.astype(int) - b.astype(int)).max() <= 1
    assert np.mean(a != b) < 0.01


def test_generate_applies_truncation_in_w(loaded, generator):
    psi = np.array([1.0, 0.5, 0.0, 0.7], np.float32)
    out = call(loaded, "generate", seeds=SEEDS, truncation=psi)
    assert_images_equal(out, in_process(generator, SEEDS, psi))
    # psi = 0 is the average-w image, whatever the seed.
    zero = call(loaded, "generate", seeds=SEEDS, truncation=np.zeros(4, np.float32))
    for image in zero[1:]:
        np.testing.assert_array_equal(image, zero[0])
    assert not np.array_equal(out[0], zero[0])
    png = loaded.signatures["generate_png"](seeds=tf.constant(SEEDS), truncation=tf.constant(psi))
    decoded = [tf.io.decode_png(b).numpy() for b in png["images_bytes"].numpy()]
    np.testing.assert_array_equal(np.stack(decoded), out)


def test_mix_equals_the_in_process_mix(loaded, generator):
    seed_b = SEEDS[::-1].copy()
    crossover = np.array([0, 1, 3, generator.num_ws], np.int64)
    out = call(loaded, "mix", seed_a=SEEDS, seed_b=seed_b, crossover=crossover)
    assert_images_equal(out, in_process(generator, SEEDS, seed_b=seed_b, crossover=crossover))
    # Crossover num_ws is seed_a alone, 0 is seed_b alone: as `generate` with psi = 1.
    plain = call(loaded, "generate", seeds=SEEDS, truncation=np.ones(4, np.float32))
    np.testing.assert_array_equal(out[3], plain[3])
    np.testing.assert_array_equal(out[0], plain[::-1][0])


@pytest.mark.parametrize(
    "signature, inputs, message",
    [
        ("mix", {"crossover": np.array([0, 1, 7, 2], np.int64)}, "crossover must be <= num_ws"),
        ("mix", {"crossover": np.array([0, -1, 2, 2], np.int64)}, "crossover must be >= 0"),
        ("mix", {"seed_b": np.array([1, 2], np.int64)}, "seed_b must match"),
        ("generate", {"truncation": np.array([1, -1, 1, 1], np.float32)}, "truncation"),
    ],
)
def test_bad_input_is_a_clear_error(loaded, signature, inputs, message):
    if signature == "mix":
        args = {"seed_a": SEEDS, "seed_b": SEEDS, "crossover": np.ones(4, np.int64)}
    else:
        args = {"seeds": SEEDS, "truncation": np.ones(4, np.float32)}
    with pytest.raises(tf.errors.InvalidArgumentError, match=message):
        call(loaded, signature, **{**args, **inputs})


def test_metadata_and_warmup_requests(base_path, loaded, generator):
    path = os.path.join(base_path, "1")
    meta = export.read_metadata(path)
    assert meta["signatures"] == list(style_export.STYLE_SIGNATURES)
    assert meta["num_ws"] == generator.num_ws and meta["truncation"].startswith("w <- w_avg")
    logs = export.read_warmup_requests(path)
    assert {log.predict_log.request.model_spec.signature_name for log in logs} >= {"mix"}
    for log in logs:  # every warmup request is valid for its signature
        request = log.predict_log.request
        inputs = {k: tf.make_ndarray(v) for k, v in request.inputs.items()}
        loaded.signatures[request.model_spec.signature_name](
            **{k: tf.constant(v) for k, v in inputs.items()}
        )


@pytest.mark.parametrize("scheme", ["rest", "grpc"])
def test_served_mix_and_generate_equal_the_saved_model(base_path, loaded, scheme):
    with run_server(base_path, model_name="style") as server:
        url = server.rest_url if scheme == "rest" else f"grpc://{server.grpc_target}"
        with ServingClient(url, "style", timeout=30) as client:
            crossover = [2, 2, 2, 2]  # Python ints: int64 on the wire as the signature says
            inputs = {"seed_a": SEEDS, "seed_b": SEEDS[::-1].copy(), "crossover": crossover}
            served = client.predict(inputs, "mix")["images"]
            generated = client.generate(SEEDS, truncation=0.5)
    expected_mix = call(loaded, "mix", **{k: np.asarray(v, np.int64) for k, v in inputs.items()})
    np.testing.assert_array_equal(served, expected_mix)
    psi = np.full(4, 0.5, np.float32)
    np.testing.assert_array_equal(generated, call(loaded, "generate", seeds=SEEDS, truncation=psi))
