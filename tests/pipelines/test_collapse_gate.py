"""The default gate refuses mode collapse.

End to end: the real pipeline (ExampleGen ... SampleQualityGate, Pusher, on a real ML Metadata
store) with the default gate of the `make run` model, whose Trainer module exports a generator
that draws a single real digit with small noise (`tests/fixtures/collapsed`). It must not be
blessed, and nothing may be pushed.

On the gate alone: real held-out digits, 30% of them ones (3x their share), pass every KID bound
of the default gate; class coverage is what refuses them.
"""

from __future__ import annotations

import dataclasses
import os
import shutil

import numpy as np
import pytest
from mnist_splits import write_splits

from gan_tf.data import mnist
from pipelines import gate, local_runner, presets, results

FIXTURE = os.path.join(os.path.dirname(__file__), "..", "fixtures", "collapsed")
MODULE = "collapsed_trainer_module.py"
COVERAGE_RULES = {"classes_covered_domain >= 10", "class_kl_domain <= 0.05"}


@pytest.fixture(scope="module")
def arrays():
    return mnist.load_arrays()


@pytest.mark.slow
def test_pipeline_refuses_and_does_not_push_a_collapsed_generator(tmp_path):
    from ml_metadata.proto import metadata_store_pb2

    settings = presets.gate_settings("dcgan_mnist")
    assert settings == presets.DEFAULT
    need = max(settings.num_samples.values())
    data = tmp_path / "data"
    write_splits(data, 256, need)
    module_dir = tmp_path / "module"
    module_dir.mkdir()
    shutil.copy(os.path.join(FIXTURE, MODULE), module_dir / MODULE)
    run = local_runner.LocalRun(
        root=str(tmp_path / "root"),
        preset="dcgan_mnist",
        data_root=str(data),
        pipeline_name="gan-tf-collapse",
        module_file=str(module_dir / MODULE),
    )
    summary = local_runner.run_pipeline(run)

    assert summary.blessed is False
    scores = summary.report["scores"]
    assert scores["classes_covered_domain"] == 1
    failed = {c["rule"] for c in summary.report["checks"] if not c["passed"]}
    assert COVERAGE_RULES <= failed, failed
    # nothing was pushed: no version directory, and the Pusher recorded no push
    assert summary.pushed_path is None
    serving = os.path.join(run.serving_base, run.model_name)
    assert not os.path.isdir(serving) or not [
        v for v in os.listdir(serving) if v.isdigit()
    ], os.listdir(serving)
    store = results.open_store(run.metadata_path)
    pushed = store.get_artifacts_by_type("PushedModel")
    assert all(a.custom_properties["pushed"].int_value == 0 for a in pushed), pushed
    context = store.get_context_by_type_and_name("node", "gan-tf-collapse.Pusher")
    states = [e.last_known_state for e in store.get_executions_by_context(context.id)]
    assert states == [metadata_store_pb2.Execution.COMPLETE]


def _mostly_one_class(pool_x, pool_y, n: int, share: float, digit: int, seed: int = 0):
    """`n` real images: a `share` of them of class `digit`, the rest drawn from the pool."""
    rng = np.random.default_rng(seed)
    ones = rng.choice(np.flatnonzero(pool_y == digit), int(n * share), replace=False)
    rest = rng.choice(np.flatnonzero(pool_y != digit), n - len(ones), replace=False)
    return pool_x[rng.permutation(np.concatenate([ones, rest]))][..., None]


def _domain_gate() -> gate.GateSettings:
    """The default gate's domain-classifier rules (its Inception KID is left to the e2e)."""
    d = presets.DEFAULT
    return dataclasses.replace(
        d,
        features=("domain",),
        metrics={"domain": d.metrics["domain"]},
        num_samples={"domain": d.num_samples["domain"]},
        thresholds={k: v for k, v in d.thresholds.items() if k.endswith("_domain")},
        margins={k: v for k, v in d.margins.items() if k.endswith("_domain")},
    )


@pytest.mark.parametrize("share, refused", [(0.1, False), (0.3, True)])
def test_default_gate_refuses_real_digits_drawn_mostly_from_one_class(arrays, share, refused):
    settings = _domain_gate()
    n = settings.num_samples["domain"]
    (xt, yt) = arrays["test"]
    reference = xt[:n][..., None]
    pool_x, pool_y = xt[n:], yt[n:]
    candidate = _mostly_one_class(pool_x, pool_y, n, share, digit=1)
    result = gate.score(lambda seeds: candidate[seeds], lambda: [reference], settings)
    blessed, checks = gate.decide(result["scores"], settings, baseline=None)
    failed = {c["rule"] for c in checks if not c["passed"]}
    # KID and FID pass either way: the images are real digits
    assert not {r for r in failed if r.startswith(("kid", "fid"))}, result["scores"]
    assert blessed is not refused
    assert ("class_kl_domain <= 0.05" in failed) is refused, result["scores"]
