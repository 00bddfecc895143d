"""Runs the pipeline on this machine: LocalDagRunner, sqlite ML Metadata, Beam DirectRunner.

Layout under the root directory:

    <root>/data/<dataset>/     TFRecords written from TFDS (the default ingestion route)
    <root>/pipeline/           component outputs (the pipeline root)
    <root>/pipeline/metadata.sqlite   ML Metadata store (every run, artifact and blessing)
    <root>/serving/<model>/    pushed versions, `<version>/saved_model.pb`
    <root>/.lock               held by the run using the root (one at a time)

Usage: `gan-tf pipeline run --preset NAME --root DIR` (see `gan_tf.commands.pipeline`), or
`python -m pipelines.local_runner --root DIR` for the default preset.
"""

from __future__ import annotations

import dataclasses
import os
import sys
import time
from collections.abc import Sequence

from gan_tf import files
from pipelines import beam, gate, presets, results

MODULE_FILE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "trainer_module.py")


@dataclasses.dataclass(frozen=True)
class LocalRun:
    """Everything a local pipeline run needs.

    Attributes:
      root: directory holding data, pipeline outputs, metadata and the serving root.
      preset: gan_tf preset trained by the Trainer.
      overrides: `section.field=value` overrides of the preset.
      data_root: TFRecords to ingest; empty means write `tfds` to `<root>/data/<tfds>`.
      tfds: TFDS dataset of the default route (the offline `mnist`).
      tfds_limit: examples per split written from TFDS (0 = all).
      serving_root: where versions are pushed (default `<root>/serving`).
      model_name: model name under the serving root.
      pipeline_name: name in ML Metadata.
      gate: sample-quality gate settings (default: the preset's, see `pipelines.presets`).
      beam_runner: `direct`, `dataflow`, `flink` or `spark`.
      beam_workers: DirectRunner processes.
      beam_options: runner options (`key=value`).
      enable_cache: reuse unchanged components' outputs.
      module_file: the Trainer's module file (default: `pipelines/trainer_module.py`, which
        trains `preset` with `gan_tf.train.train`); another file brings its own `run_fn`.
    """

    root: str
    preset: str = "dcgan_mnist"
    overrides: tuple[str, ...] = ()
    data_root: str = ""
    tfds: str = "mnist"
    tfds_limit: int = 0
    serving_root: str = ""
    model_name: str = "gan"
    pipeline_name: str = "gan-tf"
    gate: gate.GateSettings | None = None
    beam_runner: str = "direct"
    beam_workers: int = 2
    beam_options: tuple[str, ...] = ()
    enable_cache: bool = True
    module_file: str = ""

    @property
    def pipeline_root(self) -> str:
        return os.path.join(self.root, "pipeline")

    @property
    def metadata_path(self) -> str:
        return os.path.join(self.pipeline_root, "metadata.sqlite")

    @property
    def serving_base(self) -> str:
        return os.path.join(self.serving_root or os.path.join(self.root, "serving"))


def metadata_config(path: str):
    """A sqlite ML Metadata connection config for `path`."""
    from tfx import v1 as tfx

    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    return tfx.orchestration.metadata.sqlite_metadata_connection_config(path)


def parse_options(pairs: Sequence[str]) -> dict[str, str]:
    """`key=value` strings -> dict (for `--beam-option`)."""
    from gan_tf.errors import ConfigError

    out = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise ConfigError(f"Beam option {pair!r} is not of the form key=value")
        out[key.lstrip("-")] = value
    return out


def prepare_data(run: LocalRun) -> str:
    """The data root: `run.data_root`, or TFRecords written from TFDS under the root.

    A one-domain run writes `run.tfds`. A two-domain run (CycleGAN) writes its preset's
    own datasets, `data.name` as `train`/`eval` and `data_b.name` as `train_b`/`eval_b`,
    each `eval` split from the dataset's `test` split (its `train` split if it has no other,
    as the scikit-learn digits).
    """
    if run.data_root:
        return os.path.abspath(run.data_root)
    from gan_tf import presets as gan_presets
    from pipelines import tfds_data
    from pipelines.pipeline import domain_splits

    suffix = f"-{run.tfds_limit}" if run.tfds_limit else ""
    config = gan_presets.get(run.preset).override(list(run.overrides))
    sections = domain_splits(config)
    if len(sections) == 1:
        out = os.path.join(run.root, "data", f"{run.tfds}{suffix}")
        return tfds_data.write_tfds(run.tfds, out, limit=run.tfds_limit)
    sources = {}
    for section, (train, eval_split) in sections.items():
        name = getattr(config, section).name
        sources[train] = (name, "train")
        sources[eval_split] = (name, tfds_data.default_split(name, "test"))
    names = "+".join(getattr(config, s).name for s in sections)
    out = os.path.join(run.root, "data", f"{names}{suffix}")
    return tfds_data.write_splits(sources, out, limit=run.tfds_limit)


def build(run: LocalRun, data_root: str):
    """The pipeline of a local run (not yet run)."""
    from pipelines.pipeline import create_pipeline

    settings = run.gate or presets.gate_settings(run.preset)
    return create_pipeline(
        pipeline_name=run.pipeline_name,
        pipeline_root=os.path.abspath(run.pipeline_root),
        data_root=data_root,
        module_file=os.path.abspath(run.module_file) if run.module_file else MODULE_FILE,
        serving_root=os.path.abspath(run.serving_base),
        preset=run.preset,
        overrides=run.overrides,
        gate=settings,
        model_name=run.model_name,
        beam_pipeline_args=beam.beam_args(
            run.beam_runner, run.beam_workers, parse_options(run.beam_options)
        ),
        metadata_connection_config=metadata_config(os.path.abspath(run.metadata_path)),
        enable_cache=run.enable_cache,
    )


def run_pipeline(run: LocalRun) -> results.RunSummary:
    """Prepares the data, runs the pipeline with LocalDagRunner and summarises the run.

    The run holds the lock of `run.root` throughout, so a second run on the same root fails
    at once instead of interleaving data, ML Metadata and pushes with this one. Temporary
    files go to `<root>/.tmp`, deleted when the run ends (`files.private_tempdir`).

    Raises:
      LockedError: another process is running a pipeline on `run.root`.
      GanTfError: for bad settings or data (e.g. ExampleValidator found anomalies).
    """
    with files.DirLock(run.root, "pipeline root"):
        with files.private_tempdir(os.path.join(run.root, ".tmp")):
            return _run_locked(run)


def _run_locked(run: LocalRun) -> results.RunSummary:
    from tfx import v1 as tfx

    start = time.time()
    data_root = prepare_data(run)
    pipeline = build(run, data_root)
    tfx.orchestration.LocalDagRunner().run(pipeline)
    return results.summarize(
        os.path.abspath(run.metadata_path),
        run.pipeline_name,
        since=start,
        serving_base=os.path.join(os.path.abspath(run.serving_base), run.model_name),
        model_name=run.model_name,
        seconds=time.time() - start,
    )


def main(argv: Sequence[str] | None = None) -> int:
    """`python -m pipelines.local_runner [gan-tf pipeline run options]`."""
    from gan_tf import cli

    return cli.main(["pipeline", "run", *(sys.argv[1:] if argv is None else argv)])


if __name__ == "__main__":
    sys.exit(main())
