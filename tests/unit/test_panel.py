"""The evaluation panel's nearest-neighbour search and layout, against values worked by hand."""

from __future__ import annotations

import math

import numpy as np

from gan_tf import panel


def test_nearest_neighbours_in_pixel_space():
    references = np.array([0, 10, 3, 10], np.uint8).reshape(4, 1, 1, 1)
    queries = np.array([9, 1], np.uint8).reshape(2, 1, 1, 1)
    for chunk in (1, 3, 512):  # the chunked search gives the same answer
        indices, distances = panel.nearest_neighbours(queries, references, 3, chunk=chunk)
        # 9: distances 9, 1, 6, 1 (a tie: the lower index first); 1: distances 1, 9, 2, 9.
        np.testing.assert_array_equal(indices, [[1, 3, 2], [0, 2, 1]])
        np.testing.assert_array_equal(distances, [[1, 1, 6], [1, 2, 9]])


def test_distances_are_exact_for_large_images():
    white = np.full((1, 64, 64, 3), 255, np.uint8)
    references = np.concatenate([np.zeros_like(white), white])
    references[0, 0, 0, 0] = 1  # one pixel off black
    indices, distances = panel.nearest_neighbours(white, references, 2)
    assert indices.tolist() == [[1, 0]]
    assert distances[0, 0] == 0.0
    assert distances[0, 1] == math.sqrt(254**2 + 255**2 * (64 * 64 * 3 - 1))


def test_draw_places_the_sample_and_its_neighbours_in_their_tiles():
    rng = np.random.default_rng(0)
    references = rng.integers(0, 256, (5, 6, 7, 1), dtype=np.uint8)
    samples = references[[3, 1]]
    indices, distances = panel.nearest_neighbours(samples, references, 2)
    shares = (np.full(10, 0.1), np.full(10, 0.1))
    image = panel.draw(samples, references, indices, distances, "title", shares)
    assert image.dtype == np.uint8 and image.shape[-1] == 3
    for row, want in enumerate([[3, 3, None], [1, 1, None]]):
        for col in range(3):
            top, left, bottom, right = panel.tile_box(row, col, 6, 7)
            tile = image[top : bottom : panel.SCALE, left : right : panel.SCALE, 0]
            source = samples[row] if col == 0 else references[indices[row, col - 1]]
            np.testing.assert_array_equal(tile, source[..., 0])
            if want[col] is not None:
                np.testing.assert_array_equal(tile, references[want[col], ..., 0])
    no_histogram = panel.draw(samples, references, indices, distances, "title")
    assert image.shape[1] - no_histogram.shape[1] == panel.HISTOGRAM_SIZE[0] + panel.MARGIN
