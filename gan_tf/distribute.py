"""Distribution strategies by name, and what differs between them: batch split, chief, data.

| name         | what it is                                                           |
|--------------|----------------------------------------------------------------------|
| default      | no distribution: the current device                                  |
| one_device   | one device, the first GPU if any, else the CPU                       |
| mirrored     | synchronous data parallelism over the local GPUs (or logical CPUs)   |
| multi_worker | MultiWorkerMirroredStrategy over the workers named in `TF_CONFIG`    |
| tpu          | TPUStrategy over the TPU named by `TPU_NAME` (or the local TPU VM)   |

The configured batch size is always the global one; each replica gets
`batch_size / num_replicas_in_sync` examples. The train step itself is the same for all.
"""

from __future__ import annotations

import json
import os

import tensorflow as tf

from gan_tf.errors import ConfigError

STRATEGIES = ("default", "one_device", "mirrored", "multi_worker", "tpu")


def get_strategy(name: str) -> tf.distribute.Strategy:
    """Returns the strategy called `name`, created once per process.

    Strategies are cached: two collective strategies over the same devices in one process
    would share collective instance keys and abort each other's all-reduces.

    Raises:
      ConfigError: for an unknown name, or `multi_worker` without a valid `TF_CONFIG`.
    """
    if name == "default":
        return tf.distribute.get_strategy()
    if name not in STRATEGIES:
        raise ConfigError(
            f"unknown strategy {name!r} (train.strategy); expected one of {STRATEGIES}"
        )
    if name not in _CACHE:
        _CACHE[name] = _create(name)
    return _CACHE[name]


_CACHE: dict[str, tf.distribute.Strategy] = {}


def _create(name: str) -> tf.distribute.Strategy:
    if name == "one_device":
        device = "/gpu:0" if tf.config.list_logical_devices("GPU") else "/cpu:0"
        return tf.distribute.OneDeviceStrategy(device)
    if name == "mirrored":
        gpus = tf.config.list_logical_devices("GPU")
        if gpus:
            return tf.distribute.MirroredStrategy([d.name for d in gpus])
        # Replicas on CPUs share one host memory: summing on one device in the step's own
        # graph beats collective ops, whose every call is a handoff to the collective
        # executor (measured in bench/train_throughput.py).
        return tf.distribute.MirroredStrategy(
            [d.name for d in tf.config.list_logical_devices("CPU")],
            cross_device_ops=tf.distribute.ReductionToOneDevice(),
        )
    if name == "multi_worker":
        _check_tf_config()
        return tf.distribute.MultiWorkerMirroredStrategy()
    # tpu: code path only, there is no TPU on the development machines.
    resolver = tf.distribute.cluster_resolver.TPUClusterResolver(os.environ.get("TPU_NAME", ""))
    tf.config.experimental_connect_to_cluster(resolver)
    tf.tpu.experimental.initialize_tpu_system(resolver)
    return tf.distribute.TPUStrategy(resolver)


def _check_tf_config() -> None:
    raw = os.environ.get("TF_CONFIG")
    if not raw:
        raise ConfigError(
            "strategy multi_worker needs TF_CONFIG, e.g. "
            '{"cluster": {"worker": ["host1:12345", "host2:12345"]}, '
            '"task": {"type": "worker", "index": 0}}'
        )
    try:
        spec = json.loads(raw)
        spec["cluster"]["worker"]
        spec["task"]["type"], spec["task"]["index"]
    except (ValueError, KeyError, TypeError) as e:
        raise ConfigError(f"TF_CONFIG is not a valid cluster spec ({e!r}): {raw}") from None


def is_tpu(strategy: tf.distribute.Strategy) -> bool:
    return isinstance(strategy, tf.distribute.TPUStrategy)


def is_multi_worker(strategy: tf.distribute.Strategy) -> bool:
    return isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy)


def is_chief(strategy: tf.distribute.Strategy) -> bool:
    """Whether this process writes shared outputs (config, checkpoints, logs, exports)."""
    resolver = getattr(strategy, "cluster_resolver", None)
    if not is_multi_worker(strategy) or resolver is None:
        return True
    task_type, task_id = resolver.task_type, resolver.task_id
    if task_type in (None, "chief"):
        return True
    has_chief = "chief" in resolver.cluster_spec().as_dict()
    return task_type == "worker" and task_id == 0 and not has_chief


def task_suffix(strategy: tf.distribute.Strategy) -> str:
    """`""` on the chief, else a name for this worker's private scratch directory."""
    if is_chief(strategy):
        return ""
    resolver = strategy.cluster_resolver
    return f"{resolver.task_type}-{resolver.task_id}"


def check_batch_size(global_batch: int, strategy: tf.distribute.Strategy) -> int:
    """Returns the per-replica batch size; the global one must split evenly.

    Raises:
      ConfigError: if it does not.
    """
    replicas = strategy.num_replicas_in_sync
    if global_batch % replicas:
        raise ConfigError(
            f"train.batch_size={global_batch} does not split evenly over {replicas} replicas"
        )
    return global_batch // replicas


def mixed_precision_policy(strategy: tf.distribute.Strategy) -> str:
    """The Keras mixed-precision policy for the hardware: bfloat16 on TPU, float16 elsewhere."""
    return "mixed_bfloat16" if is_tpu(strategy) else "mixed_float16"
