"""`gan_tf.latent`: lerp and slerp against closed forms, endpoints, degenerate cases, paths."""

from __future__ import annotations

import math

import numpy as np
import pytest

from gan_tf import latent

E1, E2 = np.array([1.0, 0.0, 0.0]), np.array([0.0, 1.0, 0.0])


def test_lerp_fixed_values():
    np.testing.assert_array_equal(latent.lerp([0.0, 0.0], [2.0, 4.0], 0.25), [0.5, 1.0])
    got = latent.lerp([1.0, -1.0], [3.0, 1.0], [0.0, 0.5, 1.0])
    np.testing.assert_array_equal(got, [[1.0, -1.0], [2.0, 0.0], [3.0, 1.0]])


def test_slerp_of_orthogonal_unit_vectors_follows_the_quarter_circle():
    np.testing.assert_allclose(latent.slerp(E1, E2, 0.5), (E1 + E2) / math.sqrt(2), atol=1e-15)
    # At t the point is at angle t * pi/2 from e1 on the unit circle of the e1-e2 plane.
    t = np.array([0.0, 1 / 3, 0.25, 0.9, 1.0])
    expected = np.cos(t * math.pi / 2)[:, None] * E1 + np.sin(t * math.pi / 2)[:, None] * E2
    np.testing.assert_allclose(latent.slerp(E1, E2, t), expected, atol=1e-15)
    # lerp cuts the corner: the midpoint of the chord has norm 1/sqrt(2).
    assert np.linalg.norm(latent.lerp(E1, E2, 0.5)) == pytest.approx(1 / math.sqrt(2), abs=1e-15)


def test_slerp_keeps_the_norm_and_moves_at_constant_angular_speed():
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=64), rng.normal(size=64)
    b *= np.linalg.norm(a) / np.linalg.norm(b)
    t = np.linspace(0, 1, 11)
    points = latent.slerp(a, b, t)
    np.testing.assert_allclose(np.linalg.norm(points, axis=1), np.linalg.norm(a), rtol=1e-12)
    # Angles measured independently with arccos of the normalised dot product.
    total = math.acos(a @ b / (np.linalg.norm(a) * np.linalg.norm(b)))
    cos = points @ a / (np.linalg.norm(points, axis=1) * np.linalg.norm(a))
    np.testing.assert_allclose(np.arccos(np.clip(cos, -1, 1)), t * total, atol=1e-7)
    # Unequal norms: the norm moves from |a| to |b| and the path stays in the a-b plane.
    points = latent.slerp(a, 3 * b, t)
    norms = np.linalg.norm(points, axis=1)
    assert norms[0] == pytest.approx(np.linalg.norm(a)) and norms[-1] == pytest.approx(
        3 * np.linalg.norm(a)
    )
    coefficients, *_ = np.linalg.lstsq(np.stack([a, b], axis=1), points.T, rcond=None)
    np.testing.assert_allclose(np.stack([a, b], axis=1) @ coefficients, points.T, atol=1e-10)


@pytest.mark.parametrize("method", ["slerp", "linear"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_endpoints_are_exact(method, dtype):
    rng = np.random.default_rng(1)
    a, b = rng.normal(size=(2, 100)).astype(dtype)
    got = latent.METHODS[method](a, b, np.array([0.0, 1.0]))
    assert np.array_equal(got, np.stack([a, b]).astype(np.float64))
    assert np.array_equal(got.astype(dtype), np.stack([a, b]))


@pytest.mark.parametrize(
    "b",
    [
        E1 * 2.0,  # parallel
        E1 + np.array([0.0, 1e-12, 0.0]),  # nearly parallel
        -E1,  # antiparallel: no unique great circle
        np.zeros(3),  # zero vector
    ],
)
def test_degenerate_slerp_falls_back_to_lerp_without_nan(b):
    t = np.linspace(0, 1, 7)
    got = latent.slerp(E1, b, t)
    assert np.all(np.isfinite(got))
    np.testing.assert_allclose(got, latent.lerp(E1, b, t), atol=1e-12)


def test_angle_is_accurate_near_zero_and_pi():
    small = 1e-9
    b = np.array([math.cos(small), math.sin(small), 0.0])
    assert latent.angle(E1, b) == pytest.approx(small, rel=1e-6)
    b = np.array([-math.cos(small), math.sin(small), 0.0])
    assert latent.angle(E1, b) == pytest.approx(math.pi - small, rel=1e-15)
    assert latent.angle(E1, np.zeros(3)) == 0.0


def test_path_segments_meet_exactly_at_the_given_points():
    rng = np.random.default_rng(2)
    points = rng.normal(size=(4, 8)).astype(np.float32)
    for method in latent.METHODS:
        got = latent.path(points, 5, method)
        assert got.shape == (3, 5, 8)
        np.testing.assert_array_equal(got[:, 0], points[:-1])
        np.testing.assert_array_equal(got[:, -1], points[1:])
        np.testing.assert_allclose(got[1, 2], latent.METHODS[method](points[1], points[2], 0.5))


def test_path_of_zero_width_points_is_empty_rows():
    """The condition of an unconditional network has 0 columns: its path has the same shape."""
    assert latent.path(np.zeros([3, 0]), 4, "linear").shape == (2, 4, 0)


@pytest.mark.parametrize(
    "points, steps, method, message",
    [
        (np.zeros([1, 4]), 3, "slerp", "at least 2 points"),
        (np.zeros([2, 4]), 1, "slerp", "at least 2 steps"),
        (np.zeros([2, 4]), 3, "cubic", "unknown interpolation 'cubic'"),
    ],
)
def test_path_rejects_bad_arguments(points, steps, method, message):
    with pytest.raises(ValueError, match=message):
        latent.path(points, steps, method)
