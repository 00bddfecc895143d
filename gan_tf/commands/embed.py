"""`gan-tf embed`: (re)write TensorBoard's embedding projector of a trained run's samples."""

from __future__ import annotations

import argparse


def add_parser(subparsers) -> None:
    p = subparsers.add_parser(
        "embed",
        help="write TensorBoard's embedding projector of generated samples' latents",
        description=(
            "Write the embedding projector of the latest checkpoint in --workdir into its "
            "TensorBoard directory, as training does at its end: the latents z of seeds "
            "0..N-1, labelled with the class a conditional generator was asked for and the "
            "domain classifier's class and confidence, with a sprite of the images. Open it "
            "with: tensorboard --logdir WORKDIR (Projector tab)."
        ),
    )
    p.add_argument("--workdir", required=True, help="training workdir")
    p.add_argument(
        "--num", type=int, help="points (default: the run's train.embed_samples, or 1000)"
    )
    p.add_argument(
        "--labels",
        choices=("auto", "domain", "none"),
        help="class labels: the domain classifier's (domain), none, or domain for MNIST-like "
        "data (auto); default: the run's train.embed_labels",
    )


def run(args: argparse.Namespace) -> int:
    import dataclasses
    import os

    from gan_tf import embedding_projector, families, workdir
    from gan_tf.errors import GanTfError

    config = workdir.load_config(args.workdir)
    t = config.train
    num = args.num if args.num is not None else (t.embed_samples or 1000)
    if num <= 0:
        raise GanTfError(f"--num must be positive, got {num}")
    train = dataclasses.replace(t, embed_samples=num, embed_labels=args.labels or t.embed_labels)
    config = config.replace(train=train)
    embedding_projector.validate(config, "--num")
    family = families.for_config(config)
    inference, step = family.load(args.workdir)
    logdir = os.path.join(args.workdir, "tensorboard")
    assets = embedding_projector.write_projector(family, inference, logdir, step)
    if assets is None:
        raise GanTfError(f"{args.workdir} holds a {family.name!r} model, which does not generate")
    print(f"wrote the embedding projector of {num} samples (step {step}) to {assets}")
    return 0
