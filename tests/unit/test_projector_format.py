"""`gan_tf.embedding_projector`: sprite layout, metadata format, labelling rule, settings."""

from __future__ import annotations

import numpy as np
import pytest

from gan_tf import embedding_projector as ep
from gan_tf import train
from gan_tf.config import Config
from gan_tf.errors import ConfigError


def test_sprite_tiles_row_major_without_padding():
    # Five 2x3 images, image k filled with k + 1: a 3x3 grid of tiles, the last four black.
    batch = np.stack([np.full((2, 3, 1), k + 1, np.uint8) for k in range(5)])
    got = ep.sprite(batch)[..., 0]
    expected = np.array(
        [
            [1, 1, 1, 2, 2, 2, 3, 3, 3],
            [1, 1, 1, 2, 2, 2, 3, 3, 3],
            [4, 4, 4, 5, 5, 5, 0, 0, 0],
            [4, 4, 4, 5, 5, 5, 0, 0, 0],
        ],
        np.uint8,
    )
    np.testing.assert_array_equal(got, expected)


def test_sprite_keeps_each_pixel_in_place():
    rng = np.random.default_rng(0)
    batch = rng.integers(0, 256, (10, 4, 5, 3), dtype=np.uint8)
    got = ep.sprite(batch)
    assert got.shape == (3 * 4, 4 * 5, 3)  # 4 columns (ceil sqrt 10), 3 rows
    for i, image in enumerate(batch):
        r, c = divmod(i, 4)
        np.testing.assert_array_equal(got[r * 4 : (r + 1) * 4, c * 5 : (c + 1) * 5], image)


def test_metadata_has_a_header_only_with_several_columns():
    two = ep.metadata_tsv({"seed": ["0", "1"], "class": ["7", "3"]})
    assert two == "seed\tclass\n0\t7\n1\t3\n"
    # One column: the projector would read a header as the first point's label.
    assert ep.metadata_tsv({"seed": ["0", "1"]}) == "0\n1\n"


def data(**values) -> Config:
    config = Config()
    return config.override([f"data.{k}={v}" for k, v in values.items()])


@pytest.mark.parametrize(
    ("settings", "labelled"),
    [
        ({}, True),  # TFDS mnist
        ({"name": "fashion_mnist"}, False),
        ({"source": "tfrecord", "path": "x"}, True),  # 28x28 grayscale records
        ({"source": "folder", "path": "x", "channels": 3}, False),
        ({"source": "folder", "path": "x", "image_size": 32}, False),
    ],
)
def test_auto_labels_mnist_like_data_only(settings, labelled):
    use, reason = ep.labelling(data(**settings))
    assert use is labelled
    assert "train.embed_labels=auto" in reason


def test_explicit_labelling_wins_over_the_data():
    fashion = data(name="fashion_mnist")
    assert ep.labelling(fashion.override(["train.embed_labels=domain"]))[0] is True
    assert ep.labelling(Config().override(["train.embed_labels=none"]))[0] is False


def test_settings_are_checked():
    ep.validate(Config())
    ep.validate(Config().override(["train.embed_samples=0"]))
    with pytest.raises(ConfigError, match="train.embed_samples must be >= 0"):
        ep.validate(Config().override(["train.embed_samples=-1"]))
    with pytest.raises(ConfigError, match="train.embed_labels='digits'"):
        ep.validate(Config().override(["train.embed_labels=digits"]))
    # 292^2 images of 28 px fill the 8192 px sprite exactly (292 * 28 = 8176); one more does not.
    ep.validate(Config().override([f"train.embed_samples={292**2}"]))
    with pytest.raises(ConfigError, match="at most 85264"):
        ep.validate(Config().override([f"train.embed_samples={292**2 + 1}"]))


def test_training_checks_the_settings_first():
    with pytest.raises(ConfigError, match="train.embed_samples must be >= 0"):
        train.validate(Config().override(["train.embed_samples=-5"]))
