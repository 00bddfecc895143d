"""The Kubeflow V2 / Vertex AI spec: compiled (never submitted) from the same pipeline."""

from __future__ import annotations

import json

from gan_tf import cli
from pipelines import pipeline


def compile_spec(tmp_path, preset: str) -> tuple[int, dict]:
    out = tmp_path / "spec.json"
    status = cli.main(
        [
            "pipeline",
            "compile",
            "--target",
            "kubeflow_v2",
            "--preset",
            preset,
            "--out",
            str(out),
            "--pipeline-root",
            "gs://bucket/gan_tf",
            "--data-root",
            "gs://bucket/data/mnist",
            "--serving-root",
            "gs://bucket/serving",
            "--image",
            "gcr.io/project/gan-tf:test",
        ]
    )
    return status, json.loads(out.read_text()) if status == 0 else {}


def test_compiled_spec_is_json_naming_every_component(tmp_path, capsys):
    status, spec = compile_spec(tmp_path, "smoke")
    assert status == 0
    assert str(tmp_path / "spec.json") in capsys.readouterr().out
    tasks = spec["pipelineSpec"]["root"]["dag"]["tasks"]
    for component in pipeline.COMPONENT_IDS:
        assert any(task.startswith(component) for task in tasks), component
    text = json.dumps(spec)
    assert "gcr.io/project/gan-tf:test" in text
    assert "pipelines.trainer_module.run_fn" in text
    assert spec["pipelineSpec"]["pipelineInfo"]["name"] == "gan-tf"


def test_a_two_domain_preset_compiles_with_its_domain_b_splits(tmp_path):
    """The remote data root is not there at compile time: the four split directories are
    taken on trust, the Trainer gets `train` and `train_b`, the gate's reference is
    `eval_b`."""
    status, spec = compile_spec(tmp_path, "cyclegan_digits")
    assert status == 0
    tasks = spec["pipelineSpec"]["root"]["dag"]["tasks"]

    def parameter(task: str, name: str) -> str:
        value = tasks[task]["inputs"]["parameters"][name]["runtimeValue"]["constantValue"]
        return value["stringValue"]

    splits = json.loads(parameter("ImportExampleGen", "input_config"))["splits"]
    assert [(s["name"], s["pattern"]) for s in splits] == [
        ("train", "train/*"),
        ("eval", "eval/*"),
        ("train_b", "train_b/*"),
        ("eval_b", "eval_b/*"),
    ]
    assert json.loads(parameter("Trainer", "train_args"))["splits"] == ["train", "train_b"]
    assert parameter("SampleQualityGate", "reference_split") == "eval_b"
    assert json.loads(parameter("SampleQualityGate", "settings_json"))["features"] == [
        "translation",
        "domain",
    ]
