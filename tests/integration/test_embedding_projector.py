"""The embedding projector of tiny trained runs, read back from its files and from a real
TensorBoard process, and rewritten by `gan-tf embed`."""

from __future__ import annotations

import os
import shutil
import time
import urllib.parse

import numpy as np
import pytest
import tensorflow as tf
from test_tensorboard import TensorBoard, event_values

from gan_tf import cli, embedding_projector, presets, sampling, train, workdir
from gan_tf.metrics.domain import DomainFeatures
from gan_tf.networks.base import condition

NUM = 60  # not a square: the sprite's last row is part empty
SIZE = 28
LATENT = presets.smoke().model.latent_dim


def trained(runs, name, mnist_data_dir, *sets) -> str:
    path = str(runs / name)
    config = presets.smoke().override(
        [
            f"data.data_dir={mnist_data_dir}",
            "train.steps=4",
            "train.steps_per_epoch=2",
            "export.enabled=false",
            f"train.embed_samples={NUM}",
            *sets,
        ]
    )
    train.train(config, path, verbose=0)
    return path


@pytest.fixture(scope="module")
def runs(tmp_path_factory, mnist_data_dir):
    """`runs/` with a conditional run (`cond`), an unlabelled unconditional one (`plain`) and
    a copy of `cond` (`copy`) for `gan-tf embed` to rewrite while TensorBoard serves it."""
    runs = tmp_path_factory.mktemp("runs")
    trained(runs, "cond", mnist_data_dir, "data.num_classes=10")
    trained(runs, "plain", mnist_data_dir, "train.embed_labels=none")
    shutil.copytree(runs / "cond", runs / "copy")
    return runs


@pytest.fixture(scope="module")
def board(runs, tmp_path_factory):
    server = TensorBoard(str(runs), str(tmp_path_factory.mktemp("tb") / "tensorboard.log"))
    try:
        server.wait_for_run("cond/tensorboard")
        yield server
    finally:
        server.stop()


def logdir(run: str) -> str:
    return os.path.join(run, "tensorboard")


def assets(run: str) -> str:
    return os.path.join(logdir(run), embedding_projector.ASSETS)


def checkpoint_latents(run: str) -> np.ndarray:
    """The embedding tensor of the checkpoint TensorBoard finds in the run's log directory."""
    prefix = tf.train.latest_checkpoint(logdir(run))
    return tf.train.load_checkpoint(prefix).get_tensor(embedding_projector.TENSOR_NAME)


def read_text(path: str) -> str:
    with open(path, encoding="utf-8") as f:
        return f.read()


def sprite_tiles(run: str, num: int) -> np.ndarray:
    png = tf.io.read_file(os.path.join(assets(run), embedding_projector.SPRITE))
    sprite = tf.io.decode_png(png).numpy()
    cols = int(np.ceil(np.sqrt(num)))
    assert sprite.shape == (cols * SIZE, cols * SIZE, 1)  # 60 images: 8 x 8 tiles
    tiles = sprite.reshape(cols, SIZE, cols, SIZE, 1).transpose(0, 2, 1, 3, 4)
    tiles = tiles.reshape(cols * cols, SIZE, SIZE, 1)
    assert not tiles[num:].any()  # the tiles after the last image are black
    return tiles[:num]


def test_latents_are_those_of_the_seeds(runs):
    for run in ("cond", "plain"):
        latents = checkpoint_latents(str(runs / run))
        expected = sampling.latents_for_seeds(np.arange(NUM), LATENT).numpy()
        assert latents.shape == (NUM, LATENT)
        np.testing.assert_array_equal(latents, expected)


def test_points_show_the_generator_at_those_latents_labelled_by_the_classifier(runs):
    run = str(runs / "cond")
    tiles = sprite_tiles(run, NUM)
    # The sprite is the checkpoint's EMA generator at the checkpoint's latents and class i % 10.
    generator, _, _ = workdir.load_generator(run)
    asked = np.arange(NUM) % 10
    x = generator((checkpoint_latents(run), condition(asked, 10)), training=False).numpy()
    expected = np.clip(np.rint((x + 1.0) * 127.5), 0, 255).astype(np.uint8)
    assert np.mean(tiles == expected) > 0.999, np.abs(tiles.astype(int) - expected).max()

    lines = read_text(os.path.join(assets(run), embedding_projector.METADATA)).splitlines()
    assert len(lines) == NUM + 1
    assert lines[0].split("\t") == ["seed", "asked", "class", "confidence"]
    rows = np.array([line.split("\t") for line in lines[1:]])
    np.testing.assert_array_equal(rows[:, 0].astype(int), np.arange(NUM))
    np.testing.assert_array_equal(rows[:, 1].astype(int), asked)
    _, logits = DomainFeatures().features_and_logits(tiles)
    np.testing.assert_array_equal(rows[:, 2].astype(int), np.argmax(logits, axis=1))
    shifted = np.exp(logits - logits.max(axis=1, keepdims=True))
    confidence = (shifted / shifted.sum(axis=1, keepdims=True)).max(axis=1)
    np.testing.assert_allclose(rows[:, 3].astype(float), confidence, atol=6e-5)

    (note,) = event_values(logdir(run))["projector/labels"]
    assert note[0] == 4 and "domain classifier mnist-cnn-v2" in note[1].item().decode()


def test_unlabelled_run_has_only_the_seed_column(runs):
    run = str(runs / "plain")
    # One column: no header, one row per point.
    text = read_text(os.path.join(assets(run), embedding_projector.METADATA))
    assert text == "".join(f"{i}\n" for i in range(NUM))
    (note,) = event_values(logdir(run))["projector/labels"]
    assert "No class column: train.embed_labels=none" in note[1].item().decode()


def projector_info(board: TensorBoard, run: str) -> dict:
    return board.get("/data/plugin/projector/info?" + urllib.parse.urlencode({"run": run}))


def test_tensorboard_serves_the_projector(board, runs):
    deadline = time.monotonic() + 60
    while not board.get("/data/plugins_listing")["projector"]["enabled"]:
        assert time.monotonic() < deadline, "the Projector tab never became active"
        time.sleep(0.5)
    assert {"cond/tensorboard", "plain/tensorboard"} <= set(
        board.get("/data/plugin/projector/runs")
    )
    (embedding,) = projector_info(board, "cond/tensorboard")["embeddings"]
    assert embedding["tensorName"] == embedding_projector.TENSOR_NAME
    assert embedding["tensorShape"] == [NUM, LATENT]
    assert embedding["sprite"]["singleImageDim"] == [SIZE, SIZE]
    query = urllib.parse.urlencode({"run": "cond/tensorboard", "name": embedding["tensorName"]})
    tensor = np.frombuffer(board.get(f"/data/plugin/projector/tensor?{query}"), np.float32)
    np.testing.assert_array_equal(tensor.reshape(NUM, LATENT), checkpoint_latents(runs / "cond"))
    files = assets(str(runs / "cond"))
    metadata = board.get(f"/data/plugin/projector/metadata?{query}").decode()
    assert metadata == read_text(os.path.join(files, embedding_projector.METADATA))
    with open(os.path.join(files, embedding_projector.SPRITE), "rb") as f:
        assert board.get(f"/data/plugin/projector/sprite_image?{query}") == f.read()


def embed(capsys, *argv: str) -> tuple[int, str, str]:
    code = cli.main(["embed", *argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_cli_rewrites_the_projector_that_tensorboard_serves(board, runs, capsys):
    run = str(runs / "copy")
    board.wait_for_run("copy/tensorboard")
    assert projector_info(board, "copy/tensorboard")["embeddings"][0]["tensorShape"] == [
        NUM,
        LATENT,
    ]
    code, out, err = embed(capsys, "--workdir", run, "--num", "30", "--labels", "none")
    assert code == 0, err
    assert "30 samples (step 4)" in out
    np.testing.assert_array_equal(checkpoint_latents(run), checkpoint_latents(runs / "cond")[:30])
    text = read_text(os.path.join(assets(run), embedding_projector.METADATA))
    assert text == "seed\tasked\n" + "".join(f"{i}\t{i % 10}\n" for i in range(30))
    # The running TensorBoard picks the new embedding up (the checkpoint name holds N).
    deadline = time.monotonic() + 60
    while projector_info(board, "copy/tensorboard")["embeddings"][0]["tensorShape"] != [30, LATENT]:
        assert time.monotonic() < deadline, projector_info(board, "copy/tensorboard")
        time.sleep(0.5)
    # Nothing is left beside the asset directory.
    assert sorted(os.listdir(os.path.dirname(assets(run)))) == [
        os.path.basename(embedding_projector.ASSETS)
    ]


def test_bad_cli_input_fails_in_one_line_and_keeps_the_projector(runs, capsys, tmp_path):
    run = str(runs / "cond")
    before = {name: read_bytes(assets(run), name) for name in os.listdir(assets(run))}
    for argv, message in (
        (["--num", "0"], "--num must be positive, got 0"),
        (["--num", str(292**2 + 1)], "--num=85265 images of 28 px make a 8204 px sprite"),
        (["--num", "-5"], "--num must be positive"),
    ):
        code, _, err = embed(capsys, "--workdir", run, *argv)
        assert code == 2 and message in err and len(err.strip().splitlines()) == 1, err
    after = {name: read_bytes(assets(run), name) for name in os.listdir(assets(run))}
    assert after == before
    code, _, err = embed(capsys, "--workdir", str(tmp_path))
    assert code == 2 and "is not a gan_tf workdir" in err


def read_bytes(directory: str, name: str) -> bytes:
    with open(os.path.join(directory, name), "rb") as f:
        return f.read()


def test_a_write_that_fails_midway_leaves_the_previous_projector(runs, monkeypatch):
    run = str(runs / "cond")
    before = {name: read_bytes(assets(run), name) for name in os.listdir(assets(run))}
    state = read_bytes(logdir(run), "checkpoint")
    config = workdir.load_config(run)
    family, generator, _ = workdir.load_run(run)
    embedding = embedding_projector.make_embedding(config, family.generate(generator), 10, 20)

    def crash(_):
        raise OSError("disk full")

    monkeypatch.setattr(embedding_projector, "sprite", crash)  # after the latents and metadata
    with pytest.raises(OSError, match="disk full"):
        embedding_projector.write(logdir(run), embedding)
    after = {name: read_bytes(assets(run), name) for name in os.listdir(assets(run))}
    assert after == before and read_bytes(logdir(run), "checkpoint") == state
    assert sorted(os.listdir(os.path.dirname(assets(run)))) == [
        os.path.basename(embedding_projector.ASSETS)
    ]
