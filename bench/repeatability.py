"""Does a preset's training step repeat bit for bit? Builds the preset's model twice in one
process (two compilations of the same step), trains each from the same seed on the same
fixed batch of uniform noise images, and lists the variables that differ afterwards.

    python bench/repeatability.py --preset stylegan_mnist --steps 1 --set loss.r1_every=1 \\
        --set train.d_lr=0 --set train.g_lr=0      # rates 0: Adam's moments hold the gradients
    python bench/repeatability.py --preset stylegan_mnist ... --no-grappler
    python bench/repeatability.py --preset dcgan_mnist --steps 40

The differences it finds are intermittent (they depend on how each compilation is
optimised), so `--pairs N` repeats the comparison N times and prints a count per pair.
"""

from __future__ import annotations

import argparse
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def trained_values(preset: str, overrides: list[str], steps: int, batch: int) -> list:
    """`(name, value)` of every model and optimiser variable after `steps` steps."""
    import tensorflow as tf

    from gan_tf import families, presets

    config = presets.get(preset).override([f"train.batch_size={batch}", *overrides])
    model = families.for_config(config).build()
    shape = [batch, config.data.image_size, config.data.image_size, config.data.channels]
    images = tf.random.stateless_uniform(shape, seed=[1, 2], minval=-1, maxval=1)
    model.fit(tf.data.Dataset.from_tensors(images).repeat(), steps_per_epoch=steps, verbose=0)
    variables = model.variables + model.d_optimizer.variables + model.g_optimizer.variables
    return [(v.path, v.numpy().copy()) for v in variables]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--preset", default="stylegan_mnist")
    parser.add_argument("--steps", type=int, default=1)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--set", action="append", default=[], help="config override")
    parser.add_argument("--pairs", type=int, default=1, help="comparisons to make")
    parser.add_argument(
        "--no-grappler", action="store_true", help="turn Grappler's graph optimiser off"
    )
    args = parser.parse_args()
    import numpy as np
    import tensorflow as tf

    if args.no_grappler:
        tf.config.optimizer.set_experimental_options({"disable_meta_optimizer": True})
    for pair in range(args.pairs):
        a, b = (trained_values(args.preset, args.set, args.steps, args.batch_size) for _ in "ab")
        differing = [
            (name, float(np.max(np.abs(x - y))))
            for (name, x), (_, y) in zip(a, b)
            if x.dtype.kind == "f" and not np.array_equal(x, y)
        ]
        print(f"pair {pair}: {len(differing)} of {len(a)} variables differ")
        for name, gap in differing:
            print(f"  {name}  max |difference| {gap:.3g}")


if __name__ == "__main__":
    main()
