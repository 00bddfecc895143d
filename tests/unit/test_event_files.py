"""The event-file reader the tests judge TensorBoard logs with."""

from __future__ import annotations

import tensorflow as tf
from event_files import read_values


def _write(path, wall_time: float, step: int, value: float) -> None:
    event = tf.compat.v1.Event(wall_time=wall_time, step=step)
    event.summary.value.add(tag="gate/blessed", simple_value=value)
    with tf.io.TFRecordWriter(str(path)) as writer:
        writer.write(event.SerializeToString())


def test_events_come_back_in_the_order_they_were_written(tmp_path):
    # Two writers of one process in one second: the 10th writer's file sorts before the 9th's.
    _write(tmp_path / "events.out.tfevents.1796107506.vm.23702.9.v2", 1796107506.1, 80, 1.0)
    _write(tmp_path / "events.out.tfevents.1796107506.vm.23702.10.v2", 1796107506.7, 80, 0.0)
    _write(tmp_path / "events.out.tfevents.1796107561.vm.23702.11.v2", 1796107561.9, 80, 0.0)
    # A record file of another name is not read, even one holding an event.
    _write(tmp_path / "other.tfrecord", 1796107506.5, 80, 5.0)
    values = read_values(str(tmp_path))["gate/blessed"]
    assert [(step, value.simple_value) for step, value in values] == [
        (80, 1.0),
        (80, 0.0),
        (80, 0.0),
    ]
