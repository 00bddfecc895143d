"""Paths through latent space: linear and spherical interpolation between points.

A Gaussian latent `z ~ N(0, I)` in `d` dimensions lies, with high probability, near the
sphere of radius `sqrt(d)`; the straight line between two such points cuts through the
low-density interior (its midpoint has norm about `sqrt(d / 2)`). Spherical interpolation
(slerp; Shoemake 1985, as used for GANs by White 2016, "Sampling Generative Networks") moves
along the great circle instead: between vectors of equal norm every point keeps that norm.

Everything is computed in float64 and returned as float64; endpoints are exact (`t = 0` gives
`a` and `t = 1` gives `b`, bit for bit), so a path through several points passes exactly
through each of them.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

# sin(angle) below which slerp falls back to lerp: (anti)parallel vectors have no unique
# great circle, and the slerp weights would divide by ~0.
PARALLEL_SIN = 1e-7


def lerp(a, b, t) -> np.ndarray:
    """Linear interpolation `(1 - t) a + t b`.

    Args:
      a, b: vectors `[d]`.
      t: a scalar, or positions `[n]` (0 at `a`, 1 at `b`).

    Returns:
      `[d]` for a scalar `t`, else `[n, d]`.
    """
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    t = np.asarray(t, np.float64)[..., None]
    return (1.0 - t) * a + t * b


def angle(a, b) -> float:
    """The angle between two vectors in radians (0 if either is zero).

    `2 atan2(|â - b̂|, |â + b̂|)` is accurate near 0 and near pi, where `arccos` of the
    cosine loses half the digits.
    """
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    na, nb = np.linalg.norm(a), np.linalg.norm(b)
    if na == 0.0 or nb == 0.0:
        return 0.0
    ua, ub = a / na, b / nb
    return float(2.0 * np.arctan2(np.linalg.norm(ua - ub), np.linalg.norm(ua + ub)))


def slerp(a, b, t) -> np.ndarray:
    """Spherical interpolation `sin((1-t) w) / sin w * a + sin(t w) / sin w * b`, `w` the angle
    between `a` and `b`.

    Between vectors of equal norm, every point has that norm and the angle from `a` grows
    linearly in `t`; for unequal norms the norm changes smoothly from `|a|` to `|b|`.
    Parallel or antiparallel vectors (and zero vectors), for which no great circle is
    defined, fall back to `lerp`.

    Args:
      a, b: vectors `[d]`.
      t: a scalar, or positions `[n]` (0 at `a`, 1 at `b`).

    Returns:
      `[d]` for a scalar `t`, else `[n, d]`.
    """
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    w = angle(a, b)
    sin_w = np.sin(w)
    if sin_w < PARALLEL_SIN:
        return lerp(a, b, t)
    t = np.asarray(t, np.float64)[..., None]
    return np.sin((1.0 - t) * w) / sin_w * a + np.sin(t * w) / sin_w * b


METHODS: dict[str, Callable[..., np.ndarray]] = {"slerp": slerp, "linear": lerp}


def path(points: Sequence | np.ndarray, steps: int, method: str = "slerp") -> np.ndarray:
    """Interpolates between consecutive points: `steps` positions per segment, both ends
    included, so segment `i` ends exactly where segment `i + 1` starts.

    Args:
      points: `[k, d]`, k >= 2 (d may be 0).
      steps: positions per segment, >= 2.
      method: `"slerp"` or `"linear"`.

    Returns:
      `[k - 1, steps, d]` float64.

    Raises:
      ValueError: for fewer than 2 points or steps, or an unknown method.
    """
    if method not in METHODS:
        raise ValueError(f"unknown interpolation {method!r}; expected one of {', '.join(METHODS)}")
    points = np.asarray(points, np.float64)
    if points.ndim != 2 or len(points) < 2:
        raise ValueError(f"a path needs at least 2 points [k, d], got shape {points.shape}")
    if steps < 2:
        raise ValueError(f"a path needs at least 2 steps per segment, got {steps}")
    t = np.linspace(0.0, 1.0, steps)
    interpolate = METHODS[method]
    return np.stack([interpolate(a, b, t) for a, b in zip(points[:-1], points[1:])])
