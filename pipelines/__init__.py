"""The gan_tf TFX pipeline: `pipeline.create_pipeline` and one runner per orchestrator.

* `pipeline.py`: `create_pipeline(...)`, nothing else;
* `components/`: the image-aware ExampleValidator, the sample-quality gate and the resolver
  of its baseline (the last pushed model), the atomic Pusher;
* `trainer_module.py`: the Trainer's thin `run_fn` around `gan_tf.train.train`;
* `gate.py`, `presets.py`: the gate's rule, report and per-preset settings;
* `tfds_data.py`: the TFDS route (TFDS dataset -> TFRecords for ImportExampleGen);
* `beam.py`: Beam options (DirectRunner, Dataflow, Flink, Spark);
* `local_runner.py`, `kubeflow_v2_runner.py`: the runners; `results.py` reads a run back.
"""
