"""The pure-TF Inception network against reference features computed with torch.

The fixture (tests/fixtures/inception/) was written once by scripts/make_inception_fixture.py
(see its docstring for the exact command): the wheel's TorchScript network behind the
StyleGAN2-ADA/StyleGAN3 detector pre-processing, on a few fixed images.
"""

from __future__ import annotations

import importlib.util
import json
import os

import numpy as np
import pytest

from gan_tf.errors import DataError
from gan_tf.metrics import inception
from gan_tf.metrics.fid import fid_from_features

FIXTURE = os.path.join(os.path.dirname(__file__), "..", "fixtures", "inception")
TOLERANCE = 1e-4  # relative: max |ours - reference| / max |reference|
# Relative FID error. Ours is within 2e-6 of the reference; the half-pixel bilinear resizer,
# a plausible wrong pre-processing, is 0.6% off on the 64-image pairs and 3.8% on 8.
FID_TOLERANCE = 1e-4


@pytest.fixture(scope="module")
def reference():
    with np.load(os.path.join(FIXTURE, "reference.npz")) as data:
        arrays = dict(data)
    with open(os.path.join(FIXTURE, "reference.json"), encoding="utf-8") as f:
        arrays["meta"] = json.load(f)
    return arrays


@pytest.fixture(scope="module")
def extractor():
    return inception.InceptionFeatures(batch_size=16)


def relative_error(ours: np.ndarray, ref: np.ndarray) -> float:
    return float(np.abs(ours - ref).max() / np.abs(ref).max())


def pattern_299() -> np.ndarray:
    """The fixture's input images (tests/fixtures/inception/patterns.py)."""
    spec = importlib.util.spec_from_file_location(
        "inception_patterns", os.path.join(FIXTURE, "patterns.py")
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.pattern_299()


def test_network_matches_reference_on_fixed_batch(extractor, reference):
    x = (pattern_299() - 128.0) / 128.0
    ours = extractor.network(x).numpy()
    assert ours.shape == (2, 2048)
    assert relative_error(ours, reference["pattern_features"]) <= TOLERANCE


@pytest.fixture(scope="module")
def mnist_features(extractor, reference):
    n = int(reference["meta"]["num_stored"])
    return extractor(reference["mnist_a"][:n]), extractor(reference["mnist_b"][:n])


def test_end_to_end_grayscale_mnist_matches_stylegan_protocol(mnist_features, reference):
    a, b = mnist_features
    assert relative_error(a, reference["mnist_a_features"]) <= TOLERANCE
    assert relative_error(b, reference["mnist_b_features"]) <= TOLERANCE


def test_end_to_end_fid_of_stored_images_matches_the_reference(mnist_features, reference):
    # uint8 28x28 grayscale in, FID out, against FID of the reference features. 8 samples
    # are rank-deficient; allowed here only to compare the pipelines.
    ours = fid_from_features(*mnist_features, allow_rank_deficient=True)
    expected = fid_from_features(
        reference["mnist_a_features"], reference["mnist_b_features"], allow_rank_deficient=True
    )
    assert ours == pytest.approx(expected, rel=FID_TOLERANCE)


def test_end_to_end_rgb_of_odd_size(extractor, reference):
    ours = extractor(reference["rgb"])  # 37x53 RGB
    assert relative_error(ours, reference["rgb_features"]) <= TOLERANCE


@pytest.mark.slow
def test_fid_on_mnist_sized_inputs_matches_the_reference(extractor, reference):
    a, b = extractor(reference["mnist_a"]), extractor(reference["mnist_b"])
    # 64 samples < 2048 dims: rank-deficient, allowed here only to compare pipelines.
    ours = fid_from_features(a, b, allow_rank_deficient=True)
    expected = reference["meta"]["fid_mnist_a_vs_b"]
    assert ours == pytest.approx(expected, rel=FID_TOLERANCE)


def test_half_pixel_resizer_is_not_the_reference(reference):
    hp = inception.InceptionFeatures(batch_size=4, resizer="half_pixel_bilinear")
    ours = hp(reference["mnist_a"][:4])
    assert relative_error(ours, reference["mnist_a_features"][:4]) > 0.05


def test_weights_are_pinned(tmp_path):
    path = inception.weights_path()
    assert path.stat().st_size == inception.WEIGHTS_SIZE
    fake = tmp_path / "default_1.pt"
    fake.write_bytes(b"x" * 10)
    with pytest.raises(DataError, match="sha1"):
        inception.InceptionV3(str(fake))
