"""Streaming accumulation of features: exact moments in float64, features kept on demand.

Images are turned into features batch by batch and dropped. FID needs only the running mean
and covariance (merged per batch with Chan et al.'s parallel update, which avoids the
cancellation of `E[xx^T] - mu mu^T`); KID, precision/recall and IS need the features
themselves (4 bytes × d per image: 410 MB for 50k 2048-d features), so they are kept only
when `keep_features` is set.
"""

from __future__ import annotations

import numpy as np

from gan_tf import files
from gan_tf.errors import DataError


class FeatureStats:
    """Running count, mean and centred scatter matrix of feature batches."""

    def __init__(self, dim: int, keep_features: bool = False):
        self.dim = dim
        self.count = 0
        self._mean = np.zeros(dim, np.float64)
        self._scatter = np.zeros((dim, dim), np.float64)
        self.keep_features = keep_features
        self._kept: list[np.ndarray] = []

    def add(self, features: np.ndarray) -> None:
        """Adds a batch `[n, dim]`.

        Raises:
          DataError: for a wrong shape or NaN/Inf features.
        """
        x = np.asarray(features)
        if x.ndim != 2 or x.shape[1] != self.dim:
            raise DataError(f"expected features [n, {self.dim}], got {x.shape}")
        if not np.all(np.isfinite(x)):
            raise DataError("features hold NaN or Inf (are the input images finite?)")
        n = len(x)
        if n == 0:
            return
        x64 = x.astype(np.float64)
        batch_mean = x64.mean(0)
        centred = x64 - batch_mean
        total = self.count + n
        delta = batch_mean - self._mean
        self._scatter += centred.T @ centred + np.outer(delta, delta) * (self.count * n / total)
        self._mean += delta * (n / total)
        self.count = total
        if self.keep_features:
            self._kept.append(x.astype(np.float32))

    @property
    def mean(self) -> np.ndarray:
        return self._mean.copy()

    @property
    def cov(self) -> np.ndarray:
        """Unbiased covariance (divides by count - 1), like `np.cov`."""
        if self.count < 2:
            raise DataError(f"a covariance needs at least 2 samples, got {self.count}")
        return self._scatter / (self.count - 1)

    @property
    def features(self) -> np.ndarray:
        if not self.keep_features:
            raise ValueError("features were not kept (keep_features=False)")
        if not self._kept:
            return np.zeros((0, self.dim), np.float32)
        if len(self._kept) > 1:
            self._kept = [np.concatenate(self._kept)]
        return self._kept[0]

    def save(self, path: str) -> None:
        """Writes count, mean, covariance (and features if kept) atomically as `.npz`."""
        arrays = {"count": np.int64(self.count), "mean": self._mean, "scatter": self._scatter}
        if self.keep_features:
            arrays["features"] = self.features
        with files.atomic_path(path, suffix=".npz") as tmp:
            np.savez(tmp, **arrays)

    @classmethod
    def load(cls, path: str) -> FeatureStats:
        with np.load(path) as data:
            stats = cls(int(data["mean"].shape[0]), keep_features="features" in data.files)
            stats.count = int(data["count"])
            stats._mean = data["mean"].astype(np.float64)
            stats._scatter = data["scatter"].astype(np.float64)
            if stats.keep_features:
                stats._kept = [data["features"].astype(np.float32)]
        return stats
