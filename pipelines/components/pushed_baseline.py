"""`LatestPushedModelStrategy`: the gate's baseline is the last model pushed, never the candidate.

TFX's `LatestBlessedModelStrategy` returns the newest blessed model. After a run is killed
between the gate (which blessed the candidate) and the Pusher, the rerun's Trainer is cached,
so the newest blessed model *is* the candidate and the gate would compare it with itself: every
margin passes. A cached rerun after a successful push has the same flaw.

This strategy resolves, from ML Metadata, the newest `PushedModel` with `pushed == 1`, follows
its lineage to the `Model` and `ModelBlessing` the Pusher consumed, and skips any push of the
candidate itself. So the baseline is what the pipeline last put into serving, other than the
model being judged; with no such push, the gate checks thresholds only.

Inputs (channels of the Resolver):
  candidate: the Trainer's model of this run.
  model, model_blessing, pushed_model: every `Model`, `ModelBlessing` and `PushedModel` of
    the pipeline.

Outputs: `model` and `model_blessing`, each empty or one artifact.

`baseline_resolver` builds the Resolver node that `create_pipeline` wires into the gate.
"""

from __future__ import annotations

import ml_metadata as mlmd
from ml_metadata.proto import metadata_store_pb2
from tfx import types
from tfx import v1 as tfx
from tfx.dsl.components.common import resolver

CANDIDATE = "candidate"
MODEL = "model"
MODEL_BLESSING = "model_blessing"
PUSHED_MODEL = "pushed_model"


def _pusher_inputs(store: mlmd.MetadataStore, pushed_model_id: int) -> dict[str, int]:
    """Input key -> artifact id of the execution that produced a PushedModel."""
    producers = [
        e.execution_id
        for e in store.get_events_by_artifact_ids([pushed_model_id])
        if e.type == metadata_store_pb2.Event.OUTPUT
    ]
    inputs: dict[str, int] = {}
    for event in store.get_events_by_execution_ids(producers[:1]):
        if event.type == metadata_store_pb2.Event.INPUT and event.path.steps:
            inputs[event.path.steps[0].key] = event.artifact_id
    return inputs


def latest_pushed(
    store: mlmd.MetadataStore,
    input_dict: dict[str, list[types.Artifact]],
) -> dict[str, list[types.Artifact]]:
    """The newest pushed model that is not the candidate, and its blessing (see module doc)."""
    candidates = {a.id for a in input_dict[CANDIDATE]}
    models = {a.id: a for a in input_dict[MODEL]}
    blessings = {a.id: a for a in input_dict[MODEL_BLESSING]}
    pushes = [a for a in input_dict[PUSHED_MODEL] if a.get_int_custom_property("pushed") == 1]
    for push in sorted(pushes, key=lambda a: a.id, reverse=True):
        inputs = _pusher_inputs(store, push.id)
        model = models.get(inputs.get(MODEL, -1))
        if model is None or model.id in candidates:
            continue
        blessing = blessings.get(inputs.get(MODEL_BLESSING, -1))
        return {MODEL: [model], MODEL_BLESSING: [blessing] if blessing is not None else []}
    return {MODEL: [], MODEL_BLESSING: []}


class LatestPushedModelStrategy(resolver.ResolverStrategy):
    """Resolves the newest pushed Model other than the candidate, and its ModelBlessing."""

    def resolve_artifacts(
        self,
        store: mlmd.MetadataStore,
        input_dict: dict[str, list[types.Artifact]],
    ) -> dict[str, list[types.Artifact]]:
        return {**input_dict, **latest_pushed(store, input_dict)}


def baseline_resolver(baseline: str, candidate: tfx.dsl.Channel) -> tfx.dsl.Resolver:
    """The Resolver node giving the gate its baseline `model` and `model_blessing`.

    Args:
      baseline: `pushed` (`LatestPushedModelStrategy`) or `blessed` (TFX's
        `LatestBlessedModelStrategy`, for orchestrators that compile only the stock
        resolvers, such as Kubeflow V2).
      candidate: the Trainer's model channel (never the "pushed" baseline).
    """
    standard = tfx.types.standard_artifacts
    channels = {
        MODEL: tfx.dsl.Channel(type=standard.Model),
        MODEL_BLESSING: tfx.dsl.Channel(type=standard.ModelBlessing),
    }
    if baseline == "pushed":
        strategy = LatestPushedModelStrategy
        channels[CANDIDATE] = candidate
        channels[PUSHED_MODEL] = tfx.dsl.Channel(type=standard.PushedModel)
    elif baseline == "blessed":
        strategy = tfx.dsl.experimental.LatestBlessedModelStrategy
    else:
        raise ValueError(f"baseline must be 'pushed' or 'blessed', got {baseline!r}")
    return tfx.dsl.Resolver(strategy_class=strategy, **channels).with_id("baseline_resolver")
