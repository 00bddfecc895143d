"""The evaluation panel of `gan-tf evaluate --panel`: what the scores are about, in one PNG.

    samples | their nearest reference images, closest first   | class histogram
    (seeds 0..ROWS-1, or the first images of the source)       | (domain features only)

Nearest neighbours are found in pixel space (Euclidean distance between the uint8 images,
exact integer arithmetic) among the first `num` reference images, so a memorised training
image shows up as a neighbour at distance 0. The histogram compares the shares of each
class the domain classifier gives the first `HISTOGRAM_IMAGES` samples and references; it is
drawn with `--features domain` only, where the user has said that classifier fits the data.
"""

from __future__ import annotations

import numpy as np

from gan_tf.metrics import sources as sources_lib

ROWS = 8
NEIGHBOURS = 4
SCALE = 3  # tiles are shown enlarged, pixel for pixel (nearest neighbour)
PAD = 4
MARGIN = 10
TITLE_HEIGHT = 44
LABEL_HEIGHT = 14
HISTOGRAM_IMAGES = 2000
HISTOGRAM_SIZE = (360, 260)  # width, height of the histogram block
GENERATED_COLOUR = (40, 90, 200)
REFERENCE_COLOUR = (170, 170, 170)


def nearest_neighbours(
    queries: np.ndarray, references: np.ndarray, k: int, chunk: int = 512
) -> tuple[np.ndarray, np.ndarray]:
    """The `k` references nearest to each query in pixel space, closest first.

    Args:
      queries: uint8 images `[n, H, W, C]`.
      references: uint8 images of the same shape `[m, H, W, C]`, `m >= k`.
      k: neighbours per query.
      chunk: references compared at a time (bounds memory).

    Returns:
      `(indices [n, k], distances [n, k])`: Euclidean distances between the images as
      integer vectors; equal distances keep the lower index first.
    """
    q = queries.reshape(len(queries), -1).astype(np.int64)
    squared = np.empty((len(q), len(references)), np.int64)
    for start in range(0, len(references), chunk):
        r = references[start : start + chunk].reshape(-1, q.shape[1]).astype(np.int64)
        for i, query in enumerate(q):
            squared[i, start : start + len(r)] = ((r - query) ** 2).sum(axis=1)
    order = np.argsort(squared, axis=1, kind="stable")[:, :k]
    return order, np.sqrt(np.take_along_axis(squared, order, axis=1).astype(np.float64))


def tile_box(row: int, col: int, height: int, width: int) -> tuple[int, int, int, int]:
    """Where tile (row, col) of the sample block lies in the panel: `(top, left, bottom, right)`.

    Column 0 holds the sample, columns 1.. its neighbours; `height`, `width` are the image
    size before scaling.
    """
    h, w = height * SCALE, width * SCALE
    top = TITLE_HEIGHT + row * (h + LABEL_HEIGHT + PAD)
    left = MARGIN + col * (w + PAD) + (PAD if col else 0) * 2  # a gap after the sample
    return top, left, top + h, left + w


def draw(
    samples: np.ndarray,
    references: np.ndarray,
    indices: np.ndarray,
    distances: np.ndarray,
    title: str,
    shares: tuple[np.ndarray, np.ndarray] | None = None,
) -> np.ndarray:
    """The panel as a uint8 RGB image.

    Args:
      samples: uint8 `[rows, H, W, C]`.
      references: uint8 `[m, H, W, C]`.
      indices, distances: `nearest_neighbours(samples, references, k)`.
      title: one or two lines written at the top.
      shares: `(generated, reference)` class shares for the histogram, or None.
    """
    from PIL import Image, ImageDraw

    rows, k = indices.shape
    height, width = samples.shape[1:3]
    bottom, right = tile_box(rows - 1, k, height, width)[2:]
    hist_w, hist_h = HISTOGRAM_SIZE if shares is not None else (0, 0)
    size = (
        right + MARGIN + hist_w + (MARGIN if hist_w else 0),
        max(bottom + LABEL_HEIGHT, TITLE_HEIGHT + hist_h) + MARGIN,
    )
    panel = Image.new("RGB", size, (255, 255, 255))
    pen = ImageDraw.Draw(panel)
    pen.multiline_text((MARGIN, 6), title, fill=(0, 0, 0), spacing=4)
    for row in range(rows):
        tiles = [samples[row]] + [references[i] for i in indices[row]]
        labels = ["sample"] + [f"d={d:.0f}" for d in distances[row]]
        for col, (tile, label) in enumerate(zip(tiles, labels)):
            top, left, low, _ = tile_box(row, col, height, width)
            rgb = np.repeat(tile, 3, axis=-1) if tile.shape[-1] == 1 else tile
            big = rgb.repeat(SCALE, axis=0).repeat(SCALE, axis=1)
            panel.paste(Image.fromarray(big.astype(np.uint8)), (left, top))
            pen.text((left, low), label, fill=(60, 60, 60))
    if shares is not None:
        _histogram(pen, (right + MARGIN, TITLE_HEIGHT), *shares)
    return np.asarray(panel)


def _histogram(pen, origin: tuple[int, int], generated: np.ndarray, reference: np.ndarray):
    x0, y0 = origin
    width, height = HISTOGRAM_SIZE
    plot_h = height - 2 * TITLE_HEIGHT
    top = max(float(generated.max()), float(reference.max()), 1e-9)
    slot = width / len(generated)
    base = y0 + plot_h
    for c, (g, r) in enumerate(zip(generated, reference)):
        left = x0 + c * slot
        for offset, share, colour in ((0.15, g, GENERATED_COLOUR), (0.5, r, REFERENCE_COLOUR)):
            bar_top = base - plot_h * share / top
            pen.rectangle(
                (left + offset * slot, bar_top, left + (offset + 0.35) * slot, base), fill=colour
            )
        pen.text((left + 0.35 * slot, base + 3), str(c), fill=(0, 0, 0))
    pen.line((x0, base, x0 + width, base), fill=(0, 0, 0))
    pen.text((x0, base + 20), "class shares:", fill=(0, 0, 0))
    pen.rectangle((x0 + 90, base + 22, x0 + 100, base + 32), fill=GENERATED_COLOUR)
    pen.text((x0 + 104, base + 20), "samples", fill=(0, 0, 0))
    pen.rectangle((x0 + 170, base + 22, x0 + 180, base + 32), fill=REFERENCE_COLOUR)
    pen.text((x0 + 184, base + 20), "references", fill=(0, 0, 0))


def first_images(source: sources_lib.Source, num: int, batch_size: int) -> np.ndarray:
    """The first `num` images of a source (seeds 0..num-1 of a generator)."""
    return np.concatenate(list(sources_lib.first_batches(source, num, batch_size)))


def evaluation_panel(
    source_spec: str,
    reference_spec: str,
    num: int,
    features: str,
    batch_size: int = 50,
) -> np.ndarray:
    """The panel of `source_spec` against the first `num` images of `reference_spec`.

    Raises:
      DataError: for unreadable sources, too few images or mismatched image shapes.
    """
    from gan_tf.errors import DataError

    source = sources_lib.open_source(source_spec)
    reference = sources_lib.open_source(reference_spec)
    references = first_images(reference, num, batch_size)
    samples = first_images(source, min(ROWS, num), batch_size)
    if samples.shape[1:] != references.shape[1:]:
        raise DataError(
            f"the panel compares images pixel by pixel: {source.description} gives "
            f"{samples.shape[1:]}, {reference.description} {references.shape[1:]}"
        )
    indices, distances = nearest_neighbours(samples, references, min(NEIGHBOURS, num))
    title = (
        f"{source.description}: samples and their nearest of {num} references "
        f"(pixel distance d)\nreferences: {reference.description}"
    )
    shares = None
    if features == "domain":
        from gan_tf.metrics import api, coverage

        extractor = api.get_extractor("domain")
        count = min(num, HISTOGRAM_IMAGES)
        logits = [
            extractor.features_and_logits(x)[1]
            for x in (first_images(source, count, batch_size), references[:count])
        ]
        shares = tuple(coverage.class_counts(lg, lg.shape[1]) / count for lg in logits)
        title += f"; class shares of the first {count} of each (domain classifier)"
    return draw(samples, references, indices, distances, title, shares)
