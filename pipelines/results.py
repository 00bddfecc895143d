"""What a local run produced, read back from ML Metadata: blessing, scores, pushed version."""

from __future__ import annotations

import dataclasses
import os
from typing import Any

from pipelines import gate


@dataclasses.dataclass
class RunSummary:
    """The outcome of one pipeline run."""

    seconds: float
    blessed: bool | None
    report: dict[str, Any] | None
    pushed_path: str | None
    model_run: str | None
    serving_base: str
    model_name: str
    report_dir: str | None = None

    def text(self) -> str:
        """The lines `gan-tf pipeline run` prints at the end of a run."""
        lines = [f"pipeline finished in {self.seconds:.0f} s"]
        if self.report is not None:
            verdict = "BLESSED" if self.blessed else "NOT BLESSED"
            scores = ", ".join(f"{k}={v:.5g}" for k, v in sorted(self.report["scores"].items()))
            lines.append(f"{gate.title(self.report)}: {verdict} ({scores})")
            for check in self.report["checks"]:
                mark = "ok  " if check["passed"] else "FAIL"
                lines.append(f"  {mark} {check['rule']}  (value {check['value']:.5g})")
        if self.report_dir:
            report = shown(os.path.join(self.report_dir, gate.REPORT_MD))
            shows = gate.presentation(self.report or {}).shows
            lines.append(f"gate report: {report} (+ {gate.REPORT_GRID}, {shows})")
        if self.pushed_path:
            lines.append(f"pushed model: {shown(self.pushed_path)}")
        else:
            lines.append(f"no model pushed; the serving root {self.serving_base} is unchanged")
        if self.model_run:
            lines.append(f"TensorBoard: tensorboard --logdir {shown(self.model_run)}/tensorboard")
        base = os.path.abspath(self.serving_base)
        lines += [
            "serve (TF Serving):  tensorflow_model_server --rest_api_port=8501 "
            f"--model_name={self.model_name} --model_base_path={base}",
            f"serve (no TF Serving binary here): gan-tf serve --model-base-path {base} "
            f"--model-name {self.model_name}",
            self._query_hint(),
        ]
        return "\n".join(lines)

    def _query_hint(self) -> str:
        query = gate.presentation(self.report or {}).query
        return query.format(url="http://127.0.0.1:8501", model=self.model_name)


def shown(path: str) -> str:
    """`path` relative to the working directory when it lies below it (shorter to read)."""
    relative = os.path.relpath(path)
    return path if relative.startswith("..") else relative


def open_store(metadata_path: str):
    """A read-only ML Metadata store on a sqlite file (the runner may hold it open too)."""
    from ml_metadata.metadata_store import metadata_store
    from ml_metadata.proto import metadata_store_pb2

    config = metadata_store_pb2.ConnectionConfig()
    config.sqlite.filename_uri = metadata_path
    config.sqlite.connection_mode = metadata_store_pb2.SqliteMetadataSourceConfig.READONLY
    return metadata_store.MetadataStore(config)


def run_outputs(store, pipeline_name: str) -> dict[str, Any]:
    """The output artifacts of the pipeline's latest run, newest per type name.

    A cached component's execution in the run outputs the artifacts it reuses, so a cached
    gate reports the verdict that applies to this run, not the newest artifact of the type
    (which may come from a run of another configuration).
    """
    from ml_metadata.proto import metadata_store_pb2

    pipeline = store.get_context_by_type_and_name("pipeline", pipeline_name)
    runs = store.get_children_contexts_by_context(pipeline.id) if pipeline is not None else []
    if not runs:
        return {}
    run = max(runs, key=lambda c: c.id)
    executions = [e.id for e in store.get_executions_by_context(run.id)]
    ids = {
        e.artifact_id
        for e in store.get_events_by_execution_ids(executions)
        if e.type == metadata_store_pb2.Event.OUTPUT
    }
    type_names = {t.id: t.name for t in store.get_artifact_types()}
    newest: dict[str, Any] = {}
    for artifact in sorted(store.get_artifacts_by_id(list(ids)), key=lambda a: a.id):
        newest[type_names[artifact.type_id]] = artifact
    return newest


def summarize(
    metadata_path: str,
    pipeline_name: str,
    since: float,
    serving_base: str,
    model_name: str,
    seconds: float,
) -> RunSummary:
    """Reads the run's blessing, gate report, pushed model and model run from ML Metadata.

    The artifacts are the outputs of the pipeline's latest run (see `run_outputs`); a version
    counts as pushed only if the Pusher ran after `since` (a cached Pusher pushed nothing).
    """
    outputs = run_outputs(open_store(metadata_path), pipeline_name)
    report_artifact = outputs.get("gan_tf.SampleQualityReport")
    blessing, pushed = outputs.get("ModelBlessing"), outputs.get("PushedModel")
    model_run = outputs.get("ModelRun")
    report = gate.read_report(report_artifact.uri) if report_artifact is not None else None
    blessed = None
    if blessing is not None:
        blessed = bool(blessing.custom_properties["blessed"].int_value)
    pushed_path = None
    if (
        pushed is not None
        and pushed.custom_properties["pushed"].int_value == 1
        and pushed.create_time_since_epoch >= int(since * 1000)
    ):
        pushed_path = pushed.custom_properties["pushed_destination"].string_value
    return RunSummary(
        seconds=seconds,
        blessed=blessed,
        report=report,
        pushed_path=pushed_path,
        model_run=model_run.uri if model_run is not None else None,
        serving_base=serving_base,
        model_name=model_name,
        report_dir=report_artifact.uri if report_artifact is not None else None,
    )
