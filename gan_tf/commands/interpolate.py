"""`gan-tf interpolate`: walk between the latents (and classes) of seeds, as a grid or GIF."""

from __future__ import annotations

import argparse
import os

from gan_tf.commands import check_labels, parse_ints

FORMATS = (".png", ".gif")
# Images per generator call: bounds memory for long paths.
BATCH = 256


def add_parser(subparsers) -> None:
    p = subparsers.add_parser(
        "interpolate",
        help="interpolate between the latents of seeds (PNG grid or animated GIF)",
        description=(
            "Interpolate from the latent of each --seeds entry to the next (z drawn from the "
            "seed as by gan-tf generate and the export's generate signature), --steps images "
            "per segment including both ends, through the EMA generator of the latest "
            "checkpoint in --workdir. For a conditional model the one-hot class moves "
            "linearly from each seed's label to the next one's. A .png --out is a grid with "
            "one row per segment; a .gif --out plays the path frame by frame."
        ),
    )
    p.add_argument("--workdir", required=True, help="training workdir")
    p.add_argument("--seeds", required=True, help="two or more seeds in path order, e.g. 3,17,42")
    p.add_argument(
        "--steps", type=int, default=8, help="images per segment, both ends included (default 8)"
    )
    p.add_argument("--out", required=True, help="output file: grid.png or anim.gif")
    p.add_argument(
        "--method",
        choices=("slerp", "linear"),
        default="slerp",
        help="slerp (spherical, default) or linear interpolation of z",
    )
    p.add_argument("--label", type=int, help="class at every seed (conditional models)")
    p.add_argument(
        "--labels",
        help="class at each seed, one per seed (conditional models; default: seed %% classes)",
    )
    p.add_argument(
        "--frame-ms", type=int, default=100, help="GIF: milliseconds per frame (default 100)"
    )


def run(args: argparse.Namespace) -> int:
    import numpy as np

    from gan_tf import images, latent, sampling, workdir
    from gan_tf.errors import GanTfError
    from gan_tf.networks.base import condition

    seeds = parse_ints(args.seeds, "--seeds")
    if len(seeds) < 2:
        raise GanTfError(f"--seeds {args.seeds!r}: give at least 2 seeds to interpolate between")
    if args.steps < 2:
        raise GanTfError(f"--steps must be at least 2 (both ends of a segment), got {args.steps}")
    if args.frame_ms <= 0:
        raise GanTfError(f"--frame-ms must be positive, got {args.frame_ms}")
    kind = os.path.splitext(args.out)[1].lower()
    if kind not in FORMATS:
        raise GanTfError(f"--out {args.out}: expected a .png (grid) or .gif (animation) file")
    config = workdir.load_config(args.workdir)
    labels = seed_labels(args, seeds, config.data.num_classes)

    generator, _, step = workdir.load_generator(args.workdir)
    z = sampling.latents_for_seeds(seeds, generator.latent_dim).numpy()
    c = condition(labels, generator.num_classes, len(seeds)).numpy()  # [k, 0] if unconditional
    z_path = latent.path(z, args.steps, args.method)
    c_path = latent.path(c, args.steps, "linear")  # a mixture of classes: a convex combination
    count = (len(seeds) - 1) * args.steps
    frames = render(generator, z_path.reshape(count, z.shape[1]), c_path.reshape(count, c.shape[1]))
    frames = frames.reshape(len(seeds) - 1, args.steps, *frames.shape[1:])
    if kind == ".png":
        images.write_png(
            args.out, images.make_grid(frames.reshape(-1, *frames.shape[2:]), args.steps)
        )
        shown = f"{len(seeds) - 1} x {args.steps} grid"
    else:
        # Each segment after the first starts where the previous one ended: show that once.
        sequence = np.concatenate([frames[0], *(segment[1:] for segment in frames[1:])])
        images.write_gif(args.out, sequence, args.frame_ms)
        shown = f"{len(sequence)} frames"
    print(
        f"wrote the {args.method} path through seeds {seeds} (step {step}): {shown} to {args.out}"
    )
    return 0


def seed_labels(args: argparse.Namespace, seeds: list[int], num_classes: int) -> list[int] | None:
    """The class at each seed: `--label`, `--labels`, or `seed % num_classes` by default
    (None for an unconditional model).

    Raises:
      GanTfError: for both options at once, a count that is not one per seed, labels outside
        the model's classes, or any label for an unconditional model.
    """
    from gan_tf import sampling
    from gan_tf.errors import GanTfError

    if args.label is not None and args.labels:
        raise GanTfError("give --label (one class for all seeds) or --labels, not both")
    if args.labels:
        labels = parse_ints(args.labels, "--labels")
        if len(labels) != len(seeds):
            raise GanTfError(
                f"--labels has {len(labels)} entries for {len(seeds)} seeds: give one per seed"
            )
        check_labels(labels, num_classes, "--labels entry")
        return labels
    if args.label is not None:
        check_labels([args.label], num_classes, "--label")
        return [args.label] * len(seeds)
    labels = sampling.labels_for_seeds(seeds, num_classes)
    return None if labels is None else labels.tolist()


def render(generator, z, c):
    """uint8 images of the generator at latents `z` `[n, d]` and conditions `c` `[n, K]`."""
    import numpy as np
    import tensorflow as tf

    from gan_tf.metrics import sources

    out = []
    for start in range(0, len(z), BATCH):
        inputs = (
            tf.constant(z[start : start + BATCH], tf.float32),
            tf.constant(c[start : start + BATCH], tf.float32),
        )
        x = generator(inputs, training=False)
        out.append(sources.finite_to_uint8(x, "interpolation"))
    return np.concatenate(out)
