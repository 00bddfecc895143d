"""One worker of a multi-worker test run: trains through `gan_tf.train.train`, saves weights.

TF_CONFIG=... python mwms_worker.py WORKDIR OUT.npz [KEY=VALUE ...]
"""

from __future__ import annotations

import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402

from gan_tf import presets, train  # noqa: E402


def main() -> None:
    workdir, out, *overrides = sys.argv[1:]
    result = train.train(presets.smoke().override(overrides), workdir, verbose=0)
    gan = result.model
    names = ("generator", "discriminator", "ema_generator")
    arrays = {
        f"{name}/{i}": v.numpy()
        for name in names
        for i, v in enumerate(getattr(gan, name).variables)
    }
    np.savez(out, step=result.step, **arrays)


if __name__ == "__main__":
    main()
