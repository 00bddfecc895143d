"""What anomaly scoring reads and draws: labelled sources, the score histogram's bins, and
the serving checks on uint8 image inputs."""

from __future__ import annotations

import json

import numpy as np
import pytest
import tensorflow as tf

from gan_tf import score_histogram
from gan_tf.errors import DataError
from gan_tf.metrics import sources
from gan_tf.serving.errors import InvalidArgument
from gan_tf.serving.inputs import InputLimits, InputSpec, arrays_from_protos
from gan_tf.serving.json_codec import parse_request


def test_npz_labels_travel_with_their_images(tmp_path):
    images = np.arange(7 * 2 * 2, dtype=np.uint8).reshape(7, 2, 2, 1)
    labels = np.array([3, 1, 4, 1, 5, 9, 2], np.int32)
    path = str(tmp_path / "a.npz")
    np.savez(path, images=images, labels=labels)
    source = sources.open_source(path)
    pairs = list(sources.first_batches(source, 5, 3, labels=True))
    assert [len(x) for x, _ in pairs] == [3, 2]
    np.testing.assert_array_equal(np.concatenate([x for x, _ in pairs]), images[:5])
    got = np.concatenate([y for _, y in pairs])
    assert got.dtype == np.int64 and got.tolist() == [3, 1, 4, 1, 5]
    everything = list(sources.first_batches(source, None, 4))  # all images, no labels
    np.testing.assert_array_equal(np.concatenate(everything), images)
    with pytest.raises(DataError, match="fewer than the 8 requested"):
        list(sources.first_batches(source, 8, 4, labels=True))

    np.savez(path, images=images, labels=labels[:6])
    with pytest.raises(DataError, match=r"one integer per image \(\[7\]\)"):
        sources.open_source(path)
    np.savez(path, images=images, labels=labels.astype(np.float32))
    with pytest.raises(DataError, match="one integer per image"):
        sources.open_source(path)
    np.savez(path, images=images)
    with pytest.raises(DataError, match="has no labels"):
        sources.first_batches(sources.open_source(path), None, 4, labels=True)


def test_generators_need_a_count():
    source = sources.Source("gen", generate=lambda seeds: np.zeros([len(seeds), 2, 2, 1]))
    with pytest.raises(DataError, match="without end"):
        sources.first_batches(source, None, 4)


def test_histogram_shares_fixed_values():
    scores = np.array([0.0, 1.0, 1.0, 2.0, 3.0, 4.0])
    anomalous = np.array([False, False, False, True, True, True])
    edges, normal, anomal = score_histogram.shares(scores, anomalous, bins=4)
    np.testing.assert_allclose(edges, [0.0, 1.0, 2.0, 3.0, 4.0])
    np.testing.assert_allclose(normal, [1 / 3, 2 / 3, 0.0, 0.0])  # bins [0,1) [1,2) [2,3) [3,4]
    np.testing.assert_allclose(anomal, [0.0, 0.0, 1 / 3, 2 / 3])
    # The bars, above the axis (the legend below it has both colours too).
    image = score_histogram.draw(scores, anomalous, 1.5, "t")[: -score_histogram.MARGIN]
    normal_cols = np.flatnonzero(np.all(image == score_histogram.NORMAL_COLOUR, -1).any(0))
    anomal_cols = np.flatnonzero(np.all(image == score_histogram.ANOMALOUS_COLOUR, -1).any(0))
    assert normal_cols.min() < anomal_cols.min()  # low scores on the left
    # One score for both classes: a unit-wide range, no division by zero.
    edges, normal, anomal = score_histogram.shares(np.ones(4), np.array([0, 0, 1, 1], bool), 2)
    np.testing.assert_allclose(edges, [1.0, 1.5, 2.0])
    np.testing.assert_allclose(normal, [1.0, 0.0])


IMAGES = {"images": InputSpec(np.dtype(np.uint8), tf.uint8, (-1, 2, 2, 1))}


def test_grpc_uint8_values_that_would_wrap_are_refused():
    proto = tf.make_tensor_proto(np.zeros([1, 2, 2, 1], np.uint8))
    assert arrays_from_protos("score", IMAGES, {"images": proto}, InputLimits())["images"].shape
    for value in (256, -1):
        proto.ClearField("tensor_content")
        proto.ClearField("int_val")
        proto.int_val.extend([7, 7, 7, value])
        with pytest.raises(InvalidArgument, match="value out of range for uint8"):
            arrays_from_protos("score", IMAGES, {"images": proto}, InputLimits())
    proto.ClearField("int_val")
    proto.int_val.extend([0, 255, 9, 9])
    got = arrays_from_protos("score", IMAGES, {"images": proto}, InputLimits())["images"]
    assert got.reshape(-1).tolist() == [0, 255, 9, 9]


def test_rest_uint8_values_must_be_integers_in_range():
    def parse(values):
        body = {"signature_name": "score", "inputs": {"images": values}}
        return parse_request(json.dumps(body).encode(), lambda name: IMAGES, InputLimits())[1]

    image = [[[1], [2]], [[3], [255]]]
    assert parse([image])["images"].dtype == np.uint8
    for bad, message in (
        (256, "value out of range for uint8"),
        (-1, "value out of range for uint8"),
        (2.5, "expects uint8 values, got float values"),
        ("x", "expects uint8 values"),
    ):
        with pytest.raises(InvalidArgument, match=message):
            parse([[[[1], [2]], [[3], [bad]]]])
