"""Fixtures for the serving tests: tiny exported generators and real `gan-tf serve` processes.

Every server runs as a child process bound to 127.0.0.1 on ports the OS picks (port 0);
it prints them on its ready line. Each fixture stops its server with SIGTERM and fails if it
does not exit cleanly (status 0) within 15 s.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator

import keras
import pytest

from gan_tf import export, networks, presets
from gan_tf.config import DataConfig
from gan_tf.serving.process import ServeProcess, serve_process


def export_untrained(config, base: str) -> str:
    """Exports the freshly initialised model of `config`'s family as version 1 under `base`
    (a serving contract does not depend on training); returns `base`."""
    from gan_tf import families

    family = families.for_config(config)
    family.export(family.inference(family.build()), f"{base}/1", export.run_metadata(config, 0))
    return base


def png_files(images, directory) -> list[str]:
    """Writes each uint8 `[H, W, C]` image as `directory/image<i>.png`; returns the paths."""
    import tensorflow as tf

    paths = []
    for i, image in enumerate(images):
        paths.append(os.path.join(str(directory), f"image{i}.png"))
        tf.io.write_file(paths[-1], tf.io.encode_png(image))
    return paths


def make_generator(num_classes: int = 0, seed: int = 0):
    """The `smoke` preset's DCGAN generator (16-d latent, 28x28x1), built, untrained."""
    config = presets.smoke()
    config = config.replace(data=DataConfig(num_classes=num_classes))
    keras.utils.set_random_seed(seed)
    generator, _ = networks.build(config)
    generator(generator.dummy_inputs())
    return generator


@pytest.fixture(scope="session")
def generator():
    return make_generator()


@pytest.fixture(scope="session")
def cond_generator():
    return make_generator(num_classes=3)


@pytest.fixture(scope="session")
def base_path(tmp_path_factory, generator) -> str:
    """A model base path holding version 1 of the unconditional generator."""
    base = str(tmp_path_factory.mktemp("models") / "gan")
    export.export_generator(generator, os.path.join(base, "1"), {"step": 1, "gate": {"kid": 0.1}})
    return base


@pytest.fixture(scope="session")
def cond_base_path(tmp_path_factory, cond_generator) -> str:
    base = str(tmp_path_factory.mktemp("models") / "cgan")
    export.export_generator(cond_generator, os.path.join(base, "1"), {"step": 2})
    return base


@contextlib.contextmanager
def run_server(base_path: str, *args: str, model_name: str = "gan") -> Iterator[ServeProcess]:
    """Starts `gan-tf serve` on free localhost ports; on exit stops it with SIGTERM and
    checks that it exited cleanly (status 0, not killed after the 15 s grace)."""
    with serve_process(base_path, *args, model_name=model_name) as server:
        yield server
    assert (
        server.exit_code == 0
    ), f"gan-tf serve exited with {server.exit_code} on SIGTERM:\n{server.output()}"


@pytest.fixture(scope="module")
def server(base_path) -> Iterator[ServeProcess]:
    """`gan-tf serve` on the unconditional model, with small caps to test them."""
    with run_server(base_path, "--max-batch-size", "8", "--max-request-bytes", "65536") as running:
        yield running


@pytest.fixture
def new_generator():
    """`make_generator` as a fixture."""
    return make_generator


@pytest.fixture(scope="session")
def start_server():
    """`run_server` as a fixture, for tests that need a server of their own."""
    return run_server
