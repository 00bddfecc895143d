"""The score histogram of `gan-tf anomaly evaluate --histogram`: normal vs anomalous, one PNG.

Both classes share one set of `BINS` equal-width bins over the range of all scores; each is
drawn as the share of its own examples per bin (so a small anomalous set is as visible as a
large normal one), normal bars on the left half of a bin, anomalous on the right. A vertical
line marks the decision threshold (`score > threshold` is flagged).
"""

from __future__ import annotations

import numpy as np

BINS = 40
SIZE = (640, 360)  # width, height
MARGIN = 40
TITLE_HEIGHT = 40
NORMAL_COLOUR = (40, 90, 200)
ANOMALOUS_COLOUR = (220, 80, 40)
THRESHOLD_COLOUR = (0, 0, 0)


def shares(
    scores: np.ndarray, anomalous: np.ndarray, bins: int = BINS
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Bin edges `[bins + 1]` over all scores and each class's share of examples per bin.

    Returns:
      `(edges, normal_shares, anomalous_shares)`; each share vector sums to 1 (0 for a class
      without examples).
    """
    scores = np.asarray(scores, np.float64)
    anomalous = np.asarray(anomalous, bool)
    low, high = (float(scores.min()), float(scores.max())) if scores.size else (0.0, 1.0)
    if high <= low:
        high = low + 1.0
    edges = np.linspace(low, high, bins + 1)
    counts = [np.histogram(scores[mask], edges)[0] for mask in (~anomalous, anomalous)]
    normal, anomal = (c / max(c.sum(), 1) for c in counts)
    return edges, normal, anomal


def draw(scores: np.ndarray, anomalous: np.ndarray, threshold: float, title: str) -> np.ndarray:
    """The histogram as a uint8 RGB image `[SIZE[1], SIZE[0], 3]`."""
    from PIL import Image, ImageDraw

    edges, normal, anomal = shares(scores, anomalous)
    width, height = SIZE
    image = Image.new("RGB", SIZE, (255, 255, 255))
    pen = ImageDraw.Draw(image)
    pen.multiline_text((MARGIN // 2, 6), title, fill=(0, 0, 0), spacing=4)
    x0, x1 = MARGIN, width - MARGIN // 2
    base, top = height - MARGIN, TITLE_HEIGHT + 10
    peak = max(float(normal.max()), float(anomal.max()), 1e-12)
    slot = (x1 - x0) / len(normal)
    for i, (n, a) in enumerate(zip(normal, anomal)):
        left = x0 + i * slot
        for offset, share, colour in ((0.05, n, NORMAL_COLOUR), (0.5, a, ANOMALOUS_COLOUR)):
            if share > 0:
                bar_top = base - (base - top) * share / peak
                right = left + (offset + 0.45) * slot
                pen.rectangle((left + offset * slot, bar_top, right, base), fill=colour)
    pen.line((x0, base, x1, base), fill=(0, 0, 0))
    span = edges[-1] - edges[0]
    if edges[0] <= threshold <= edges[-1]:
        x = x0 + (x1 - x0) * (threshold - edges[0]) / span
        pen.line((x, top - 6, x, base), fill=THRESHOLD_COLOUR, width=2)
        pen.text((x + 3, top - 8), f"threshold {threshold:.4g}", fill=THRESHOLD_COLOUR)
    pen.text((x0, base + 4), f"{edges[0]:.4g}", fill=(0, 0, 0))
    pen.text((x1 - 50, base + 4), f"{edges[-1]:.4g}", fill=(0, 0, 0))
    legend_y = base + 20
    for x, label, colour in (
        (x0 + 120, "normal", NORMAL_COLOUR),
        (x0 + 220, "anomalous", ANOMALOUS_COLOUR),
    ):
        pen.rectangle((x, legend_y + 2, x + 10, legend_y + 12), fill=colour)
        pen.text((x + 14, legend_y), label, fill=(0, 0, 0))
    pen.text((x0, legend_y), "share per bin:", fill=(0, 0, 0))
    return np.asarray(image)
