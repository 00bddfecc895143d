"""Sample-quality gate settings for each gan_tf preset.

Thresholds are set from measured scores (docs/pipeline.md records them): loose enough that
the preset's own training passes on the offline MNIST, tight enough that an untrained or
collapsed generator fails. Presets without an entry get `DEFAULT`.
"""

from __future__ import annotations

from pipelines.gate import GateSettings

# A quick gate on the domain classifier only, for tests and smoke runs. The smoke model
# (20 steps) is barely trained: its domain KID measured 14.5 (N=200, 15.2 on the
# `--tfds-limit 1000` data). The bound rejects a NaN generator (exported as all-black
# images, 27.5) and a saturated one (all white, 518); a uniform-gray (15.8) or noise (18.0)
# output scores like the smoke model itself, so no domain-KID bound can tell them apart.
SMOKE = GateSettings(
    features=("domain",),
    metrics={"domain": ("kid",)},
    num_samples={"domain": 200},
    thresholds={"kid_domain": 20.0},
    margins={"kid_domain": 5.0},
)

# The quality gate: Inception KID (the comparable score), the domain FID/KID, and class
# coverage, which refuses a generator that draws mostly some digits even when its KID passes:
# all 10 classes must get at least a quarter of their share, and the class histogram must be
# close to the reference's (KL 0.05 is about shares of 4-16%; real data scores ~0.003 at N=2000,
# a one-digit generator ~2).
DEFAULT = GateSettings(
    features=("inception", "domain"),
    metrics={"inception": ("kid",), "domain": ("kid", "fid", "coverage")},
    num_samples={"inception": 500, "domain": 2000},
    thresholds={
        "kid": 0.1,
        "kid_domain": 3.0,
        "classes_covered_domain": 10,
        "class_kl_domain": 0.05,
    },
    margins={"kid": 0.01, "kid_domain": 0.5, "class_kl_domain": 0.02},
)

GATES: dict[str, GateSettings] = {"smoke": SMOKE}


def gate_settings(preset: str) -> GateSettings:
    """The gate settings of a gan_tf preset."""
    return GATES.get(preset, DEFAULT)
